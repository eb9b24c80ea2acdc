package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"

	"github.com/transcept/transcept/shared/lecture"
)

// Identical uploads do one piece of work: when a stage has already made its
// artifact for the same content (hash) with the same settings (version),
// the artifact is copied from that "twin" lecture instead of computed
// again. The cache remembers which lecture holds each result; concurrent
// duplicates wait for the first one's run.

func twinKey(stage, version, hash string) string {
	return "twin:" + stage + ":" + version + ":" + hash
}

// once runs compute for the event's lecture unless a twin's artifact can
// be copied, and records this lecture as the holder of the result.
func (s *Service) once(ctx context.Context, e lecture.Event, stage, artifact, version string, compute func() error) error {
	if e.Data.ContentHash == "" || s.Cache == nil {
		return compute()
	}
	key := twinKey(stage, version, e.Data.ContentHash)
	if s.copyTwin(ctx, e, key, stage, artifact) {
		return nil
	}
	id := e.Data.LectureID
	v, err, _ := s.flight.Do(key, func() (any, error) {
		if err := compute(); err != nil {
			return nil, err
		}
		s.cacheSet(ctx, key, []byte(id))
		return id, nil
	})
	if err != nil {
		return err
	}
	if v.(string) != id && !s.copyTwin(ctx, e, key, stage, artifact) {
		return compute()
	}
	return nil
}

// copyTwin copies the artifact of the lecture the cache names for key,
// after checking that it was made from the same content.
func (s *Service) copyTwin(ctx context.Context, e lecture.Event, key, stage, artifact string) bool {
	b, ok := s.cacheGet(ctx, key)
	twin := string(b)
	if !ok || twin == e.Data.LectureID || lecture.ValidateLectureID(twin) != nil {
		return false
	}
	gctx, end := storeSpan(ctx, "get", lecture.BucketPreprocessed, lecture.Key(twin, artifact))
	rc, err := s.Store.Get(gctx, lecture.BucketPreprocessed, lecture.Key(twin, artifact))
	end(err)
	if err != nil {
		return false
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	var hash string
	if json.Unmarshal(m["content_hash"], &hash) != nil || hash != e.Data.ContentHash {
		return false
	}
	if _, has := m["lecture_id"]; has {
		m["lecture_id"], _ = json.Marshal(e.Data.LectureID)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return false
	}
	pctx, end := storeSpan(ctx, "put", lecture.BucketPreprocessed, lecture.Key(e.Data.LectureID, artifact))
	err = s.Store.Put(pctx, lecture.BucketPreprocessed, lecture.Key(e.Data.LectureID, artifact), bytes.NewReader(out), int64(len(out)), "application/json")
	end(err)
	if err != nil {
		return false
	}
	s.Metrics.CountReused(stage)
	s.Log.Debug("stage result copied from an identical upload", "stage", stage, "lecture", e.Data.LectureID, "from", twin)
	return true
}
