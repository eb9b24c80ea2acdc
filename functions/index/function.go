// Package index is the index function: it builds the lecture's retrieval index (index.json).
// Trigger: transcept.chunks.ready; reply: transcept.index.ready.
package index

import (
	"context"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/pipeline"
)

// Function is the func-go instance.
type Function struct{ wire.Base }

// New returns the instance; its Start wires it from the configuration map.
func New() *Function { return &Function{wire.NewBase("index")} }

// Handle runs the stage on one event and replies with the next.
func (f *Function) Handle(ctx context.Context, e eventing.CloudEvent) (*eventing.CloudEvent, error) {
	return f.HandleEvent(ctx, e, (*pipeline.Service).HandleChunksIndex)
}
