package eventing

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/transcept/transcept/infra"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/store/fs"
	"github.com/transcept/transcept/shared/tracing"
)

func recordSpans(t *testing.T) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	off := tracing.Use(tp)
	t.Cleanup(func() { off(); _ = tp.Shutdown(context.Background()) })
	return rec
}

// The local Bus of `transcept serve` carries an upload's trace through the
// stages of infra/eventing's Triggers, across its durable journal: a span
// per stage, each a child of the stage that emitted its event.
func TestLocalBusCarriesTheTrace(t *testing.T) {
	rec := recordSpans(t)
	cfg, err := Parse(infra.Eventing())
	if err != nil {
		t.Fatal(err)
	}
	emit := func(typ string) Handler[lecture.Event] {
		return func(_ context.Context, e lecture.Event) ([]lecture.Event, error) {
			if typ == "" {
				return nil, nil
			}
			return []lecture.Event{lecture.NewEvent(typ, e.Data)}, nil
		}
	}
	ts, err := cfg.LocalTriggers(map[string]LocalStage{
		"transcept-transcribe": {Name: "transcribe", Handler: emit(lecture.TranscriptReady)},
		"transcept-segment":    {Name: "segment", Handler: emit(lecture.ChunksReady)},
		"transcept-summarize":  {Name: "summarize", Handler: emit("")},
		"transcept-index":      {Name: "index", Handler: emit("")},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := NewBus(2, slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.Journal = StoreJournal{Store: st}
	for _, tr := range ts {
		b.AddTrigger(tr)
	}
	defer b.Close()

	// The upload's request span emits the first event (as CreateLecture does).
	ctx, end := tracing.Start(context.Background(), "POST /lectures")
	e := lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l1", Bucket: lecture.BucketRaw, Key: "l1/a.txt"})
	evs := []lecture.Event{e}
	Stamp(ctx, evs)
	end(nil)
	if evs[0].TraceParent == "" {
		t.Fatal("the event carries no traceparent")
	}
	if err := b.Publish(evs[0]); err != nil {
		t.Fatal(err)
	}
	b.Wait()

	spans := map[string]sdktrace.ReadOnlySpan{}
	var root sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "POST /lectures" {
			root = s
		} else {
			spans[s.Name()] = s
		}
	}
	if root == nil || len(spans) != 4 {
		t.Fatalf("spans: root %v, stages %d", root != nil, len(spans))
	}
	parent := map[string]string{"stage transcribe": "", "stage segment": "stage transcribe", "stage summarize": "stage segment", "stage index": "stage segment"}
	for name, p := range parent {
		s, ok := spans[name]
		if !ok {
			t.Fatalf("no span %q", name)
		}
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("%s is in another trace", name)
		}
		want := root.SpanContext().SpanID()
		if p != "" {
			want = spans[p].SpanContext().SpanID()
		}
		if s.Parent().SpanID() != want {
			t.Errorf("%s: parent %s, want %s (%s)", name, s.Parent().SpanID(), want, p)
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes() {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["transcept.lecture_id"] != "l1" || attrs["cloudevents.event_type"] == "" {
			t.Errorf("%s attributes: %v", name, attrs)
		}
	}
}

// The Broker delivers in a span of its own, a child of the event's trace
// context, and passes its own span on in the delivered event's traceparent.
func TestBrokerPropagatesTheTrace(t *testing.T) {
	rec := recordSpans(t)
	got := make(chan [2]string, 1)
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := cehttp.NewEventFromHTTPRequest(r)
		if err == nil {
			tp, ts := TraceContext(*e)
			got <- [2]string{tp, ts}
		}
		w.WriteHeader(202)
	}))
	defer sub.Close()
	c := &Config{Triggers: []TriggerSpec{{Name: "t", Filter: map[string]string{"type": lecture.LectureUploaded}, Subscriber: Destination{Service: "s"}}}}
	b, err := NewBroker(c, map[string]string{"s": sub.URL}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, end := tracing.Start(context.Background(), "stage ingest")
	e := lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l1"})
	e.TraceParent, e.TraceState = tracing.Inject(ctx)
	end(nil)
	ce, err := ToCloudEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	if back, _ := FromCloudEvent(ce); back.TraceParent != e.TraceParent {
		t.Fatalf("traceparent lost in the CloudEvent round trip: %q", back.TraceParent)
	}
	b.Dispatch(ce)
	var tc [2]string
	select {
	case tc = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("no delivery")
	}
	b.Wait()
	var ingest, deliver sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		switch s.Name() {
		case "stage ingest":
			ingest = s
		case "deliver t":
			deliver = s
		}
	}
	if ingest == nil || deliver == nil {
		t.Fatal("missing spans")
	}
	if deliver.Parent().SpanID() != ingest.SpanContext().SpanID() || deliver.SpanContext().TraceID() != ingest.SpanContext().TraceID() {
		t.Error("the delivery span is not a child of the emitter's")
	}
	// traceparent: version-traceid-parentid-flags
	parts := strings.Split(tc[0], "-")
	if len(parts) != 4 || parts[1] != deliver.SpanContext().TraceID().String() || parts[2] != deliver.SpanContext().SpanID().String() {
		t.Errorf("delivered traceparent %q does not name the delivery span %s", tc[0], deliver.SpanContext().SpanID())
	}
}

// Off, nothing is stamped and Traced calls the handler as it is.
func TestTracingOffStampsNothing(t *testing.T) {
	if tracing.On() {
		t.Skip("tracing is on in this process")
	}
	evs := []lecture.Event{lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: "l1"})}
	Stamp(context.Background(), evs)
	ce, _ := ToCloudEvent(evs[0])
	if evs[0].TraceParent != "" || len(ce.Extensions()) != 0 {
		t.Errorf("tracing off, yet: %q %v", evs[0].TraceParent, ce.Extensions())
	}
}
