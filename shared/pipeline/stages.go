package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/shared/transcript"
)

// Upload is a transcript (or, once a transcription engine is configured, a
// recording) handed to the pipeline.
type Upload struct {
	Name   string // file name, used for format detection and the raw object's name
	Title  string
	Format transcript.Format
	Data   []byte
	Owner  string // the uploader's user id ("" in single-user mode)
}

// CreateLecture validates an upload, stores it under raw-inputs/<id>/ and
// returns the lecture and the event that starts its processing. Nothing is
// written when the upload is invalid.
func (s *Service) CreateLecture(ctx context.Context, u Upload) (*lecture.Lecture, lecture.Event, error) {
	if _, err := ParseTranscript(u.Data, u.Name, u.Format); err != nil {
		return nil, lecture.Event{}, err
	}
	id := lecture.NewLectureID()
	name := rawName(u.Name, u.Data)
	hash := Hash(u.Data)
	now := s.now()
	l := &lecture.Lecture{ID: id, Title: strings.TrimSpace(u.Title), Owner: u.Owner, Status: lecture.StatusUploaded, ContentHash: hash, CreatedAt: now, UpdatedAt: now}
	if l.Title == "" {
		l.Title = strings.TrimSuffix(name, path.Ext(name))
	}
	if err := s.admit(ctx, u.Owner, 0); err != nil {
		return nil, lecture.Event{}, err
	}
	// The lecture record goes first, so that a status request never finds a
	// raw input without it; the raw input is what triggers processing.
	if err := s.putJSON(ctx, id, ArtifactLecture, l); err != nil {
		return nil, lecture.Event{}, err
	}
	key := lecture.Key(id, name)
	pctx, end := storeSpan(ctx, "put", lecture.BucketRaw, key)
	err := s.Store.Put(pctx, lecture.BucketRaw, key, bytes.NewReader(u.Data), int64(len(u.Data)), "text/plain; charset=utf-8")
	end(err)
	if err != nil {
		_ = s.Store.Delete(ctx, lecture.BucketPreprocessed, id+"/"+ArtifactLecture)
		return nil, lecture.Event{}, err
	}
	s.record(ctx, l, catalogue.Lecture{Bytes: int64(len(u.Data))})
	s.countLecture(id, metrics.LectureUploaded)
	ev := lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: id, Bucket: lecture.BucketRaw, Key: key, ContentHash: hash, Size: int64(len(u.Data)), Owner: u.Owner})
	return l, stamp(ctx, ev), nil
}

// rawName keeps a safe version of the uploaded file's name: the characters
// object names allow, nothing of any path.
func rawName(name string, data []byte) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	var b strings.Builder
	// Accented letters keep their base letter ("été" → "ete"): decompose,
	// then the combining marks fall out with everything else not allowed.
	for _, r := range norm.NFD.String(name) {
		if r < 128 && (r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("._- +(),@=", r)) {
			b.WriteRune(r)
		}
	}
	n := strings.TrimSpace(b.String())
	if strings.HasPrefix(n, ".") && len(n) > 1 && strings.Count(n, ".") == 1 {
		n = "lecture" + n // only the extension survived ("講義.txt")
	}
	if len(n) > 100 {
		n = n[len(n)-100:] // the end, which holds the extension
	}
	// after the cut, which can leave a '.', '-' or space in front
	n = strings.TrimLeft(n, ".- ")
	if n == "" || lecture.ValidateKey("x/"+n) != nil {
		n = "transcript" + map[transcript.Format]string{transcript.SRT: ".srt", transcript.VTT: ".vtt", transcript.JSON: ".json"}[transcript.Detect("", data)]
		if path.Ext(n) == "" {
			n += ".txt"
		}
	}
	return n
}

