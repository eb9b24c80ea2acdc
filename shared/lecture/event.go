package lecture

// The pipeline's event vocabulary: one type per transition, and the data of
// every event, a reference to an object (never a payload). The deliverer
// (shared/eventing) and the CloudEvents encoding live outside the domain.

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Event types, one per pipeline transition.
const (
	LectureUploaded = "transcept.lecture.uploaded"
	TranscriptReady = "transcept.transcript.ready"
	ChunksReady     = "transcept.chunks.ready"
	SummaryReady    = "transcept.summary.ready"
	IndexReady      = "transcept.index.ready"
	LectureFailed   = "transcept.lecture.failed"
)

// EventTypes lists every event type the pipeline emits.
var EventTypes = []string{LectureUploaded, TranscriptReady, ChunksReady, SummaryReady, IndexReady, LectureFailed}

// EventSource is the CloudEvents source of the events Transcept emits.
const EventSource = "/transcept/pipeline"

// Model lifecycle event types, sent by the nightly evaluation to the Broker
// (K_SINK) for whoever subscribes (a training pipeline); their data is a
// report summary, not a Ref, and no stage of the pipeline takes them.
const (
	ModelEvaluated   = "transcept.model.evaluated"
	RetrainRequested = "transcept.model.retrain.requested"
)

// ModelEventSource is the CloudEvents source of the model lifecycle events.
const ModelEventSource = "/transcept/eval"

// Ref is the data of every event: where the object is and what it is.
type Ref struct {
	LectureID    string `json:"lecture_id"`
	Bucket       string `json:"bucket"`
	Key          string `json:"key"`
	ContentHash  string `json:"content_hash"`
	ModelVersion string `json:"model_version,omitempty"`
	// Size is the byte size of the lecture's input (the upload), a cost hint
	// for scheduling and work budgets; 0 when unknown.
	Size   int64  `json:"size,omitempty"`
	Reason string `json:"reason,omitempty"` // for transcept.lecture.failed
	// Owner is the uploader's user id ("" in single-user mode): the local
	// scheduler shares its workers fairly between owners.
	Owner string `json:"owner,omitempty"`
}

// Event is one CloudEvent's worth of context and data.
type Event struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`
	Data    Ref       `json:"data"`
	// TraceParent and TraceState are the W3C trace context of the span
	// that emitted the event (the CloudEvents distributed-tracing
	// extension); empty when tracing is off.
	TraceParent string `json:"traceparent,omitempty"`
	TraceState  string `json:"tracestate,omitempty"`
}

// NewEvent makes an event with a fresh id.
func NewEvent(typ string, data Ref) Event {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return Event{ID: hex.EncodeToString(b[:]), Type: typ, Source: EventSource, Subject: data.LectureID, Time: time.Now().UTC(), Data: data}
}
