package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/catalogue/postgres"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/catalogtest"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

func open(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestPostgres runs on one server: the contract on a new database per
// subtest, then the migration checks.
func TestPostgres(t *testing.T) {
	srv := svctest.StartPostgres(t)
	t.Run("Contract", func(t *testing.T) {
		catalogtest.Run(t, func(t *testing.T) catalogue.Catalogue { return open(t, srv.CreateDatabase(t)) })
	})
	t.Run("Migrations", func(t *testing.T) {
		ctx := context.Background()
		url := srv.CreateDatabase(t)
		// Replicas starting at once: the advisory lock lets one migrate.
		var wg sync.WaitGroup
		dbs := make([]*postgres.DB, 4)
		errs := make([]error, 4)
		for i := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dbs[i], errs[i] = postgres.Open(ctx, url)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("concurrent Open %d: %v", i, err)
			}
			defer dbs[i].Close()
		}
		first, err := dbs[0].Migrations(ctx)
		if err != nil || len(first) == 0 || first[0] != 1 {
			t.Fatalf("Migrations = %v, %v", first, err)
		}
		if err := dbs[0].PutLecture(ctx, catalogue.Lecture{ID: "L1", Title: "kept"}); err != nil {
			t.Fatal(err)
		}
		// A second Open applies nothing and keeps the data.
		db := open(t, url)
		again, err := db.Migrations(ctx)
		if err != nil || len(again) != len(first) {
			t.Errorf("Migrations after another Open = %v, %v; want %v", again, err, first)
		}
		if l, err := db.GetLecture(ctx, "L1"); err != nil || l.Title != "kept" {
			t.Errorf("after reopening: %+v, %v", l, err)
		}
	})
	t.Run("Unavailable", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
		if code := lecture.ErrorCode(err); code != lecture.EUNAVAILABLE {
			t.Errorf("Open of a closed port: %v (code %q), want %s", err, code, lecture.EUNAVAILABLE)
		}
	})
}

// TestServerDown: a catalogue whose server went away answers EUNAVAILABLE.
func TestServerDown(t *testing.T) {
	srv := svctest.StartPostgres(t)
	db := open(t, srv.CreateDatabase(t))
	ctx := context.Background()
	if err := db.PutLecture(ctx, catalogue.Lecture{ID: "L1"}); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, err := db.GetLecture(ctx, "L1")
	if code := lecture.ErrorCode(err); code != lecture.EUNAVAILABLE {
		t.Errorf("GetLecture with the server down: %v (code %q), want %s", err, code, lecture.EUNAVAILABLE)
	}
	_, err = db.AddUsage(ctx, "u1", catalogue.CounterQA, catalogue.Window(catalogue.CounterQA, time.Now()), 1, 10)
	if code := lecture.ErrorCode(err); code != lecture.EUNAVAILABLE {
		t.Errorf("AddUsage with the server down: %v (code %q), want %s", err, code, lecture.EUNAVAILABLE)
	}
}

func BenchmarkListLectures(b *testing.B) {
	catalogtest.BenchmarkList(b, open(b, svctest.Postgres(b)))
}

func BenchmarkSearch(b *testing.B) {
	catalogtest.BenchmarkSearch(b, open(b, svctest.Postgres(b)))
}
