// Package tracing is the OpenTelemetry adapter: the one package that
// imports go.opentelemetry.io. Tracing is on in a process once Setup has
// found OTEL_TRACES_EXPORTER=otlp or an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT); spans
// then go to that OTLP/HTTP endpoint, and every other standard OTEL_*
// variable (headers, timeouts, OTEL_BSP_*, OTEL_TRACES_SAMPLER,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES) is read by the SDK itself.
// Off, Start returns its context unchanged and End does nothing: one atomic
// load per call.
//
// Context crosses processes as W3C trace context: the traceparent and
// tracestate headers of an HTTP request, and the extension attributes of
// the same names on a CloudEvent (the distributed-tracing extension).
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/transcept/transcept/shared/config"
)

// Scope is the instrumentation scope of every span.
const Scope = "github.com/transcept/transcept"

var (
	mu       sync.Mutex
	on       atomic.Bool
	current  atomic.Pointer[trace.Tracer]
	provider *sdktrace.TracerProvider
	prop     = propagation.TraceContext{}
)

// Configured reports whether the environment asks for traces:
// OTEL_TRACES_EXPORTER set to anything but "none" (Setup accepts only
// otlp), or, with it unset, an OTLP endpoint.
func Configured() bool {
	switch strings.TrimSpace(strings.ToLower(config.Get("OTEL_TRACES_EXPORTER"))) {
	case "none":
		return false
	case "":
		return config.Get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || config.Get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	}
	return true
}

// Setup starts tracing for the process as service (the resource's
// service.name unless OTEL_SERVICE_NAME says otherwise) when the
// environment asks for it (see Configured); otherwise tracing stays off.
// shutdown flushes the spans still buffered and stops tracing.
func Setup(ctx context.Context, service string) (shutdown func(context.Context) error, err error) {
	if !Configured() {
		return func(context.Context) error { return nil }, nil
	}
	if e := strings.TrimSpace(strings.ToLower(config.Get("OTEL_TRACES_EXPORTER"))); e != "" && e != "otlp" {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: only otlp (or none) is supported", e)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", service)), resource.WithFromEnv())
	if err != nil && res == nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	t := tp.Tracer(Scope)
	mu.Lock()
	old := provider
	provider = tp
	current.Store(&t)
	on.Store(true)
	mu.Unlock()
	if old != nil {
		_ = old.Shutdown(ctx)
	}
	return func(ctx context.Context) error {
		mu.Lock()
		if provider == tp {
			provider = nil
			on.Store(false)
			current.Store(nil)
		}
		mu.Unlock()
		return tp.Shutdown(ctx)
	}, nil
}

// Use makes tp the process's tracer provider (tests: an in-process
// recorder); the returned func turns tracing off again.
func Use(tp trace.TracerProvider) func() {
	t := tp.Tracer(Scope)
	mu.Lock()
	current.Store(&t)
	on.Store(true)
	mu.Unlock()
	return func() {
		mu.Lock()
		on.Store(false)
		current.Store(nil)
		mu.Unlock()
	}
}

// Flush exports the spans ended so far (a host that freezes the process
// between invocations, such as AWS Lambda, calls it after each one).
func Flush(ctx context.Context) error {
	mu.Lock()
	tp := provider
	mu.Unlock()
	if tp == nil {
		return nil
	}
	return tp.ForceFlush(ctx)
}

// On reports whether tracing is on in this process.
func On() bool { return on.Load() }

// Attr is a span attribute.
type Attr = attribute.KeyValue

// String, Int, Int64, Float64 and Bool make attributes.
func String(k, v string) Attr          { return attribute.String(k, v) }
func Int(k string, v int) Attr         { return attribute.Int(k, v) }
func Int64(k string, v int64) Attr     { return attribute.Int64(k, v) }
func Float64(k string, v float64) Attr { return attribute.Float64(k, v) }
func Bool(k string, v bool) Attr       { return attribute.Bool(k, v) }

// End ends a span; a non-nil error is recorded on it and marks it failed.
type End func(err error)

func noEnd(error) {}

func tracer() trace.Tracer {
	if t := current.Load(); t != nil {
		return *t
	}
	return nil
}

// Start starts a span named name, a child of the span in ctx.
func Start(ctx context.Context, name string, attrs ...Attr) (context.Context, End) {
	return start(ctx, name, trace.SpanKindInternal, attrs)
}

// StartConsumer starts the span of a delivered message (a pipeline stage run).
func StartConsumer(ctx context.Context, name string, attrs ...Attr) (context.Context, End) {
	return start(ctx, name, trace.SpanKindConsumer, attrs)
}

// StartClient starts the span of a call to another service.
func StartClient(ctx context.Context, name string, attrs ...Attr) (context.Context, End) {
	return start(ctx, name, trace.SpanKindClient, attrs)
}

func start(ctx context.Context, name string, kind trace.SpanKind, attrs []Attr) (context.Context, End) {
	if !on.Load() {
		return ctx, noEnd
	}
	t := tracer()
	if t == nil {
		return ctx, noEnd
	}
	// A copy: attrs itself does not escape, so a call site's attribute
	// list stays on its stack, and tracing off allocates nothing.
	ctx, span := t.Start(ctx, name, trace.WithSpanKind(kind), trace.WithAttributes(append([]Attr(nil), attrs...)...))
	return ctx, func(err error) {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// Annotate adds attributes to the span in ctx (nothing when off).
func Annotate(ctx context.Context, attrs ...Attr) {
	if !on.Load() {
		return
	}
	trace.SpanFromContext(ctx).SetAttributes(append([]Attr(nil), attrs...)...)
}

// Inject returns the W3C trace context of ctx's span: what a CloudEvent's
// traceparent and tracestate extension attributes carry. Both are empty
// when tracing is off or ctx holds no span.
func Inject(ctx context.Context) (traceparent, tracestate string) {
	if !on.Load() {
		return "", ""
	}
	c := propagation.MapCarrier{}
	prop.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// Extract returns ctx with the remote span context of traceparent and
// tracestate as its parent (ctx itself when tracing is off or traceparent
// is empty or invalid).
func Extract(ctx context.Context, traceparent, tracestate string) context.Context {
	if !on.Load() || traceparent == "" {
		return ctx
	}
	return prop.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}

// StartHTTP starts the server span of a request, a child of the
// traceparent header's span when the request has one, named by the route
// pattern (never the raw path: bounded cardinality). end takes the
// response status; a 5xx marks the span failed.
func StartHTTP(r *http.Request, route, method string) (*http.Request, func(status int)) {
	if !on.Load() {
		return r, noStatus
	}
	t := tracer()
	if t == nil {
		return r, noStatus
	}
	ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	name := route
	if !strings.Contains(route, " ") {
		name = method + " " + route
	}
	ctx, span := t.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route)))
	return r.WithContext(ctx), func(status int) {
		if status == 0 {
			status = http.StatusOK
		}
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		span.End()
	}
}

func noStatus(int) {}
