package wire

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/transcept/transcept/shared/api"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/tracing"
)

// Base is what every Transcept function embeds: the func-go instance
// lifecycle (Start reads the configuration map and wires the suite, Ready
// stays false until it has, Stop drains in-flight work) and the CloudEvent
// plumbing of a pipeline stage (decode the reference, run the shared stage
// code once per duplicate, reply with the next event).
type Base struct {
	Name    string
	Metrics *metrics.Metrics

	mu       sync.RWMutex
	suite    *Suite
	ready    atomic.Bool
	stopping atomic.Bool
	inflight sync.WaitGroup
	once     singleflight.Group
	metrics  *http.Server                // /metrics on TRANSCEPT_METRICS_ADDR, when set
	traces   func(context.Context) error // flushes and stops tracing (tracing.Setup)
}

// NewBase makes the base of the named function.
func NewBase(name string) Base { return Base{Name: name, Metrics: metrics.New()} }

// Start wires the suite from the configuration map (environment variables
// locally, the same keys from the function's configuration in a cluster).
func (b *Base) Start(ctx context.Context, cfg map[string]string) error {
	c, err := config.FromMap(cfg)
	if err != nil {
		return err
	}
	log := Logger(c).With("function", b.Name)
	if err := b.startTracing(ctx); err != nil {
		return err
	}
	s, err := NewWithMetrics(ctx, c, log, b.Metrics)
	if err != nil {
		return err
	}
	if err := s.Ready(ctx); err != nil {
		return err
	}
	if err := b.serveMetrics(c.Accounts.MetricsAddr); err != nil {
		return err
	}
	b.mu.Lock()
	b.suite = s
	b.mu.Unlock()
	b.ready.Store(true)
	log.Info("function ready")
	return nil
}

// startTracing sets up tracing as service transcept-<function>, once per
// process (off unless the OTEL_* settings ask for it).
func (b *Base) startTracing(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.traces != nil {
		return nil
	}
	shutdown, err := tracing.Setup(ctx, "transcept-"+b.Name)
	if err != nil {
		return lecture.Wrap(lecture.EINVALID, err, "tracing (OTEL_* settings)")
	}
	b.traces = shutdown
	return nil
}

// serveMetrics serves /metrics on its own address (not the route Knative
// exposes), once per process.
func (b *Base) serveMetrics(addr string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if addr == "" || b.metrics != nil {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot listen on %s (TRANSCEPT_METRICS_ADDR)", addr)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", b.Metrics.Handler())
	b.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.metrics.Serve(ln) }()
	return nil
}

// Stop refuses new work and waits for in-flight work to finish.
func (b *Base) Stop(ctx context.Context) error {
	b.stopping.Store(true)
	b.ready.Store(false)
	b.mu.Lock()
	if b.metrics != nil {
		defer b.metrics.Close()
		b.metrics = nil
	}
	if traces := b.traces; traces != nil {
		b.traces = nil
		defer func() { _ = traces(context.WithoutCancel(ctx)) }() // after in-flight work: its spans too
	}
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s: stopped with work in flight: %w", b.Name, ctx.Err())
	}
}

// Ready reports whether Start has finished and Stop has not begun.
func (b *Base) Ready(context.Context) (bool, error) { return b.ready.Load(), nil }

// Alive reports that the process is serving.
func (b *Base) Alive(context.Context) (bool, error) { return true, nil }

// Suite returns the wired suite, nil before Start.
func (b *Base) Suite() *Suite {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.suite
}

// Log is the function's logger.
func (b *Base) Log() *slog.Logger {
	if s := b.Suite(); s != nil {
		return s.Log
	}
	return slog.Default().With("function", b.Name)
}

// Enter marks the start of a piece of work; the returned func marks its
// end. It fails once Stop has begun or before Start has finished, so that
// Knative retries the request elsewhere.
func (b *Base) Enter() (func(), error) {
	if b.stopping.Load() || !b.ready.Load() {
		return nil, lecture.Errorf(lecture.EUNAVAILABLE, "%s is not ready", b.Name)
	}
	b.inflight.Add(1)
	return b.inflight.Done, nil
}

