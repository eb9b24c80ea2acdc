// Package events defines the pipeline's event types and their data (references
// to objects, never payloads), and an in-process broker that delivers them to
// subscribers with the Trigger semantics of Knative Eventing: filter by type,
// retry with exponential backoff, then a dead-letter sink. With a Journal the
// broker is durable: every accepted delivery is written down before it is
// queued and removed only once it is done, so work survives a crash.
package events

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

// Types lists every event type the pipeline emits.
var Types = []string{LectureUploaded, TranscriptReady, ChunksReady, SummaryReady, IndexReady, LectureFailed}

// Source is the CloudEvents source of the events Transcept emits.
const Source = "/transcept/pipeline"

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
}

// Event is one CloudEvent's worth of context and data.
type Event struct {
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Subject string    `json:"subject,omitempty"`
	Time    time.Time `json:"time"`
	Data    Ref       `json:"data"`
}

// New makes an event with a fresh id.
func New(typ string, data Ref) Event {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return Event{ID: hex.EncodeToString(b[:]), Type: typ, Source: Source, Subject: data.LectureID, Time: time.Now().UTC(), Data: data}
}
