package pipeline

import (
	"context"
	"strings"

	"github.com/transcept/transcept/shared/lecture"
)

// Reconciliation is what Reconcile found and did.
type Reconciliation struct {
	Events  []lecture.Event // to publish: lectures left between two steps
	Removed []string        // lecture records without an upload, removed
}

// Reconcile finds, at the start of the single local process, lectures that
// a crash left between two steps, where no queued job will move them on:
//   - a raw input without its lecture record (the process died between the
//     two writes of an upload) is taken in as a bucket upload would be;
//   - a lecture record whose upload never landed is removed with what it has;
//   - a lecture with neither a queued job nor a failure record gets the
//     event of its first missing stage.
//
// queued holds the lectures with a queued job (the durable queue's). Call it
// before the broker takes new work; it is not for stores that other
// processes write at the same time.
func (s *Service) Reconcile(ctx context.Context, queued map[string]bool) (*Reconciliation, error) {
	pre, err := s.Store.List(ctx, lecture.BucketPreprocessed, "")
	if err != nil {
		return nil, err
	}
	raw, err := s.Store.List(ctx, lecture.BucketRaw, "")
	if err != nil {
		return nil, err
	}
	have := map[string]map[string]bool{}
	for _, o := range pre {
		id, name, err := lecture.SplitKey(o.Key)
		if err != nil || strings.HasPrefix(id, "_") {
			continue
		}
		if have[id] == nil {
			have[id] = map[string]bool{}
		}
		have[id][name] = true
	}
	inputs := map[string]lecture.ObjectInfo{}
	for _, o := range raw {
		if id, _, err := lecture.SplitKey(o.Key); err == nil {
			inputs[id] = o
		}
	}
	out := &Reconciliation{}
	for id, in := range inputs {
		if have[id][ArtifactLecture] || queued[id] || strings.HasPrefix(id, "_") {
			continue
		}
		ev, err := s.Ingest(ctx, lecture.BucketRaw, in.Key, in.ETag)
		if err != nil {
			s.Log.Warn("raw input left by a stopped process not taken in", "key", in.Key, "err", err)
			continue
		}
		out.Events = append(out.Events, ev)
	}
	for id, names := range have {
		if !names[ArtifactLecture] || queued[id] || names[ArtifactFailed] {
			continue
		}
		in, ok := inputs[id]
		if !ok {
			for name := range names {
				if err := s.Store.Delete(ctx, lecture.BucketPreprocessed, lecture.Key(id, name)); err != nil {
					return out, err
				}
			}
			out.Removed = append(out.Removed, id)
			continue
		}
		var l lecture.Lecture
		if err := s.getJSON(ctx, id, ArtifactLecture, &l); err != nil {
			continue
		}
		ref := lecture.Ref{LectureID: id, ContentHash: l.ContentHash, Size: in.Size}
		switch {
		case !names[ArtifactTranscript]:
			ref.Bucket, ref.Key = lecture.BucketRaw, in.Key
			out.Events = append(out.Events, lecture.NewEvent(lecture.LectureUploaded, ref))
		case !names[ArtifactChunks]:
			ref.Bucket, ref.Key = lecture.BucketPreprocessed, lecture.Key(id, ArtifactTranscript)
			out.Events = append(out.Events, lecture.NewEvent(lecture.TranscriptReady, ref))
		case !names[ArtifactSummary] || !names[ArtifactIndex]:
			ref.Bucket, ref.Key = lecture.BucketPreprocessed, lecture.Key(id, ArtifactChunks)
			out.Events = append(out.Events, lecture.NewEvent(lecture.ChunksReady, ref))
		}
	}
	return out, nil
}
