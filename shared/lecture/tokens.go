package lecture

import (
	"context"
	"sync/atomic"
)

type tokenCountKey struct{}

// WithTokenCount returns a context whose model runs add the tokens they
// generate to the returned counter (CountTokens), so the caller can report
// tokens per second without knowing the engine.
func WithTokenCount(ctx context.Context) (context.Context, *atomic.Int64) {
	n := new(atomic.Int64)
	return context.WithValue(ctx, tokenCountKey{}, n), n
}

// CountTokens adds n generated tokens to ctx's counter (WithTokenCount);
// nothing when ctx has none.
func CountTokens(ctx context.Context, n int) {
	if c, ok := ctx.Value(tokenCountKey{}).(*atomic.Int64); ok && n > 0 {
		c.Add(int64(n))
	}
}
