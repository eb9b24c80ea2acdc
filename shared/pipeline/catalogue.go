package pipeline

import (
	"context"
	"path"
	"strconv"
	"strings"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
)

// Catalogue is the part of the lecture catalogue the pipeline writes: a
// row per lecture with its status, and the transcript text search looks in.
// The object store stays the source of truth; `transcept catalogue rebuild`
// (Rebuild) fills the catalogue from it.
type Catalogue interface {
	PutLecture(ctx context.Context, l catalogue.Lecture) error
	GetLecture(ctx context.Context, id string) (catalogue.Lecture, error)
	SetTranscript(ctx context.Context, id, text string) error
	DeleteLecture(ctx context.Context, id string) error
}

// admit asks Admit (the quotas) whether owner may upload now.
func (s *Service) admit(ctx context.Context, owner string, mediaSeconds float64) error {
	if s.Admit == nil {
		return nil
	}
	return s.Admit(ctx, owner, mediaSeconds)
}

// record writes a new lecture's row; extra carries what only the upload
// knows (size, media type, length). A catalogue error is logged, not
// returned: the upload is stored and Sync or Rebuild mends the row.
func (s *Service) record(ctx context.Context, l *lecture.Lecture, extra catalogue.Lecture) {
	if s.Catalogue == nil {
		return
	}
	row := extra
	row.ID, row.Owner, row.Title, row.Status = l.ID, l.Owner, l.Title, l.Status
	row.CreatedAt, row.UpdatedAt = l.CreatedAt, l.UpdatedAt
	if err := s.Catalogue.PutLecture(context.WithoutCancel(ctx), row); err != nil {
		s.Log.Warn("catalogue row not written", "lecture", l.ID, "err", err)
	}
}

// Sync writes a lecture's current status (composed from its artifacts) to
// the catalogue, and its transcript text once the transcript exists. Every
// stage calls it when it ends; it never fails the stage.
func (s *Service) Sync(ctx context.Context, id string) {
	if s.Catalogue == nil || id == "" {
		return
	}
	ctx = context.WithoutCancel(ctx)
	// Two stages ending together (summarize and index, in two processes)
	// each compose the status and write it: the one that read the store
	// first may write last, a stale "processing" over "ready". So after
	// writing, read the status again and write once more when it moved;
	// the stage that finished last reads every artifact before its write,
	// and this re-read comes after that write.
	for range 3 {
		wrote, err := s.sync(ctx, id)
		if err != nil {
			if lecture.ErrorCode(err) != lecture.ENOTFOUND {
				s.Log.Warn("catalogue row not updated", "lecture", id, "err", err)
			}
			return
		}
		l, err := s.Lecture(ctx, id)
		if err != nil || l.Status == wrote {
			return
		}
	}
}

// sync writes the lecture's row and returns the status it wrote.
func (s *Service) sync(ctx context.Context, id string) (lecture.Status, error) {
	l, err := s.Lecture(ctx, id)
	if err != nil {
		return "", err
	}
	row, err := s.Catalogue.GetLecture(ctx, id)
	if err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
		return "", err
	}
	hadText := row.Words > 0
	if l.Status == lecture.StatusReady && row.Status != lecture.StatusReady {
		s.countLecture(id, metrics.LectureReady) // the row's previous status: a redelivery after a restart counts nothing
	}
	row.ID, row.Title, row.Status, row.UpdatedAt = l.ID, l.Title, l.Status, l.UpdatedAt
	if l.Owner != "" {
		row.Owner = l.Owner
	}
	if row.CreatedAt.IsZero() {
		row.CreatedAt = l.CreatedAt
	}
	row.Stage, row.Error = "", ""
	for _, st := range Stages {
		if l.Stages[st.Name].Status != lecture.StatusReady {
			row.Stage = st.Name
			break
		}
	}
	if l.Error != nil {
		row.Error = l.Error.Message
	}
	var tr lecture.Transcript
	haveText := false
	if l.Stages["transcribe"].Status == lecture.StatusReady && !hadText {
		if err := s.getJSON(ctx, id, ArtifactTranscript, &tr); err == nil {
			haveText = true
			row.Words, row.Seconds = transcriptSize(&tr, row.Seconds)
		}
	}
	if err := s.Catalogue.PutLecture(ctx, row); err != nil {
		return "", err
	}
	if haveText {
		return l.Status, s.Catalogue.SetTranscript(ctx, id, transcriptText(&tr))
	}
	return l.Status, nil
}

