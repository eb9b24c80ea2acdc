package eventing

import (
	"context"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"

	"github.com/transcept/transcept/shared/lecture"
)

// NewModelEvent makes a model lifecycle CloudEvent (lecture.ModelEvaluated,
// lecture.RetrainRequested) with JSON data, carrying the trace context of ctx.
func NewModelEvent(ctx context.Context, typ, subject string, data any, at time.Time) (CloudEvent, error) {
	ce := cloudevents.New()
	ce.SetID(lecture.NewEvent(typ, lecture.Ref{}).ID)
	ce.SetType(typ)
	ce.SetSource(lecture.ModelEventSource)
	ce.SetSubject(subject)
	ce.SetTime(at)
	SetTraceContext(ctx, &ce)
	if err := ce.SetData(cloudevents.ApplicationJSON, data); err != nil {
		return ce, err
	}
	return ce, ce.Validate()
}
