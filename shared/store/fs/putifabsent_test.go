package fs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/storetest"
)

func TestPutIfAbsent(t *testing.T) {
	s, root := newStore(t)
	storetest.PutIfAbsent(t, s)
	// Nothing temporary is left behind by the refused creates.
	ents, err := os.ReadDir(filepath.Join(root, lecture.BucketModels, "m"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