// HandleUploaded is the transcribe stage: it turns the raw input into
// transcript.json. Transcript files are parsed; recordings need a
// transcription engine, which this build reports as unavailable.
func (s *Service) HandleUploaded(ctx context.Context, e lecture.Event) (out []lecture.Event, err error) {
	defer s.Sync(ctx, e.Data.LectureID)
	start := time.Now()
	defer func() { s.Metrics.ObserveStage("transcribe", start, err) }()
	id := e.Data.LectureID
	defer func() {
		if err == nil {
			s.countStage(id, "transcribe", metrics.StageDone)
		}
	}()
	var have lecture.Transcript
	if s.getJSON(ctx, id, ArtifactTranscript, &have) == nil && have.ContentHash == e.Data.ContentHash {
		return []lecture.Event{s.next(lecture.TranscriptReady, e, ArtifactTranscript)}, nil // redelivery: done already
	}
	err = s.once(ctx, e, "transcribe", ArtifactTranscript, s.transcriberVersion()+":"+strings.ToLower(path.Ext(e.Data.Key)), func() error {
		tr, err := s.readTranscript(ctx, e)
		if err != nil {
			return err
		}
		tr.LectureID = id
		tr.ContentHash = e.Data.ContentHash
		return s.putJSON(ctx, id, ArtifactTranscript, tr)
	})
	if err != nil {
		return nil, err
	}
	return []lecture.Event{s.next(lecture.TranscriptReady, e, ArtifactTranscript)}, nil
}

// readTranscript reads the raw input: a transcript file is parsed, a
// recording transcribed.
func (s *Service) readTranscript(ctx context.Context, e lecture.Event) (*lecture.Transcript, error) {
	sctx, end := storeSpan(ctx, "get", e.Data.Bucket, e.Data.Key)
	rc, err := s.Store.Get(sctx, e.Data.Bucket, e.Data.Key)
	end(err)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	head, _ := br.Peek(512)
	if IsMedia(e.Data.Key, head) {
		return s.transcribe(ctx, e.Data.LectureID, e.Data.Key, br)
	}
	data, err := io.ReadAll(io.LimitReader(br, transcript.MaxBytes+1))
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "reading %s/%s", e.Data.Bucket, e.Data.Key)
	}
	return ParseTranscript(data, e.Data.Key, transcript.Auto)
}

func (s *Service) transcriberVersion() string {
	if s.Transcriber == nil {
		return "none"
	}
	return s.Transcriber.Name() + ":" + s.Transcriber.Model() + ":" + s.Language
}

