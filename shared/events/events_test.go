package events

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quietBus() *Bus {
	b := NewBus(2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Backoff = time.Millisecond
	return b
}

func TestRetryThenSuccessAndFollowUps(t *testing.T) {
	b := quietBus()
	defer b.Close()
	var tries atomic.Int64
	var got sync.Map
	b.Subscribe(LectureUploaded, "flaky", func(ctx context.Context, e Event) ([]Event, error) {
		if tries.Add(1) < 3 {
			return nil, errors.New("transient")
		}
		return []Event{New(TranscriptReady, e.Data)}, nil
	})
	b.Subscribe(TranscriptReady, "next", func(ctx context.Context, e Event) ([]Event, error) {
		got.Store(e.Data.LectureID, true)
		return nil, nil
	})
	b.Subscribe(ChunksReady, "never", func(ctx context.Context, e Event) ([]Event, error) {
		t.Error("a trigger for another type fired")
		return nil, nil
	})
	b.Publish(New(LectureUploaded, Ref{LectureID: "l1"}))
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
	b.Subscribe(LectureUploaded, "broken", func(ctx context.Context, e Event) ([]Event, error) {
		tries.Add(1)
		panic("poisoned input")
	})
	b.DeadLetterSink(func(ctx context.Context, e Event, err error) error { dead.Store(err.Error()); return nil })
	b.Publish(New(LectureUploaded, Ref{LectureID: "l2"}))
	b.Wait()
	if tries.Load() != int64(b.Retries+1) {
		t.Errorf("tries %d, want %d", tries.Load(), b.Retries+1)
	}
	if s, _ := dead.Load().(string); s != "stage panicked: poisoned input" {
		t.Errorf("dead letter reason %q", s)
	}
}

func TestTypesCoverConstants(t *testing.T) {
	if len(Types) != 6 {
		t.Errorf("Types lists %d event types", len(Types))
	}
}
