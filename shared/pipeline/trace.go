package pipeline

import (
	"context"
	"time"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/tracing"
)

// stamp gives an event the trace context of ctx's span (the HTTP request
// or notification that made it), so that its stages join that trace.
func stamp(ctx context.Context, e lecture.Event) lecture.Event {
	if tp, ts := tracing.Inject(ctx); tp != "" {
		e.TraceParent, e.TraceState = tp, ts
	}
	return e
}

// storeSpan starts the span of an object store call.
func storeSpan(ctx context.Context, op, bucket, key string) (context.Context, tracing.End) {
	if !tracing.On() {
		return ctx, func(error) {}
	}
	return tracing.StartClient(ctx, "store "+op, tracing.String("transcept.store.op", op),
		tracing.String("transcept.store.bucket", bucket), tracing.String("transcept.store.key", key))
}

// cacheSpan starts the span of a cache call.
func (s *Service) cacheSpan(ctx context.Context, op string) (context.Context, tracing.End) {
	if !tracing.On() {
		return ctx, func(error) {}
	}
	return tracing.StartClient(ctx, "cache "+op, tracing.String("transcept.cache.op", op), tracing.String("transcept.cache", s.Cache.Name()))
}

// modelSpan starts a model run: its span (the task, the engine, its model
// identity and the registry version it resolved to, ModelVersions, and the
// tokens generated) and its metrics (transcept_model_run_duration_seconds,
// transcept_model_tokens_total), both recorded by the returned end.
func (s *Service) modelSpan(ctx context.Context, task, engine, model string) (context.Context, tracing.End) {
	start := time.Now()
	ctx, tokens := lecture.WithTokenCount(ctx)
	end := tracing.End(func(error) {})
	if tracing.On() {
		version := s.ModelVersions[task]
		if version == "" {
			version = model
		}
		ctx, end = tracing.Start(ctx, "model "+task, tracing.String("transcept.model.task", task),
			tracing.String("transcept.model.engine", engine), tracing.String("transcept.model.name", model),
			tracing.String("transcept.model.version", version))
	}
	return ctx, func(err error) {
		n := tokens.Load()
		if n > 0 && tracing.On() {
			tracing.Annotate(ctx, tracing.Int64("transcept.model.output_tokens", n))
		}
		end(err)
		s.Metrics.ObserveModelRun(task, engine, time.Since(start), n, err)
	}
}

// embed runs the embedding model over an index's chunks, in a model span.
func (s *Service) embed(ctx context.Context, ix *retrieval.Index) (err error) {
	ctx, end := s.modelSpan(ctx, "embed", "embeddings", s.Answerer.Embedder.Model())
	defer func() { end(err) }()
	return ix.Embed(ctx, s.Answerer.Embedder)
}