// HandleTranscript is the segment stage: cleaned sentences and model-sized
// chunks, in chunks.json.
func (s *Service) HandleTranscript(ctx context.Context, e lecture.Event) (out []lecture.Event, err error) {
	defer s.Sync(ctx, e.Data.LectureID)
	start := time.Now()
	defer func() { s.Metrics.ObserveStage("segment", start, err) }()
	id := e.Data.LectureID
	defer func() {
		if err == nil {
			s.countStage(id, "segment", metrics.StageDone)
		}
	}()
	var have Chunks
	if s.getJSON(ctx, id, ArtifactChunks, &have) == nil && have.ContentHash == e.Data.ContentHash && have.MaxTokens == s.ChunkTokens {
		return []lecture.Event{s.next(lecture.ChunksReady, e, ArtifactChunks)}, nil
	}
	err = s.once(ctx, e, "segment", ArtifactChunks, strconv.Itoa(s.ChunkTokens), func() error {
		var tr lecture.Transcript
		if err := s.getJSON(ctx, id, ArtifactTranscript, &tr); err != nil {
			return err
		}
		sents, err := text.SentencesContext(ctx, &tr)
		if err != nil {
			return err
		}
		if len(sents) == 0 {
			return lecture.Errorf(lecture.EINVALID, "lecture %s: the transcript has no words", id)
		}
		chunks, err := text.ChunkContext(ctx, sents, s.ChunkTokens, s.Tokens)
		if err != nil {
			return err
		}
		ch := Chunks{LectureID: id, ContentHash: e.Data.ContentHash, MaxTokens: s.ChunkTokens, Sentences: sents, Chunks: chunks}
		if err := s.putJSON(ctx, id, ArtifactChunks, ch); err != nil {
			return err
		}
		s.observeInput(ctx, id, &tr)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return []lecture.Event{s.next(lecture.ChunksReady, e, ArtifactChunks)}, nil
}

// HandleChunksSummarize is the summarize stage.
func (s *Service) HandleChunksSummarize(ctx context.Context, e lecture.Event) (_ []lecture.Event, err error) {
	id := e.Data.LectureID
	defer s.Sync(ctx, id)
	defer func() {
		if err == nil {
			s.countStage(id, "summarize", metrics.StageDone)
		}
	}()
	var have SummaryArtifact
	if s.getJSON(ctx, id, ArtifactSummary, &have) == nil && have.ContentHash == e.Data.ContentHash && have.Summary != nil && have.ModelVersion == modelVersion(s.Summarizer) {
		return []lecture.Event{s.next(lecture.SummaryReady, e, ArtifactSummary)}, nil
	}
	var tr lecture.Transcript
	if err := s.getJSON(ctx, id, ArtifactTranscript, &tr); err != nil {
		return nil, err
	}
	sum, _, err := s.Summarize(ctx, &tr, lecture.SummarizeOptions{Ratio: s.Ratio})
	if err != nil {
		return nil, err
	}
	if err := s.putJSON(ctx, id, ArtifactSummary, SummaryArtifact{LectureID: id, ContentHash: e.Data.ContentHash, ModelVersion: modelVersion(s.Summarizer), Summary: sum}); err != nil {
		return nil, err
	}
	ev := s.next(lecture.SummaryReady, e, ArtifactSummary)
	ev.Data.ModelVersion = modelVersion(s.Summarizer)
	return []lecture.Event{ev}, nil
}

// HandleChunksIndex is the index stage: the retrieval index in index.json.
func (s *Service) HandleChunksIndex(ctx context.Context, e lecture.Event) (out []lecture.Event, err error) {
	defer s.Sync(ctx, e.Data.LectureID)
	start := time.Now()
	defer func() { s.Metrics.ObserveStage("index", start, err) }()
	id := e.Data.LectureID
	defer func() {
		if err == nil {
			s.countStage(id, "index", metrics.StageDone)
		}
	}()
	var have IndexArtifact
	if s.getJSON(ctx, id, ArtifactIndex, &have) == nil && have.ContentHash == e.Data.ContentHash && have.Index != nil &&
		(s.Answerer.Embedder == nil || have.EmbedModel == s.Answerer.Embedder.Model()) {
		return []lecture.Event{s.next(lecture.IndexReady, e, ArtifactIndex)}, nil
	}
	version := "bm25"
	if s.Answerer.Embedder != nil {
		version += "+" + s.Answerer.Embedder.Model()
	}
	err = s.once(ctx, e, "index", ArtifactIndex, version, func() error {
		var ch Chunks
		if err := s.getJSON(ctx, id, ArtifactChunks, &ch); err != nil {
			return err
		}
		ix, err := retrieval.NewIndexContext(ctx, id, ch.Sentences)
		if err != nil {
			return err
		}
		if s.Answerer.Embedder != nil {
			if err := s.embed(ctx, ix); err != nil {
				return err
			}
		}
		return s.putJSON(ctx, id, ArtifactIndex, IndexArtifact{ContentHash: e.Data.ContentHash, Index: ix})
	})
	if err != nil {
		return nil, err
	}
	s.forgetIndex(id)
	return []lecture.Event{s.next(lecture.IndexReady, e, ArtifactIndex)}, nil
}

// DeadLetter records an event that failed every delivery in failed.json,
// where the lecture's status shows it.
func (s *Service) DeadLetter(ctx context.Context, e lecture.Event, cause error) error {
	f := Failure{Stage: stageOf(e.Type), Event: e.Type, EventID: e.ID, Code: lecture.ErrorCode(cause), Reason: cause.Error(), Time: s.now()}
	if err := s.putJSON(ctx, e.Data.LectureID, ArtifactFailed, f); err != nil {
		s.Log.Error("dead-letter record not written", "lecture", e.Data.LectureID, "err", err)
		return err
	}
	s.countLecture(e.Data.LectureID, metrics.LectureFailed)
	s.countStage(e.Data.LectureID, f.Stage, metrics.StageFailed)
	s.Sync(ctx, e.Data.LectureID)
	return nil
}

func (s *Service) next(typ string, from lecture.Event, artifact string) lecture.Event {
	id := from.Data.LectureID
	return lecture.NewEvent(typ, lecture.Ref{LectureID: id, Bucket: lecture.BucketPreprocessed, Key: id + "/" + artifact, ContentHash: from.Data.ContentHash, Size: from.Data.Size, Owner: from.Data.Owner})
}

func modelVersion(sm lecture.Summarizer) string {
	if sm.Model() == "" {
		return sm.Name()
	}
	return sm.Name() + ":" + sm.Model()
}

// stageOf names the stage that consumes an event type.
func stageOf(typ string) string {
	switch typ {
	case lecture.LectureUploaded:
		return "transcribe"
	case lecture.TranscriptReady:
		return "segment"
	case lecture.ChunksReady:
		return "summarize/index"
	}
	return typ
}

// Stages in pipeline order, with the artifact that marks each done.
var Stages = []struct{ Name, Artifact string }{
	{"transcribe", ArtifactTranscript},
	{"segment", ArtifactChunks},
	{"summarize", ArtifactSummary},
	{"index", ArtifactIndex},
}

// Lecture reports a lecture's status, composed from its artifacts so that
// stages never contend for one status record.
func (s *Service) Lecture(ctx context.Context, id string) (*lecture.Lecture, error) {
	if err := lecture.ValidateLectureID(id); err != nil {
		return nil, err
	}
	if strings.HasPrefix(id, "_") {
		return nil, lecture.Errorf(lecture.ENOTFOUND, "lecture %q not found", id)
	}
	var l lecture.Lecture
	if err := s.getJSON(ctx, id, ArtifactLecture, &l); err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return nil, lecture.Errorf(lecture.ENOTFOUND, "lecture %q not found", id)
		}
		return nil, err
	}
	objs, err := s.Store.List(ctx, lecture.BucketPreprocessed, id+"/")
	if err != nil {
		return nil, err
	}
	have := map[string]time.Time{}
	for _, o := range objs {
		have[path.Base(o.Key)] = o.Modified
	}
	l.Stages = map[string]lecture.Stage{}
	l.Artifacts = map[string]string{}
	done := 0
	for _, st := range Stages {
		if t, ok := have[st.Artifact]; ok {
			l.Stages[st.Name] = lecture.Stage{Status: lecture.StatusReady, Progress: 1}
			l.Artifacts[st.Name] = lecture.BucketPreprocessed + "/" + id + "/" + st.Artifact
			if t.After(l.UpdatedAt) {
				l.UpdatedAt = t
			}
			done++
		} else {
			l.Stages[st.Name] = lecture.Stage{Status: lecture.StatusProcessing}
		}
	}
	if _, ok := have[ArtifactProgress]; ok && l.Stages["transcribe"].Status != lecture.StatusReady {
		var p ProgressRecord
		if s.getJSON(ctx, id, ArtifactProgress, &p) == nil && p.Total > 0 {
			l.Stages["transcribe"] = lecture.Stage{Status: lecture.StatusProcessing, Progress: min(1, p.Done/p.Total),
				Message: fmt.Sprintf("%s of %s of audio transcribed", lecture.Clock(p.Done), lecture.Clock(p.Total))}
		}
	}
	switch {
	case done == len(Stages):
		l.Status = lecture.StatusReady
	default:
		l.Status = lecture.StatusProcessing
	}
	if _, ok := have[ArtifactFailed]; ok {
		var f Failure
		if err := s.getJSON(ctx, id, ArtifactFailed, &f); err == nil {
			l.Status = lecture.StatusFailed
			l.Error = &lecture.Error{Code: f.Code, Message: f.Stage + " failed: " + f.Reason}
			for _, st := range Stages {
				if l.Stages[st.Name].Status != lecture.StatusReady && strings.Contains(f.Stage, st.Name) {
					l.Stages[st.Name] = lecture.Stage{Status: lecture.StatusFailed, Message: f.Reason}
				}
			}
		}
	}
	return &l, nil
}

