package eventing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	sdk "github.com/cloudevents/sdk-go/v2"
	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	"github.com/cloudevents/sdk-go/v2/protocol"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/tracing"
)

// CloudEvent is a CloudEvents event: what a func-go CloudEvent function
// takes and replies with.
type CloudEvent = cloudevents.Event

// ToCloudEvent turns an event into a CloudEvent with JSON data.
func ToCloudEvent(e lecture.Event) (cloudevents.Event, error) {
	ce := cloudevents.New()
	ce.SetID(e.ID)
	ce.SetType(e.Type)
	ce.SetSource(e.Source)
	ce.SetSubject(e.Subject)
	ce.SetTime(e.Time)
	if e.TraceParent != "" {
		ce.SetExtension(ExtTraceParent, e.TraceParent)
		if e.TraceState != "" {
			ce.SetExtension(ExtTraceState, e.TraceState)
		}
	}
	if err := ce.SetData(cloudevents.ApplicationJSON, e.Data); err != nil {
		return ce, err
	}
	return ce, ce.Validate()
}

// The extension attributes of the CloudEvents distributed-tracing
// extension: the W3C trace context of the span that emitted the event.
const (
	ExtTraceParent = "traceparent"
	ExtTraceState  = "tracestate"
)

// TraceContext reads a CloudEvent's distributed-tracing extension.
func TraceContext(ce cloudevents.Event) (traceparent, tracestate string) {
	ext := ce.Extensions()
	if v, ok := ext[ExtTraceParent].(string); ok {
		traceparent = v
	}
	if v, ok := ext[ExtTraceState].(string); ok {
		tracestate = v
	}
	return traceparent, tracestate
}

// SetTraceContext sets a CloudEvent's distributed-tracing extension to the
// span context of ctx (nothing when tracing is off or ctx has no span).
func SetTraceContext(ctx context.Context, ce *cloudevents.Event) {
	tp, ts := tracing.Inject(ctx)
	if tp == "" {
		return
	}
	ce.SetExtension(ExtTraceParent, tp)
	if ts != "" {
		ce.SetExtension(ExtTraceState, ts)
	} else if _, ok := ce.Extensions()[ExtTraceState]; ok {
		ce.SetExtension(ExtTraceState, nil)
	}
}

// FromCloudEvent reads one of our events out of a CloudEvent, checking that
// its type is ours and its data is a reference with a lecture id.
func FromCloudEvent(ce cloudevents.Event) (lecture.Event, error) {
	// id and subject as the SDK's setters (and binary mode's headers) give
	// them, without surrounding spaces: a structured event's JSON keeps
	// them, and the event would change on its way out again (ToCloudEvent)
	e := lecture.Event{ID: strings.TrimSpace(ce.ID()), Type: ce.Type(), Source: ce.Source(), Subject: strings.TrimSpace(ce.Subject()), Time: ce.Time()}
	e.TraceParent, e.TraceState = TraceContext(ce)
	known := false
	for _, t := range lecture.EventTypes {
		known = known || t == e.Type
	}
	if !known {
		return e, fmt.Errorf("event type %q is not a Transcept event", e.Type)
	}
	if err := ce.DataAs(&e.Data); err != nil {
		return e, fmt.Errorf("event %s (%s): data is not a reference: %w", e.ID, e.Type, err)
	}
	if e.Data.LectureID == "" {
		return e, fmt.Errorf("event %s (%s): data has no lecture_id", e.ID, e.Type)
	}
	return e, nil
}

// Delivered reads a send or request result by its HTTP status: the SDK's
// IsACK can report success for a 5xx whose body is not an event.
func Delivered(res protocol.Result) (ok bool, status int) {
	var hr *cehttp.Result
	if errors.As(res, &hr) {
		return hr.StatusCode/100 == 2, hr.StatusCode
	}
	return res == nil || (protocol.IsACK(res) && !protocol.IsUndelivered(res)), 0
}

// ReadHTTP decodes the CloudEvent of a request (binary or structured); when
// the request holds none it answers 400 and returns false.
func ReadHTTP(w http.ResponseWriter, r *http.Request) (*CloudEvent, bool) {
	ce, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return ce, true
}

// Status is a CloudEvent function's result with an HTTP status, which the
// receiver answers with (a 5xx makes Knative retry the delivery).
func Status(code int, format string, args ...any) error {
	return cehttp.NewResult(code, format, args...)
}

// Sender sends CloudEvents to one target (ingest's K_SINK).
type Sender struct {
	client sdk.Client
	target string
}

// NewSender makes a sender to target.
func NewSender(target string) (*Sender, error) {
	c, err := sdk.NewClientHTTP()
	if err != nil {
		return nil, err
	}
	return &Sender{client: c, target: target}, nil
}

// Send delivers ce; the error is the failed result when the target did not
// accept it.
func (s *Sender) Send(ctx context.Context, ce CloudEvent) error {
	if res := s.client.Send(sdk.ContextWithTarget(ctx, s.target), ce); !deliveredOK(res) {
		return res
	}
	return nil
}

func deliveredOK(res protocol.Result) bool { ok, _ := Delivered(res); return ok }
