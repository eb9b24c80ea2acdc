package transcript

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// qmsumDir finds the QMSum Academic validation meetings at ../shared/data
// beside the module root.
func qmsumDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("skipping: no go.mod above the test directory, so no module root to find ../shared/data from")
		}
		dir = parent
	}
	data := filepath.Join(dir, "..", "shared", "data", "qmsum", "Academic", "val")
	if _, err := os.Stat(data); err != nil {
		t.Skipf("skipping: QMSum data not found at %s (expected <module root>/../shared/data/qmsum/Academic/val/*.json)", data)
	}
	return data
}

// TestQMSumMeetings writes each real meeting as "Speaker: text" lines and
// checks that detection says Turns and that parsing gives exactly the
// segments FromTurns makes from the JSON.
func TestQMSumMeetings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(qmsumDir(t), "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no meetings found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var m struct {
				Turns []Turn `json:"meeting_transcripts"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			if len(m.Turns) == 0 {
				t.Fatal("meeting has no turns")
			}
			var b strings.Builder
			for _, tu := range m.Turns {
				b.WriteString(tu.Speaker + ": " + tu.Text + "\n")
			}
			text := []byte(b.String())
			if got := Detect(filepath.Base(f)+".txt", text); got != Turns {
				t.Fatalf("Detect = %q, want turns", got)
			}
			tr, err := Parse(text, Auto)
			if err != nil {
				t.Fatal(err)
			}
			want := FromTurns(m.Turns).Segments
			if len(want) < 100 {
				t.Fatalf("only %d non-empty turns; is this a whole meeting?", len(want))
			}
			sameSegments(t, tr.Segments, want)

			// The whole QMSum file parses as JSON to the same segments.
			tj, err := Parse(raw, Auto)
			if err != nil {
				t.Fatal(err)
			}
			sameSegments(t, tj.Segments, want)
		})
	}
}
