package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"

	"github.com/transcept/transcept/shared/events"
	"github.com/transcept/transcept/shared/lecture"
)

// QueuePrefix is where the durable pipeline queue lives in the preprocessed
// bucket: one object per lecture and stage, "_queue/<lecture_id>.<stage>.json".
// Lecture ids starting with '_' are reserved for it.
const QueuePrefix = "_queue"

// Journal is the durable queue of `transcept serve`, kept in the object store
// beside the artifacts, so accepted work survives a crash of the process.
type Journal struct{ Store lecture.ObjectStore }

var _ events.Journal = Journal{}

func jobKey(j events.Job) string {
	return lecture.Key(QueuePrefix, j.Event.Data.LectureID+"."+j.Trigger+".json")
}

// Save writes the job (atomically: the store's Put is).
func (q Journal) Save(ctx context.Context, j events.Job) error {
	b, err := json.Marshal(j)
	if err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "encoding a queued job")
	}
	return q.Store.Put(ctx, lecture.BucketPreprocessed, jobKey(j), bytes.NewReader(b), int64(len(b)), "application/json")
}

// Delete removes the job.
func (q Journal) Delete(ctx context.Context, j events.Job) error {
	return q.Store.Delete(ctx, lecture.BucketPreprocessed, jobKey(j))
}

// List returns every queued job; unreadable records are skipped (and left
// for an operator), never fatal.
func (q Journal) List(ctx context.Context) ([]events.Job, error) {
	objs, err := q.Store.List(ctx, lecture.BucketPreprocessed, QueuePrefix+"/")
	if err != nil {
		return nil, err
	}
	var out []events.Job
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
		var j events.Job
		if json.Unmarshal(b, &j) != nil || j.Trigger == "" || j.Event.Data.LectureID == "" {
			continue
		}
		out = append(out, j)
	}
	return out, nil
}
