// Package segment is the segment function: it cleans the transcript into sentences and ≤512-token chunks with timestamps (chunks.json).
// Trigger: transcept.transcript.ready; reply: transcept.chunks.ready.
package segment

import (
	"context"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/pipeline"
)

// Function is the func-go instance.
type Function struct{ wire.Base }

// New returns the instance; its Start wires it from the configuration map.
func New() *Function { return &Function{wire.NewBase("segment")} }

// Handle runs the stage on one event and replies with the next.
func (f *Function) Handle(ctx context.Context, e eventing.CloudEvent) (*eventing.CloudEvent, error) {
	return f.HandleEvent(ctx, e, (*pipeline.Service).HandleTranscript)
}