// Serve runs h on an HTTP request as one piece of work (see Enter): 503
// once Stop has begun or before Start has finished.
func (b *Base) Serve(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	done, err := b.Enter()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer done()
	h(w, r)
}

// APIServer is the HTTP API over the wired suite as a function serves it:
// it publishes nothing, since in the cluster an upload is announced by
// MinIO's notification to ingest, not by the API: one event per object.
func (b *Base) APIServer() *api.Server {
	s := b.Suite()
	srv, err := s.API(context.Background(), func(lecture.Event) error { return nil })
	if err != nil {
		// Start has checked the settings; what is left is an identity
		// provider that did not answer: serve without it, say so.
		s.Log.Error("API built without its identity provider", "err", err)
		c := *s.Config
		c.Accounts.OIDC.Issuer = ""
		s2 := *s
		s2.Config = &c
		srv, _ = s2.API(context.Background(), func(lecture.Event) error { return nil })
	}
	srv.Metrics = b.Metrics
	return srv
}

// LazyHandler is an HTTP function's handler, built on first use: after
// Start has wired the suite it reads.
type LazyHandler struct {
	once sync.Once
	h    http.Handler
}

// Get returns the handler, building it with build the first time.
func (l *LazyHandler) Get(build func() http.Handler) http.Handler {
	l.once.Do(func() { l.h = build() })
	return l.h
}

// Handler is a pipeline stage's code, a method expression of the service
// such as (*pipeline.Service).HandleTranscript.
type Handler func(*pipeline.Service, context.Context, lecture.Event) ([]lecture.Event, error)

// HandleEvent runs a stage on a CloudEvent and replies with the next event.
// Concurrent duplicates (the same type, lecture and content) run once; a
// failure is returned as an error, which the CloudEvents receiver answers
// with a 5xx so that Knative retries and finally dead-letters the event.
func (b *Base) HandleEvent(ctx context.Context, ce eventing.CloudEvent, h Handler) (*eventing.CloudEvent, error) {
	done, err := b.Enter()
	if err != nil {
		return nil, eventing.Status(503, "%v", err)
	}
	defer done()
	e, err := eventing.FromCloudEvent(ce)
	if err != nil {
		// Not ours or malformed: retrying cannot help, reject it.
		b.Log().Warn("event rejected", "id", ce.ID(), "type", ce.Type(), "err", err)
		return nil, eventing.Status(400, "%v", err)
	}
	svc := b.Suite().Service
	key := e.Type + "/" + e.Data.LectureID + "/" + e.Data.ContentHash
	ctx, end := eventing.StartStage(ctx, b.Name, e)
	v, err, shared := b.once.Do(key, func() (any, error) { return h(svc, ctx, e) })
	tracing.Annotate(ctx, tracing.Bool("transcept.duplicate", shared))
	end(err)
	if err != nil {
		b.Metrics.CountEvent(e.Type, "error")
		b.Log().Error("stage failed", "type", e.Type, "lecture", e.Data.LectureID, "err", err)
		return nil, eventing.Status(500, "%s: %v", b.Name, err)
	}
	b.Metrics.CountEvent(e.Type, "ok")
	next := v.([]lecture.Event)
	if len(next) == 0 || shared {
		return nil, nil // a duplicate's reply was sent by the first
	}
	reply := []lecture.Event{next[0]}
	eventing.Stamp(ctx, reply) // the next stage's span is a child of this one
	out, err := eventing.ToCloudEvent(reply[0])
	if err != nil {
		return nil, eventing.Status(500, "encoding the reply: %v", err)
	}
	b.Log().Info("stage done", "type", e.Type, "lecture", e.Data.LectureID, "next", out.Type())
	return &out, nil
}