// LectureSummary returns the stored summary of a lecture.
func (s *Service) LectureSummary(ctx context.Context, id string) (*lecture.Summary, error) {
	if _, err := s.Lecture(ctx, id); err != nil {
		return nil, err
	}
	var a SummaryArtifact
	if err := s.getJSON(ctx, id, ArtifactSummary, &a); err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return nil, lecture.Errorf(lecture.ECONFLICT, "lecture %s has no summary yet: it is still processing", id)
		}
		return nil, err
	}
	return a.Summary, nil
}

// Ask answers a question about a stored lecture.
func (s *Service) Ask(ctx context.Context, id, question string) (*lecture.Answer, error) {
	return s.AskStream(ctx, id, question, nil)
}

// AskStream is Ask with the answer's text streamed to onToken as a language
// model produces it (the extractive answerer streams nothing).
func (s *Service) AskStream(ctx context.Context, id, question string, onToken func(string)) (*lecture.Answer, error) {
	if err := retrieval.ValidateQuestion(question); err != nil {
		return nil, err
	}
	ix, err := s.index(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.answer(ctx, ix, question, onToken)
}

// AskText answers a question about a transcript given inline.
func (s *Service) AskText(ctx context.Context, tr *lecture.Transcript, question string) (*lecture.Answer, error) {
	return s.AskTextStream(ctx, tr, question, nil)
}

// AskTextStream is AskText with streaming, as AskStream.
func (s *Service) AskTextStream(ctx context.Context, tr *lecture.Transcript, question string, onToken func(string)) (*lecture.Answer, error) {
	if err := retrieval.ValidateQuestion(question); err != nil {
		return nil, err
	}
	sents, err := text.SentencesContext(ctx, tr)
	if err != nil {
		return nil, err
	}
	if len(sents) == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "the transcript has no words to search")
	}
	ix, err := retrieval.NewIndexContext(ctx, "", sents)
	if err != nil {
		return nil, err
	}
	if s.Answerer.Embedder != nil {
		if err := s.embed(ctx, ix); err != nil {
			return nil, err
		}
	}
	return s.answer(ctx, ix, question, onToken)
}

