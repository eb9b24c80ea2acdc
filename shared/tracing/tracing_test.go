package tracing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestConfigured(t *testing.T) {
	for _, c := range []struct {
		exporter, endpoint, traces string
		want                       bool
	}{
		{"", "", "", false},
		{"otlp", "", "", true},
		{"", "http://collector:4318", "", true},
		{"", "", "http://collector:4318/v1/traces", true},
		{"none", "http://collector:4318", "", false},
		{"OTLP", "", "", true},
	} {
		t.Setenv("OTEL_TRACES_EXPORTER", c.exporter)
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.endpoint)
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", c.traces)
		if got := Configured(); got != c.want {
			t.Errorf("%+v: Configured() = %v", c, got)
		}
	}
}

func TestOffIsANoOp(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	shutdown, err := Setup(context.Background(), "transcept-test")
	if err != nil || On() {
		t.Fatalf("Setup with nothing set: on=%v err=%v", On(), err)
	}
	ctx := context.Background()
	if got, end := Start(ctx, "x", String("a", "b")); got != ctx {
		t.Error("Start changed the context while off")
	} else {
		end(errors.New("ignored"))
	}
	if tp, ts := Inject(ctx); tp != "" || ts != "" {
		t.Errorf("Inject off: %q %q", tp, ts)
	}
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	if Extract(ctx, parent, "") != ctx {
		t.Error("Extract changed the context while off")
	}
	r := httptest.NewRequest("GET", "/x", nil)
	if r2, end := StartHTTP(r, "GET /x", "GET"); r2 != r {
		t.Error("StartHTTP changed the request while off")
	} else {
		end(200)
	}
	if err := Flush(ctx); err != nil {
		t.Error(err)
	}
	if err := shutdown(ctx); err != nil {
		t.Error(err)
	}
}

func TestSetupRefusesOtherExporters(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "zipkin")
	if _, err := Setup(context.Background(), "x"); err == nil {
		t.Error("OTEL_TRACES_EXPORTER=zipkin accepted")
	}
}

func TestSetupOnAndShutdown(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // nothing listens: export fails, spans are dropped
	shutdown, err := Setup(context.Background(), "transcept-test")
	if err != nil || !On() {
		t.Fatalf("on=%v err=%v", On(), err)
	}
	_, end := Start(context.Background(), "x")
	end(nil)
	_ = shutdown(context.Background())
	if On() {
		t.Error("still on after shutdown")
	}
}

func record(t testing.TB) *tracetest.SpanRecorder {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	off := Use(tp)
	t.Cleanup(func() { off(); _ = tp.Shutdown(context.Background()) })
	return rec
}

func TestSpansAndPropagation(t *testing.T) {
	rec := record(t)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ctx := Extract(context.Background(), parent, "vendor=x")
	ctx, end := StartConsumer(ctx, "stage segment", String("transcept.lecture_id", "l1"))
	tp, ts := Inject(ctx)
	Annotate(ctx, Int("n", 3))
	end(errors.New("boom"))
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("not a child of the traceparent: %v parent %v", s.SpanContext(), s.Parent())
	}
	if s.SpanKind() != trace.SpanKindConsumer || s.Status().Code != codes.Error || len(s.Events()) == 0 {
		t.Errorf("kind %v status %v events %d", s.SpanKind(), s.Status(), len(s.Events()))
	}
	if want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + s.SpanContext().SpanID().String() + "-01"; tp != want || ts != "vendor=x" {
		t.Errorf("Inject: %q %q, want %q", tp, ts, want)
	}
}

// The server span of a request: named by the route pattern, a child of the
// request's traceparent header, with method, route and status.
func TestStartHTTP(t *testing.T) {
	rec := record(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /lectures/{id}", func(w http.ResponseWriter, r *http.Request) {
		r, end := StartHTTP(r, r.Pattern, r.Method)
		if !trace.SpanContextFromContext(r.Context()).IsValid() {
			t.Error("no span in the request's context")
		}
		w.WriteHeader(503)
		end(503)
	})
	r := httptest.NewRequest("GET", "/lectures/abc123", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	mux.ServeHTTP(httptest.NewRecorder(), r)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET /lectures/{id}" || s.SpanKind() != trace.SpanKindServer || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span %q kind %v parent %v", s.Name(), s.SpanKind(), s.Parent().SpanID())
	}
	attrs := map[string]string{}
	for _, a := range s.Attributes() {
		attrs[string(a.Key)] = a.Value.Emit()
	}
	if attrs["http.route"] != "GET /lectures/{id}" || attrs["http.request.method"] != "GET" || attrs["http.response.status_code"] != "503" || s.Status().Code != codes.Error {
		t.Errorf("attributes %v status %v", attrs, s.Status())
	}
}

// What tracing costs a call site while off (the default) and on.
func BenchmarkStartEnd(b *testing.B) {
	ctx := context.Background()
	b.Run("off", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, end := Start(ctx, "stage x", String("transcept.lecture_id", "l1"))
			end(nil)
		}
	})
	b.Run("on", func(b *testing.B) {
		record(b)
		b.ReportAllocs()
		for b.Loop() {
			_, end := Start(ctx, "stage x", String("transcept.lecture_id", "l1"))
			end(nil)
		}
	})
}
