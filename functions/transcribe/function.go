// Package transcribe is the transcribe function: it turns an uploaded transcript (and, with a Whisper model, a recording) into transcript.json.
// Trigger: transcept.lecture.uploaded; reply: transcept.transcript.ready.
package transcribe

import (
	"context"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/pipeline"
)

// Function is the func-go instance.
type Function struct{ wire.Base }

// New returns the instance; its Start wires it from the configuration map.
func New() *Function { return &Function{wire.NewBase("transcribe")} }

// Handle runs the stage on one event and replies with the next.
func (f *Function) Handle(ctx context.Context, e eventing.CloudEvent) (*eventing.CloudEvent, error) {
	return f.HandleEvent(ctx, e, (*pipeline.Service).HandleUploaded)
}
