package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/cache/mem"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/store/fs"
)

func startBus(svc *pipeline.Service, workers int) *eventing.Bus[lecture.Event] {
	b := eventing.NewBus(workers, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Backoff = time.Millisecond
	b.Journal = eventing.StoreJournal{Store: svc.Store}
	b.Subscribe(lecture.LectureUploaded, "transcribe", svc.HandleUploaded)
	b.Subscribe(lecture.TranscriptReady, "segment", svc.HandleTranscript)
	b.Subscribe(lecture.ChunksReady, "summarize", svc.HandleChunksSummarize)
	b.Subscribe(lecture.ChunksReady, "index", svc.HandleChunksIndex)
	b.DeadLetterSink(svc.DeadLetter)
	return b
}

// The journal lives in the object store: a lecture accepted by one broker
// that stops before doing anything is finished by the next one on the same
// store, and the queue is empty afterwards.
func TestJournalInStoreResumesWork(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	ctx := context.Background()
	first := startBus(svc, 1)
	first.Shutdown(0) // stopped at once: nothing runs, all stays queued
	l, ev, err := svc.CreateLecture(ctx, pipeline.Upload{Name: "l.txt", Data: []byte(lectureText)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Publish(ev); err != nil {
		t.Fatal(err)
	}
	jobs, err := eventing.StoreJournal{Store: svc.Store}.List(ctx)
	if err != nil || len(jobs) != 1 || jobs[0].Event.Data.LectureID != l.ID {
		t.Fatalf("journal after publish: %+v, %v", jobs, err)
	}
	if st, _ := svc.Lecture(ctx, l.ID); st.Status != lecture.StatusProcessing {
		t.Fatalf("status %s", st.Status)
	}
	second := startBus(svc, 1)
	if n, err := second.Recover(ctx); n != 1 || err != nil {
		t.Fatalf("Recover: %d, %v", n, err)
	}
	second.Close()
	if st, _ := svc.Lecture(ctx, l.ID); st.Status != lecture.StatusReady {
		t.Fatalf("status after resume: %+v", st)
	}
	if jobs, _ := (eventing.StoreJournal{Store: svc.Store}).List(ctx); len(jobs) != 0 {
		t.Errorf("queue not empty: %+v", jobs)
	}
	if _, err := svc.Lecture(ctx, "_queue"); lecture.ErrorCode(err) != lecture.ENOTFOUND {
		t.Errorf("the queue's folder reads as a lecture: %v", err)
	}
}

// Twenty identical uploads run transcribe, segment, summarize and index
// once; the others copy the results, each under its own lecture id.
func TestIdenticalUploadsWorkOnce(t *testing.T) {
	svc, sm, _ := newService(t, mem.New(1<<20))
	ctx := context.Background()
	b := startBus(svc, 4)
	var ids []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 20 {
		wg.Go(func() {
			l, ev, err := svc.CreateLecture(ctx, pipeline.Upload{Name: "same.txt", Data: []byte(lectureText)})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids = append(ids, l.ID)
			mu.Unlock()
			if err := b.Publish(ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	b.Close()
	for _, stage := range []string{"transcribe", "segment", "index"} {
		if got := svc.Metrics.Value("transcept_stage_reused_total", stage); got != 19 {
			t.Errorf("%s: reused %v times, want 19", stage, got)
		}
	}
	if n := sm.calls.Load(); n != 1 {
		t.Errorf("summariser ran %d times", n)
	}
	for _, id := range ids {
		tr, err := svc.LectureTranscript(ctx, id)
		if err != nil || tr.LectureID != id || len(tr.Segments) != 3 {
			t.Fatalf("lecture %s: %+v %v", id, tr, err)
		}
		if l, _ := svc.Lecture(ctx, id); l.Status != lecture.StatusReady {
			t.Errorf("lecture %s: %s", id, l.Status)
		}
	}
}

// Temporary files of a dead process are swept at start; a live process's
// are kept.
func TestSweepTemp(t *testing.T) {
	root := t.TempDir()
	st, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "raw-inputs", "20260101-000000-aaaaaaaa")
	_ = os.MkdirAll(dir, 0o755)
	dead := filepath.Join(dir, ".tmp-999999999-123")
	mine := filepath.Join(dir, ".tmp-"+strconv.Itoa(os.Getpid())+"-456")
	for _, f := range []string{dead, mine} {
		if err := os.WriteFile(f, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	orphanMeta := filepath.Join(dir, ".gone.json.meta")
	_ = os.WriteFile(orphanMeta, []byte("{}"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "kept.json"), []byte("{}"), 0o644)
	keptMeta := filepath.Join(dir, ".kept.json.meta")
	_ = os.WriteFile(keptMeta, []byte("{}"), 0o644)
	if n, err := st.SweepTemp(); n != 2 || err != nil {
		t.Fatalf("swept %d, %v", n, err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Error("dead process's temp file kept")
	}
	if _, err := os.Stat(mine); err != nil {
		t.Error("live process's temp file removed")
	}
	if _, err := os.Stat(orphanMeta); !os.IsNotExist(err) {
		t.Error("sidecar without its object kept")
	}
	if _, err := os.Stat(keptMeta); err != nil {
		t.Error("sidecar of an object removed")
	}
	tmp := t.TempDir()
	_ = os.WriteFile(filepath.Join(tmp, "transcept-999999999-upload-1.mp3"), nil, 0o644)
	_ = os.WriteFile(filepath.Join(tmp, pipeline.TempPrefix()+"upload-2.mp3"), nil, 0o644)
	if n := pipeline.SweepTemp(tmp); n != 1 {
		t.Errorf("working copies swept: %d", n)
	}
}

// An upload's file name keeps its letters: accents fold to their base
// letter instead of vanishing.
func TestUploadNameKeepsAccentedLetters(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	for name, want := range map[string]string{"é t é.txt": "e t e.txt", "Thermodynamik Übung.srt": "Thermodynamik Ubung.srt", "講義.txt": "lecture.txt"} {
		data := lectureText
		if strings.HasSuffix(name, ".srt") {
			data = "1\n00:00:01,000 --> 00:00:02,000\nEntropy grows.\n"
		}
		_, ev, err := svc.CreateLecture(context.Background(), pipeline.Upload{Name: name, Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		if got := ev.Data.Key[strings.IndexByte(ev.Data.Key, '/')+1:]; got != want {
			t.Errorf("%q stored as %q, want %q", name, got, want)
		}
	}
}
