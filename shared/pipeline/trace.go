package pipeline

import (
	"context"

	"github.com/transcept/transcept/shared/lecture"
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

// modelSpan starts the span of a model run: the task, the engine and its
// model identity (the registry version when it came from the registry).
func modelSpan(ctx context.Context, task, engine, model string) (context.Context, tracing.End) {
	if !tracing.On() {
		return ctx, func(error) {}
	}
	return tracing.Start(ctx, "model "+task, tracing.String("transcept.model.task", task),
		tracing.String("transcept.model.engine", engine), tracing.String("transcept.model.name", model))
}
