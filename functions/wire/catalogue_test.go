package wire

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transcept/transcept/shared/catalogue/sqlite"
	"github.com/transcept/transcept/shared/lecture"
)

func TestOpenCatalogue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, tc := range []struct {
		url, file string
	}{
		{"", filepath.Join(dir, "catalogue.db")},
		{"sqlite:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"sqlite://" + filepath.Join(dir, "b.db"), filepath.Join(dir, "b.db")},
		{filepath.Join(dir, "c.db"), filepath.Join(dir, "c.db")},
	} {
		c, err := OpenCatalogue(ctx, tc.url, dir)
		if err != nil {
			t.Fatalf("OpenCatalogue(%q): %v", tc.url, err)
		}
		if _, ok := c.(*sqlite.DB); !ok {
			t.Errorf("OpenCatalogue(%q) = %T, want *sqlite.DB", tc.url, c)
		}
		c.Close()
		if _, err := os.Stat(tc.file); err != nil {
			t.Errorf("OpenCatalogue(%q) made no %s: %v", tc.url, tc.file, err)
		}
	}
	for _, url := range []string{"mysql://u@h/db", "sqlite:"} {
		_, err := OpenCatalogue(ctx, url, dir)
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), "TRANSCEPT_DATABASE_URL") {
			t.Errorf("OpenCatalogue(%q) = %v, want EINVALID naming TRANSCEPT_DATABASE_URL", url, err)
		}
	}
	if _, err := OpenCatalogue(ctx, "", ""); err == nil || !strings.Contains(err.Error(), "TRANSCEPT_DATABASE_URL") {
		t.Errorf("OpenCatalogue without URL or store dir = %v", err)
	}
	// PostgreSQL on a closed port: refused quickly, naming the variable.
	_, err := OpenCatalogue(ctx, "postgresql://u@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", dir)
	if lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), "TRANSCEPT_DATABASE_URL") {
		t.Errorf("OpenCatalogue(postgres, closed port) = %v (%s), want EUNAVAILABLE", err, lecture.ErrorCode(err))
	}
}