func transcriptText(tr *lecture.Transcript) string {
	var b strings.Builder
	for _, seg := range tr.Segments {
		b.WriteString(seg.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// transcriptSize counts a transcript's words and its length in seconds
// (the last timestamp, or seconds when it has none).
func transcriptSize(tr *lecture.Transcript, seconds float64) (int, float64) {
	words := 0
	for _, seg := range tr.Segments {
		words += len(strings.Fields(seg.Text))
		if seg.HasTime() && seg.End > seconds {
			seconds = seg.End
		}
	}
	return words, seconds
}

// Rebuild fills the catalogue from the object store: a row for every
// lecture with its status and transcript text. owners maps lecture ids to
// owners for rows whose lecture record names none (nil: keep what the
// catalogue has). It returns how many lectures it wrote.
func (s *Service) Rebuild(ctx context.Context, progress func(done int, id string)) (int, error) {
	if s.Catalogue == nil {
		return 0, lecture.Errorf(lecture.EINVALID, "no catalogue to rebuild")
	}
	objs, err := s.Store.List(ctx, lecture.BucketPreprocessed, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range objs {
		id, name, err := lecture.SplitKey(o.Key)
		if err != nil || name != ArtifactLecture || strings.HasPrefix(id, "_") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		// A full rewrite: the text is set again even when the row had one.
		row, err := s.Catalogue.GetLecture(ctx, id)
		if err == nil && row.Words > 0 {
			row.Words = 0
			if err := s.Catalogue.PutLecture(ctx, row); err != nil {
				return n, err
			}
		}
		if _, err := s.sync(ctx, id); err != nil {
			return n, err
		}
		n++
		if progress != nil {
			progress(n, id)
		}
	}
	return n, nil
}

// DeleteLecture removes a lecture and everything made from it: the raw
// input, every artifact, its cached summary and twin records, its
// in-memory index and its catalogue row (with its shares). A lecture still
// processing is refused (ECONFLICT): its stages would write again.
func (s *Service) DeleteLecture(ctx context.Context, id string) error {
	l, err := s.Lecture(ctx, id)
	if lecture.ErrorCode(err) == lecture.ENOTFOUND && s.Catalogue != nil {
		// A signed upload that never arrived has a row and nothing else.
		if row, rerr := s.Catalogue.GetLecture(ctx, id); rerr == nil && row.Status == lecture.StatusAwaitingUpload {
			return s.Catalogue.DeleteLecture(context.WithoutCancel(ctx), id)
		}
	}
	if err != nil {
		return err
	}
	if l.Status == lecture.StatusUploaded || l.Status == lecture.StatusProcessing {
		return lecture.Errorf(lecture.ECONFLICT, "lecture %s is still processing; delete it once it is ready or failed", id)
	}
	ctx = context.WithoutCancel(ctx)
	// The catalogue first: the lecture leaves the library at once, and a
	// crash below leaves objects that Reconcile or a second delete clears.
	if s.Catalogue != nil {
		if err := s.Catalogue.DeleteLecture(ctx, id); err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
			return err
		}
	}
	s.forgetCached(ctx, l)
	s.forgetIndex(id)
	if s.Inputs != nil { // the lecture's input profile (drift measures)
		if err := s.Inputs.Forget(ctx, id, l.CreatedAt, l.UpdatedAt); err != nil {
			return err
		}
	}
	raw, err := s.Store.List(ctx, lecture.BucketRaw, id+"/")
	if err != nil {
		return err
	}
	for _, o := range raw {
		if err := s.Store.Delete(ctx, lecture.BucketRaw, o.Key); err != nil {
			return err
		}
	}
	pre, err := s.Store.List(ctx, lecture.BucketPreprocessed, id+"/")
	if err != nil {
		return err
	}
	for _, o := range pre { // the lecture record last
		if path.Base(o.Key) != ArtifactLecture {
			if err := s.Store.Delete(ctx, lecture.BucketPreprocessed, o.Key); err != nil {
				return err
			}
		}
	}
	if err := s.Store.Delete(ctx, lecture.BucketPreprocessed, lecture.Key(id, ArtifactLecture)); err != nil {
		return err
	}
	if p, ok := s.Store.(interface {
		Prune(ctx context.Context, bucket, prefix string) error
	}); ok { // a filesystem store keeps folders: remove the lecture's
		_ = p.Prune(ctx, lecture.BucketRaw, id+"/")
		_ = p.Prune(ctx, lecture.BucketPreprocessed, id+"/")
	}
	return nil
}

// forgetCached deletes the cache entries made from a lecture: its summary
// (keyed by its sentences and the pipeline's summary options) and the twin
// records that name it.
func (s *Service) forgetCached(ctx context.Context, l *lecture.Lecture) {
	del, ok := s.Cache.(interface {
		Delete(ctx context.Context, key string) error
	})
	if s.Cache == nil || !ok {
		return
	}
	var ch Chunks
	if s.getJSON(ctx, l.ID, ArtifactChunks, &ch) == nil && len(ch.Sentences) > 0 {
		_ = del.Delete(ctx, s.summaryKey(ch.Sentences, lecture.SummarizeOptions{Ratio: s.Ratio}))
	}
	if l.ContentHash == "" {
		return
	}
	keys := []string{twinKey("segment", strconv.Itoa(s.ChunkTokens), l.ContentHash)}
	if raw, err := s.Store.List(ctx, lecture.BucketRaw, l.ID+"/"); err == nil {
		for _, o := range raw {
			keys = append(keys, twinKey("transcribe", s.transcriberVersion()+":"+strings.ToLower(path.Ext(o.Key)), l.ContentHash))
		}
	}
	version := "bm25"
	if s.Answerer != nil && s.Answerer.Embedder != nil {
		version += "+" + s.Answerer.Embedder.Model()
	}
	keys = append(keys, twinKey("index", version, l.ContentHash))
	for _, k := range keys {
		if b, ok := s.cacheGet(ctx, k); ok && string(b) == l.ID {
			_ = del.Delete(ctx, k)
		}
	}
}
