// Package events defines the pipeline's event types and their data (references
// to objects, never payloads), and an in-process broker that delivers them to
// subscribers with the Trigger semantics of Knative Eventing: filter by type,
// retry with exponential backoff, then a dead-letter sink.
package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"
)

// Event types, one per pipeline transition.
const (
	LectureUploaded = "transcept.lecture.uploaded"
	TranscriptReady = "transcept.transcript.ready"
	ChunksReady     = "transcept.chunks.ready"
	SummaryReady    = "transcept.summary.ready"
	IndexReady      = "transcept.index.ready"
	LectureFailed   = "transcept.lecture.failed"
)

// Types lists every event type the pipeline emits.
var Types = []string{LectureUploaded, TranscriptReady, ChunksReady, SummaryReady, IndexReady, LectureFailed}

// Source is the CloudEvents source of the events Transcept emits.
const Source = "/transcept/pipeline"

// Ref is the data of every event: where the object is and what it is.
type Ref struct {
	LectureID    string `json:"lecture_id"`
	Bucket       string `json:"bucket"`
	Key          string `json:"key"`
	ContentHash  string `json:"content_hash"`
	ModelVersion string `json:"model_version,omitempty"`
	Reason       string `json:"reason,omitempty"` // for transcept.lecture.failed
}

// Event is one CloudEvent's worth of context and data.
type Event struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`
	Data    Ref       `json:"data"`
}

// New makes an event with a fresh id.
func New(typ string, data Ref) Event {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return Event{ID: hex.EncodeToString(b[:]), Type: typ, Source: Source, Subject: data.LectureID, Time: time.Now().UTC(), Data: data}
}

// Handler processes an event and may return follow-up events to publish.
type Handler func(ctx context.Context, e Event) ([]Event, error)

// DeadLetter receives an event that failed every delivery attempt.
type DeadLetter func(ctx context.Context, e Event, err error)

// Bus is the in-process broker used by `transcept serve`.
type Bus struct {
	Retries int           // deliveries after the first
	Backoff time.Duration // first retry delay, doubled each time
	Log     *slog.Logger
	// Observe, when set, counts outcomes (ok, retry, dead_letter) per type.
	Observe func(typ, outcome string)

	mu       sync.Mutex
	triggers map[string][]trigger
	dead     DeadLetter
	queue    chan delivery
	wg       sync.WaitGroup // pending deliveries
	workers  sync.WaitGroup
	closed   bool
}

type trigger struct {
	name string
	h    Handler
}

type delivery struct {
	e Event
	t trigger
}

// NewBus starts a broker with n workers.
func NewBus(n int, log *slog.Logger) *Bus {
	if n < 1 {
		n = 1
	}
	b := &Bus{Retries: 3, Backoff: 100 * time.Millisecond, Log: log, triggers: map[string][]trigger{}, queue: make(chan delivery, 1024)}
	for range n {
		b.workers.Add(1)
		go b.work()
	}
	return b
}

// Subscribe adds a trigger: events of type typ go to h.
func (b *Bus) Subscribe(typ, name string, h Handler) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.triggers[typ] = append(b.triggers[typ], trigger{name, h})
}

// DeadLetterSink sets where events go after their last failed delivery.
func (b *Bus) DeadLetterSink(d DeadLetter) { b.dead = d }

// Publish queues e for every trigger that matches its type.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	ts := b.triggers[e.Type]
	closed := b.closed
	b.mu.Unlock()
	if closed {
		b.Log.Warn("event dropped: broker closed", "type", e.Type, "id", e.ID)
		return
	}
	for _, t := range ts {
		b.wg.Add(1)
		go func() { b.queue <- delivery{e, t} }() // never block the publisher
	}
}

// Wait blocks until every queued delivery, and what it published, is done.
func (b *Bus) Wait() { b.wg.Wait() }

// Close drains in-flight work and stops the workers.
func (b *Bus) Close() {
	b.wg.Wait()
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	b.workers.Wait()
}

func (b *Bus) work() {
	defer b.workers.Done()
	for d := range b.queue {
		b.deliver(d)
		b.wg.Done()
	}
}

func (b *Bus) deliver(d delivery) {
	ctx := context.Background()
	delay := b.Backoff
	var err error
	for attempt := 0; attempt <= b.Retries; attempt++ {
		var next []Event
		next, err = b.call(ctx, d, attempt)
		if err == nil {
			b.observe(d.e.Type, "ok")
			for _, n := range next {
				b.Publish(n)
			}
			return
		}
		if attempt < b.Retries {
			b.observe(d.e.Type, "retry")
			b.Log.Warn("stage failed, retrying", "trigger", d.t.name, "type", d.e.Type, "lecture", d.e.Data.LectureID, "attempt", attempt+1, "err", err)
			time.Sleep(delay)
			delay *= 2
		}
	}
	b.observe(d.e.Type, "dead_letter")
	b.Log.Error("stage failed after retries", "trigger", d.t.name, "type", d.e.Type, "lecture", d.e.Data.LectureID, "err", err)
	if b.dead != nil {
		b.dead(ctx, d.e, err)
	}
}

// call runs one delivery, turning a panic into an error.
func (b *Bus) call(ctx context.Context, d delivery, attempt int) (next []Event, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = panicError{r}
		}
	}()
	return d.t.h(ctx, d.e)
}

func (b *Bus) observe(typ, outcome string) {
	if b.Observe != nil {
		b.Observe(typ, outcome)
	}
}

type panicError struct{ v any }

func (p panicError) Error() string { return "stage panicked: " + fmtAny(p.v) }

func fmtAny(v any) string {
	if e, ok := v.(error); ok {
		return e.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return "unknown panic"
}