func (s *Service) answer(ctx context.Context, ix *retrieval.Index, q string, onToken func(string)) (a *lecture.Answer, err error) {
	start := time.Now()
	defer func() { s.Metrics.ObserveStage("answer", start, err) }()
	if s.LM != nil {
		mctx, end := s.modelSpan(ctx, "answer", s.LM.Name(), "")
		defer func() { end(err) }()
		return s.LM.Answer(mctx, ix, q, onToken)
	}
	mctx, end := s.modelSpan(ctx, "answer", s.Answerer.Name(), "")
	defer func() { end(err) }()
	return s.Answerer.Answer(mctx, ix, q)
}

const maxIndexes = 64

// index loads a lecture's index from the store once and keeps it in memory.
func (s *Service) index(ctx context.Context, id string) (*retrieval.Index, error) {
	if err := lecture.ValidateLectureID(id); err != nil {
		return nil, err
	}
	s.ixMu.Lock()
	ix := s.indexes[id]
	s.ixMu.Unlock()
	if ix != nil {
		return ix, nil
	}
	v, err, _ := s.flight.Do("index:"+id, func() (any, error) {
		var a IndexArtifact
		if err := s.getJSON(ctx, id, ArtifactIndex, &a); err != nil {
			if lecture.ErrorCode(err) != lecture.ENOTFOUND {
				return nil, err
			}
			l, lerr := s.Lecture(ctx, id)
			switch {
			case lerr != nil:
				return nil, lerr
			case l.Status == lecture.StatusFailed:
				return nil, lecture.Errorf(lecture.ECONFLICT, "lecture %s failed to process: %s", id, l.Error.Message)
			default:
				return nil, lecture.Errorf(lecture.ECONFLICT, "lecture %s is still processing; ask again when its status is ready", id)
			}
		}
		if a.Index == nil {
			return nil, lecture.Errorf(lecture.EINTERNAL, "lecture %s: index.json is empty", id)
		}
		a.Index.Build()
		s.ixMu.Lock()
		if s.indexes == nil || len(s.indexes) >= maxIndexes {
			s.indexes = map[string]*retrieval.Index{}
		}
		s.indexes[id] = a.Index
		s.ixMu.Unlock()
		return a.Index, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*retrieval.Index), nil
}

func (s *Service) forgetIndex(id string) {
	s.ixMu.Lock()
	delete(s.indexes, id)
	s.ixMu.Unlock()
}

// LectureTranscript returns the stored transcript of a lecture.
func (s *Service) LectureTranscript(ctx context.Context, id string) (*lecture.Transcript, error) {
	if _, err := s.Lecture(ctx, id); err != nil {
		return nil, err
	}
	var tr lecture.Transcript
	if err := s.getJSON(ctx, id, ArtifactTranscript, &tr); err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return nil, lecture.Errorf(lecture.ECONFLICT, "lecture %s has no transcript yet: it is still processing", id)
		}
		return nil, err
	}
	return &tr, nil
}

