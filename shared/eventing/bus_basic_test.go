package eventing

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

func quietBus() *Bus[lecture.Event] {
	b := NewBus(2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Backoff = time.Millisecond
	return b
}

func TestRetryThenSuccessAndFollowUps(t *testing.T) {
	b := quietBus()
	defer b.Close()
	var tries atomic.Int64
	var got sync.Map
	b.Subscribe(lecture.LectureUploaded, "flaky", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if tries.Add(1) < 3 {
			return nil, errors.New("transient")
		}
		return []lecture.Event{lecture.NewEvent(lecture.TranscriptReady, e.Data)}, nil
	})
	b.Subscribe(lecture.TranscriptReady, "next", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		got.Store(e.Data.LectureID, true)
		return nil, nil
	})
	b.Subscribe(lecture.ChunksReady, "never", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		t.Error("a trigger for another type fired")
		return nil, nil
	})
	b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l1"}))
	b.Wait()
	if tries.Load() != 3 {
		t.Errorf("tries %d", tries.Load())
	}
	if _, ok := got.Load("l1"); !ok {
		t.Error("follow-up event not delivered")
	}
}

func TestDeadLetterAfterRetries(t *testing.T) {
	b := quietBus()
	defer b.Close()
	var tries atomic.Int64
	var dead atomic.Value
	b.Subscribe(lecture.LectureUploaded, "broken", func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		tries.Add(1)
		panic("poisoned input")
	})
	b.DeadLetterSink(func(ctx context.Context, e lecture.Event, err error) error { dead.Store(err.Error()); return nil })
	b.Publish(lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l2"}))
	b.Wait()
	if tries.Load() != int64(b.Retries+1) {
		t.Errorf("tries %d, want %d", tries.Load(), b.Retries+1)
	}
	if s, _ := dead.Load().(string); s != "stage panicked: poisoned input" {
		t.Errorf("dead letter reason %q", s)
	}
}

func TestTypesCoverConstants(t *testing.T) {
	if len(lecture.EventTypes) != 6 {
		t.Errorf("lecture.EventTypes lists %d event types", len(lecture.EventTypes))
	}
}
