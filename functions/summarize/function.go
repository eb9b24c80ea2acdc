// Package summarize is the summarize function: it writes the bullet summary (summary.json) and caches it.
// Trigger: transcept.chunks.ready; reply: transcept.summary.ready.
package summarize

import (
	"context"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/pipeline"
)

// Function is the func-go instance.
type Function struct{ wire.Base }

// New returns the instance; its Start wires it from the configuration map.
func New() *Function { return &Function{wire.NewBase("summarize")} }

// Handle runs the stage on one event and replies with the next.
func (f *Function) Handle(ctx context.Context, e eventing.CloudEvent) (*eventing.CloudEvent, error) {
	return f.HandleEvent(ctx, e, (*pipeline.Service).HandleChunksSummarize)
}
