package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/catalogue/sqlite"
	"github.com/transcept/transcept/tests/testkit/catalogtest"
)

func open(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "catalogue.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestContract(t *testing.T) {
	catalogtest.Run(t, func(t *testing.T) catalogue.Catalogue { return open(t) })
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub dir #1", "cata?logue%20.db")
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	// The file at that exact path is the database (no URI surprises).
	if err := db.PutLecture(context.Background(), catalogue.Lecture{ID: "L1"}); err != nil {
		t.Fatal(err)
	}
	// WAL mode: the log beside the file, as private as the file.
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("no private WAL file beside the database: %v, %v", fi, err)
	}
	db.Close()
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("after a write, %s: %v, %v", path, fi, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "cata?logue%20.db") {
			t.Errorf("unexpected file %q beside the database", e.Name())
		}
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalogue.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.Migrations(ctx)
	if err != nil || len(first) == 0 || first[0] != 1 {
		t.Fatalf("Migrations after the first Open = %v, %v", first, err)
	}
	if err := db.PutLecture(ctx, catalogue.Lecture{ID: "L1", Title: "kept"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A second Open applies nothing and keeps the data.
	db, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	defer db.Close()
	again, err := db.Migrations(ctx)
	if err != nil || len(again) != len(first) {
		t.Errorf("Migrations after the second Open = %v, %v; want %v", again, err, first)
	}
	if l, err := db.GetLecture(ctx, "L1"); err != nil || l.Title != "kept" {
		t.Errorf("after reopening: %+v, %v", l, err)
	}
}

// TestFTS5 checks that the driver is built with FTS5 and the search uses it.
func TestFTS5(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	if err := db.PutLecture(ctx, catalogue.Lecture{ID: "L1", Title: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTranscript(ctx, "L1", "the mitochondria is the powerhouse of the cell"); err != nil {
		t.Fatal(err)
	}
	p, err := db.ListLectures(ctx, catalogue.ListQuery{Q: "powerhouse mitochondria"})
	if err != nil || len(p.Lectures) != 1 {
		t.Fatalf("FTS5 search = %+v, %v", p, err)
	}
}

// TestConcurrentOpen: two catalogues on one file (two replicas, or the CLI
// beside the server) write without SQLITE_BUSY and count together.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalogue.db")
	a, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	w := catalogue.Window(catalogue.CounterQA, catalogue.Window(catalogue.CounterQA, timeZero()))
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		db := a
		if i%2 == 1 {
			db = b
		}
		go func() {
			_, err := db.AddUsage(ctx, "u1", catalogue.CounterQA, w, 1, 0)
			errs <- err
		}()
	}
	for i := 0; i < 40; i++ {
		if err := <-errs; err != nil {
			t.Errorf("AddUsage: %v", err)
		}
	}
	us, err := b.UsageSince(ctx, "u1", w)
	if err != nil || len(us) != 1 || us[0].Value != 40 {
		t.Errorf("usage = %+v, %v; want 40", us, err)
	}
}

func BenchmarkListLectures(b *testing.B) { catalogtest.BenchmarkList(b, open(b)) }

func BenchmarkSearch(b *testing.B) { catalogtest.BenchmarkSearch(b, open(b)) }

func timeZero() (t time.Time) { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// TestOpenConcurrently: processes starting together on a new file (the
// functions of `make run`, each opening the shared catalogue) all open it:
// switching the file to WAL and migrating it while another process is doing
// the same waits for it instead of failing with SQLITE_BUSY.
func TestOpenConcurrently(t *testing.T) {
	if path := os.Getenv("TRANSCEPT_SQLITE_OPEN_CHILD"); path != "" {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		db.Close()
		os.Exit(0)
	}
	for round := range 6 {
		path := filepath.Join(t.TempDir(), "catalogue.db")
		const n = 8
		cmds := make([]*exec.Cmd, n)
		outs := make([]*bytes.Buffer, n)
		for i := range cmds {
			cmds[i] = exec.Command(os.Args[0], "-test.run", "^TestOpenConcurrently$")
			cmds[i].Env = append(os.Environ(), "TRANSCEPT_SQLITE_OPEN_CHILD="+path)
			outs[i] = &bytes.Buffer{}
			cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		}
		for _, c := range cmds {
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Errorf("round %d, process %d: %v: %s", round, i, err, outs[i])
			}
		}
	}
}
