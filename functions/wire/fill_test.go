package wire_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
)

// TestEmptyCatalogueFilledAtStart: a store with lectures and a new (empty)
// catalogue database: the next start lists them without a manual rebuild.
func TestEmptyCatalogueFilledAtStart(t *testing.T) {
	dir := t.TempDir()
	c, err := config.FromMap(map[string]string{"TRANSCEPT_STORE_DIR": dir})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	s, err := wire.New(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	bus := s.StartBus()
	l, ev, err := s.Service.CreateLecture(ctx, pipeline.Upload{Name: "l.txt", Title: "Entropy", Data: []byte("Entropy never decreases. Heat flows from hot to cold bodies.")})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Publish(ev); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		got, _ := s.Service.Lecture(ctx, l.ID)
		if got != nil && got.Status == lecture.StatusReady {
			break
		}
		if i > 500 {
			t.Fatal("lecture not ready")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()
	for _, f := range []string{"catalogue.db", "catalogue.db-wal", "catalogue.db-shm"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	s2, err := wire.New(ctx, c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.StartBus()
	if err := s2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		page, err := s2.Catalogue.ListLectures(ctx, catalogue.ListQuery{Q: "entropy"})
		if err == nil && len(page.Lectures) == 1 && page.Lectures[0].ID == l.ID && page.Lectures[0].Status == lecture.StatusReady {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("catalogue after the start: %+v %v", page, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