// Ingest registers an object that arrived in raw-inputs (a bucket
// notification) and returns the event that starts its processing. The
// content hash is the object's ETag, which MinIO derives from the content,
// so a re-upload of identical bytes is recognised by every stage without
// reading a recording twice. The lecture record is written when missing.
func (s *Service) Ingest(ctx context.Context, bucket, key, etag string) (lecture.Event, error) {
	if bucket != lecture.BucketRaw {
		return lecture.Event{}, lecture.Errorf(lecture.EINVALID, "object %s/%s: only uploads to %s start the pipeline", bucket, key, lecture.BucketRaw)
	}
	id, name, err := lecture.SplitKey(key)
	if err != nil {
		return lecture.Event{}, err
	}
	if strings.HasPrefix(id, "_") {
		return lecture.Event{}, lecture.Errorf(lecture.EINVALID, "object %s/%s: lecture ids starting with _ are reserved", bucket, key)
	}
	sctx, end := storeSpan(ctx, "stat", bucket, key)
	info, err := s.Store.Stat(sctx, bucket, key)
	end(err)
	if err != nil {
		return lecture.Event{}, err
	}
	if etag == "" {
		etag = info.ETag
	}
	hash := "etag:" + strings.Trim(etag, `"`)
	var l lecture.Lecture
	if err := s.getJSON(ctx, id, ArtifactLecture, &l); lecture.ErrorCode(err) == lecture.ENOTFOUND {
		now := s.now()
		l = lecture.Lecture{ID: id, Title: strings.TrimSuffix(name, path.Ext(name)), Status: lecture.StatusUploaded, ContentHash: hash, CreatedAt: now, UpdatedAt: now}
		extra := catalogue.Lecture{Bytes: info.Size, MediaType: info.ContentType}
		if s.Catalogue != nil {
			// A direct-to-bucket upload: the row written when the upload
			// URL was signed names the owner and title; nothing in the
			// object itself can.
			if row, err := s.Catalogue.GetLecture(ctx, id); err == nil && row.Status == lecture.StatusAwaitingUpload {
				l.Owner = row.Owner
				if row.Title != "" {
					l.Title = row.Title
				}
				l.CreatedAt = row.CreatedAt
			}
		}
		if IsMedia(name, nil) {
			extra.MediaType = mediaType(name)
		} else {
			extra.MediaType = ""
		}
		if err := s.putJSON(ctx, id, ArtifactLecture, l); err != nil {
			return lecture.Event{}, err
		}
		s.record(ctx, &l, extra)
		s.countLecture(id, metrics.LectureUploaded)
	} else if err != nil {
		return lecture.Event{}, err
	}
	return stamp(ctx, lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: id, Bucket: bucket, Key: key, ContentHash: hash, Size: info.Size, Owner: l.Owner})), nil
}

// Preload loads a lecture's index into memory ahead of its first question.
func (s *Service) Preload(ctx context.Context, id string) error {
	s.forgetIndex(id)
	_, err := s.index(ctx, id)
	return err
}
