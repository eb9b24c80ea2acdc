package eventing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/tracing"
)

// NewBus makes the deliverer of pipeline events that `transcept serve`
// runs (see New): jobs are keyed by lecture, so a newer event for a
// lecture replaces an older one for the same trigger that has not run yet,
// and scheduled by the size of the lecture's input.
func NewBus(n int, log *slog.Logger) *Bus[lecture.Event] {
	return New(n, log, EventMeta)
}

// EventMeta describes a pipeline event to the Bus.
func EventMeta(e lecture.Event) Meta {
	return Meta{Type: e.Type, ID: e.ID, Key: e.Data.LectureID, Size: e.Data.Size, Owner: e.Data.Owner}
}

// JobID names a pipeline job: "<lecture_id>.<trigger>".
func JobID(j Job[lecture.Event]) string { return j.Event.Data.LectureID + "." + j.Trigger }

// QueuePrefix is where the durable pipeline queue lives in the preprocessed
// bucket: one object per lecture and stage, "_queue/<lecture_id>.<stage>.json".
// Lecture ids starting with '_' are reserved for it.
const QueuePrefix = "_queue"

// StoreJournal is the durable queue of `transcept serve`, kept in the
// object store beside the artifacts, so accepted work survives a crash of
// the process.
type StoreJournal struct{ Store lecture.ObjectStore }

var _ Journal[lecture.Event] = StoreJournal{}

func jobKey(j Job[lecture.Event]) string {
	return lecture.Key(QueuePrefix, JobID(j)+".json")
}

// Save writes the job (atomically: the store's Put is).
func (q StoreJournal) Save(ctx context.Context, j Job[lecture.Event]) error {
	b, err := json.Marshal(j)
	if err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "encoding a queued job")
	}
	return q.Store.Put(ctx, lecture.BucketPreprocessed, jobKey(j), bytes.NewReader(b), int64(len(b)), "application/json")
}

// Delete removes the job.
func (q StoreJournal) Delete(ctx context.Context, j Job[lecture.Event]) error {
	return q.Store.Delete(ctx, lecture.BucketPreprocessed, jobKey(j))
}

// List returns every queued job; unreadable records are skipped (and left
// for an operator), never fatal.
func (q StoreJournal) List(ctx context.Context) ([]Job[lecture.Event], error) {
	objs, err := q.Store.List(ctx, lecture.BucketPreprocessed, QueuePrefix+"/")
	if err != nil {
		return nil, err
	}
	var out []Job[lecture.Event]
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		rc, err := q.Store.Get(ctx, lecture.BucketPreprocessed, o.Key)
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			continue // finished meanwhile
		} else if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		if err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "reading queued job %s", o.Key)
		}
		var j Job[lecture.Event]
		if json.Unmarshal(b, &j) != nil || j.Trigger == "" || j.Event.Data.LectureID == "" {
			continue
		}
		out = append(out, j)
	}
	return out, nil
}

// QueuedLectures lists the lectures with a queued or running job.
func (q StoreJournal) QueuedLectures(ctx context.Context) (map[string]bool, error) {
	jobs, err := q.List(ctx)
	if err != nil {
		return nil, err
	}
	queued := map[string]bool{}
	for _, j := range jobs {
		queued[j.Event.Data.LectureID] = true
	}
	return queued, nil
}

// MatchEvent applies a Trigger filter to a pipeline event: exact match of
// each attribute (an attribute the event lacks reads as empty).
func MatchEvent(filter map[string]string) func(lecture.Event) bool {
	return func(e lecture.Event) bool {
		for k, v := range filter {
			var got string
			switch k {
			case "type":
				got = e.Type
			case "source":
				got = e.Source
			case "subject":
				got = e.Subject
			case "id":
				got = e.ID
			}
			if got != v {
				return false
			}
		}
		return true
	}
}

// LocalTriggers turns the Triggers whose subscriber is one of the services
// that stages names (Knative Service → stage) into the triggers of a local
// Bus: the stage's name (what the journal keys jobs by), the Trigger's
// filter and the stage's handler, in the order of the Triggers. Triggers
// for other services are left out; a stage without a Trigger is an error.
func (c *Config) LocalTriggers(stages map[string]LocalStage) ([]Trigger[lecture.Event], error) {
	var out []Trigger[lecture.Event]
	found := map[string]bool{}
	for _, t := range c.Triggers {
		st, ok := stages[t.Subscriber.Service]
		if !ok || t.Subscriber.URI != "" {
			continue
		}
		found[t.Subscriber.Service] = true
		out = append(out, Trigger[lecture.Event]{Name: st.Name, Match: MatchEvent(t.Filter), Handler: Traced(st.Name, st.Handler)})
	}
	for svc := range stages {
		if !found[svc] {
			return nil, fmt.Errorf("no Trigger subscribes %s", svc)
		}
	}
	return out, nil
}

// LocalStage is a pipeline stage run in process: its name and handler.
type LocalStage struct {
	Name    string
	Handler Handler[lecture.Event]
}

// Traced runs a stage's handler in a span "stage <name>", a child of the
// span that emitted the event (its traceparent); the events the stage
// returns carry the stage span's trace context in turn, so that one upload
// is one trace through the Bus, and through its journal across restarts.
func Traced(name string, h Handler[lecture.Event]) Handler[lecture.Event] {
	return func(ctx context.Context, e lecture.Event) ([]lecture.Event, error) {
		if !tracing.On() {
			return h(ctx, e)
		}
		ctx, end := StartStage(ctx, name, e)
		next, err := h(ctx, e)
		end(err)
		Stamp(ctx, next)
		return next, err
	}
}

// StartStage starts the span of one stage run on e: "stage <name>", a child
// of e's trace context, with the lecture id and the event's type and id.
func StartStage(ctx context.Context, name string, e lecture.Event) (context.Context, tracing.End) {
	if !tracing.On() {
		return ctx, func(error) {}
	}
	ctx = tracing.Extract(ctx, e.TraceParent, e.TraceState)
	return tracing.StartConsumer(ctx, "stage "+name,
		tracing.String("transcept.stage", name), tracing.String("transcept.lecture_id", e.Data.LectureID),
		tracing.String("cloudevents.event_type", e.Type), tracing.String("cloudevents.event_id", e.ID))
}

// Stamp sets the trace context of events to ctx's span (nothing when
// tracing is off): the events a stage emits inherit its span.
func Stamp(ctx context.Context, events []lecture.Event) {
	tp, ts := tracing.Inject(ctx)
	if tp == "" {
		return
	}
	for i := range events {
		events[i].TraceParent, events[i].TraceState = tp, ts
	}
}
