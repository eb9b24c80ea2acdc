package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/tracing"
)

// `transcept serve`'s path: an upload's request span (named by its route,
// a child of the client's traceparent) is the root of the stages the local
// Bus runs, one span each, with the model run and store calls inside.
func TestTracingServePath(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	off := tracing.Use(tp)
	defer func() { off(); _ = tp.Shutdown(context.Background()) }()
	e := newEnv(t, nil)

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "thermo.srt")
	_, _ = fw.Write([]byte(lectureSRT))
	_ = mw.Close()
	req, _ := http.NewRequest("POST", e.srv.URL+"/lectures", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req.Header.Set("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("upload: %d %v", resp.StatusCode, m)
	}
	id := m["id"].(string)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var l lecture.Lecture
		_, _, body := e.do("GET", "/lectures/"+id, "", nil)
		_ = json.Unmarshal([]byte(body), &l)
		if l.Status == lecture.StatusReady || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	var spans []sdktrace.ReadOnlySpan
	byName := map[string]sdktrace.ReadOnlySpan{}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) { // the last stage span ends just after its artifact
		spans, byName = nil, map[string]sdktrace.ReadOnlySpan{}
		for _, s := range rec.Ended() {
			if s.SpanContext().TraceID().String() == clientTrace {
				spans = append(spans, s)
				byName[s.Name()] = s
			}
		}
		if (byName["stage summarize"] != nil && byName["stage index"] != nil) || time.Now().After(end) {
			break
		}
	}
	upload, ok := byName["POST /lectures"]
	if !ok || upload.Parent().SpanID().String() != clientSpan {
		t.Fatalf("no server span POST /lectures child of the client's (%d spans in the trace)", len(spans))
	}
	parent := map[string]string{"stage transcribe": "POST /lectures", "stage segment": "stage transcribe",
		"stage summarize": "stage segment", "stage index": "stage segment"}
	for name, p := range parent {
		s, ok := byName[name]
		if !ok {
			t.Errorf("no span %q in the upload's trace", name)
			continue
		}
		if s.Parent().SpanID() != byName[p].SpanContext().SpanID() {
			t.Errorf("%s is not a child of %s", name, p)
		}
	}
	if s, ok := byName["model summarize"]; !ok || s.Parent().SpanID() != byName["stage summarize"].SpanContext().SpanID() {
		t.Error("no model summarize span inside stage summarize")
	}
	if _, ok := byName["store put"]; !ok {
		t.Error("no store span")
	}
}

// A cached POST /summarize with tracing on (spans batched to an exporter
// that drops them): compare with BenchmarkCachedSummarize, tracing off.
func BenchmarkCachedSummarizeTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	off := tracing.Use(tp)
	defer func() { off(); _ = tp.Shutdown(context.Background()) }()
	b.Run("lines=20", func(b *testing.B) { benchCached(b, 20) })
}
