// Package pipeline is the code of the pipeline stages and of the requests
// the API serves: summarise, ask, upload, status. Functions, the local
// server and the CLI all call it; it knows the domain and the interfaces of
// the store, cache and engines, never their client libraries.
package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/text"
	"github.com/transcept/transcept/shared/tracing"
	"github.com/transcept/transcept/shared/transcript"
)

// Artifact names under preprocessed/<lecture_id>/.
const (
	ArtifactLecture    = "lecture.json"
	ArtifactTranscript = "transcript.json"
	ArtifactChunks     = "chunks.json"
	ArtifactSummary    = "summary.json"
	ArtifactIndex      = "index.json"
	ArtifactFailed     = "failed.json"
)

// Service runs the stages and requests over one store, cache and set of engines.
type Service struct {
	Store      lecture.ObjectStore
	Cache      lecture.Cache
	Summarizer lecture.Summarizer
	Answerer   *retrieval.Answerer
	// LM answers from the retrieved passages with a language model; nil:
	// the extractive Answerer answers.
	LM GroundedAnswerer
	// Transcriber turns recordings into transcripts; nil: recordings are refused.
	Transcriber lecture.Transcriber
	// Probe checks that a local file is a recording with an audio track
	// (ffprobe) before an upload is accepted; nil accepts what IsMedia says.
	// It returns the recording's length in seconds (0 when unknown).
	Probe func(ctx context.Context, path string) (float64, error)
	// Admit decides whether an owner may upload now (quotas); mediaSeconds
	// is the recording's length (0 for transcripts). nil admits everything.
	Admit func(ctx context.Context, owner string, mediaSeconds float64) error
	// Catalogue receives every lecture's status for listing and search
	// (nil: none; status is then only in the object store).
	Catalogue Catalogue
	Language  string // default transcription language ("" detects)
	// MaxMediaBytes bounds an uploaded recording; TempDir holds its working copy.
	MaxMediaBytes int64
	TempDir       string
	Metrics       *metrics.Metrics
	Log           *slog.Logger
	Tokens        text.TokenCounter // the summariser model's tokenizer; nil: estimate
	// ChunkTokens is the summarisation window; Ratio the default summary length.
	ChunkTokens int
	Ratio       float64
	CacheTTL    time.Duration
	Now         func() time.Time
	// ModelVersions names the model each task runs ("summarize",
	// "transcribe", "answer"): the registry's name@version when a setting
	// named the registry; model-run spans carry it.
	ModelVersions map[string]string
	// Inputs measures each lecture's input for drift (nil: not measured).
	Inputs InputRecorder

	flight  singleflight.Group
	ixMu    sync.Mutex
	indexes map[string]*retrieval.Index // lecture id -> loaded index (bounded)
	// counted holds "outcome/lecture id" for the funnel outcomes this
	// process has counted (ready, failed), so that summarize and index
	// ending together, or two dead letters, count a lecture once.
	counted sync.Map
}

// countLecture counts a lecture reaching a funnel outcome
// (transcept_lectures_total) once per process. Each process counts the
// transitions it sees: locally one process sees them all; on Knative each
// function counts its own (uploads in the gateway, ready in summarize or
// index, failed wherever the dead letter lands).
func (s *Service) countLecture(id, outcome string) {
	if outcome != metrics.LectureUploaded {
		if _, dup := s.counted.LoadOrStore(outcome+"/"+id, struct{}{}); dup {
			return
		}
	}
	s.Metrics.CountLecture(outcome)
}

// countStage counts a lecture finishing a stage (done) or dead-lettered in
// it (failed) once per process: transcept_stage_lectures_total, the funnel
// per stage.
func (s *Service) countStage(id, stage, outcome string) {
	if _, dup := s.counted.LoadOrStore(stage+"/"+outcome+"/"+id, struct{}{}); dup {
		return
	}
	s.Metrics.CountStageLecture(stage, outcome)
}

// GroundedAnswerer answers from a lecture's index with a language model,
// streaming its text to onToken (which may be nil).
type GroundedAnswerer interface {
	Answer(ctx context.Context, ix *retrieval.Index, question string, onToken func(string)) (*lecture.Answer, error)
	Name() string
}

// Chunks is the segment stage's artifact: the cleaned sentences and the
// model-sized windows over them.
type Chunks struct {
	LectureID   string             `json:"lecture_id"`
	ContentHash string             `json:"content_hash"`
	MaxTokens   int                `json:"max_tokens"`
	Sentences   []lecture.Sentence `json:"sentences"`
	Chunks      []lecture.Chunk    `json:"chunks"`
}

// SummaryArtifact is summary.json: the summary and the content it summarises.
type SummaryArtifact struct {
	LectureID    string `json:"lecture_id"`
	ContentHash  string `json:"content_hash"`
	ModelVersion string `json:"model_version"` // engine[:model] that wrote it
	*lecture.Summary
}

// IndexArtifact is index.json.
type IndexArtifact struct {
	ContentHash string `json:"content_hash"`
	*retrieval.Index
}

// Failure is failed.json, written by the dead-letter sink.
type Failure struct {
	Stage   string    `json:"stage"`
	Event   string    `json:"event_type"`
	EventID string    `json:"event_id"`
	Code    string    `json:"code"`
	Reason  string    `json:"reason"`
	Time    time.Time `json:"time"`
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now().UTC()
}

// Hash is the content hash used for idempotency and cache keys.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ParseTranscript reads a transcript in any supported format; name (a file
// name, possibly empty) helps detection.
func ParseTranscript(data []byte, name string, format transcript.Format) (*lecture.Transcript, error) {
	if format == "" || format == transcript.Auto {
		format = transcript.Detect(name, data)
	}
	return transcript.Parse(data, format)
}

// Summarize summarises a transcript, through the cache: identical requests
// (same engine, model, parameters and normalised text) compute once, even
// when they arrive together. cached reports a cache hit.
func (s *Service) Summarize(ctx context.Context, tr *lecture.Transcript, opts lecture.SummarizeOptions) (sum *lecture.Summary, cached bool, err error) {
	start := time.Now()
	defer func() { s.Metrics.ObserveStage("summarize", start, err) }()
	if opts.Ratio == 0 && opts.MaxWords == 0 {
		opts.Ratio = s.Ratio
	}
	sents, err := text.SentencesContext(ctx, tr)
	if err != nil {
		return nil, false, err
	}
	if len(sents) == 0 {
		return nil, false, lecture.Errorf(lecture.EINVALID, "the transcript has no words to summarise")
	}
	key := s.summaryKey(sents, opts)
	if b, ok := s.cacheGet(ctx, key); ok {
		var out lecture.Summary
		if json.Unmarshal(b, &out) == nil {
			return &out, true, nil
		}
	}
	v, err, _ := s.flight.Do(key, func() (any, error) {
		mctx, end := s.modelSpan(ctx, "summarize", s.Summarizer.Name(), s.Summarizer.Model())
		out, err := s.Summarizer.Summarize(mctx, sents, opts)
		if err == nil && out != nil && tracing.On() {
			tracing.Annotate(mctx, tracing.Int("transcept.model.input_sentences", len(sents)), tracing.Int("transcept.model.input_words", out.InputWords),
				tracing.Int("transcept.model.output_words", out.OutputWords), tracing.Int("transcept.model.bullets", len(out.Bullets)))
		}
		end(err)
		if err != nil {
			return nil, err
		}
		if b, err := json.Marshal(out); err == nil {
			s.cacheSet(ctx, key, b)
		}
		return out, nil
	})
	if err != nil {
		return nil, false, err
	}
	return v.(*lecture.Summary), false, nil
}

// SummarizeText summarises a transcript given as text in any format.
func (s *Service) SummarizeText(ctx context.Context, raw string, format transcript.Format, opts lecture.SummarizeOptions) (*lecture.Summary, bool, error) {
	tr, err := ParseTranscript([]byte(raw), "", format)
	if err != nil {
		return nil, false, err
	}
	return s.Summarize(ctx, tr, opts)
}

// summaryKey covers engine, model, parameters and the normalised text.
func (s *Service) summaryKey(sents []lecture.Sentence, opts lecture.SummarizeOptions) string {
	h := sha256.New()
	fmt.Fprintf(h, "v1\x00%s\x00%s\x00%s\x00%d\x00%d\x00", s.Summarizer.Name(), s.Summarizer.Model(),
		strconv.FormatFloat(opts.Ratio, 'g', -1, 64), opts.MaxWords, s.ChunkTokens)
	for _, x := range sents {
		fmt.Fprintf(h, "%g\x00%g\x00%s\x00", x.Span.Start, x.Span.End, x.Text)
	}
	return "summary:" + hex.EncodeToString(h.Sum(nil))
}

// CacheKey derives a cache key for a request from the engine's identity,
// the default parameters and the request's own bytes.
func (s *Service) CacheKey(kind string, parts ...[]byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%g\x00%d\x00", kind, s.Summarizer.Name(), s.Summarizer.Model(), s.Ratio, s.ChunkTokens)
	for _, p := range parts {
		fmt.Fprintf(h, "%d\x00", len(p))
		h.Write(p)
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil))
}

// CacheGet and CacheSet use the summary cache for whole responses, with
// the same metrics and the same tolerance of an unavailable cache.
func (s *Service) CacheGet(ctx context.Context, key string) ([]byte, bool) {
	return s.cacheGet(ctx, key)
}
func (s *Service) CacheSet(ctx context.Context, key string, b []byte) { s.cacheSet(ctx, key, b) }

func (s *Service) cacheGet(ctx context.Context, key string) ([]byte, bool) {
	if s.Cache == nil {
		return nil, false
	}
	cctx, end := s.cacheSpan(ctx, "get")
	b, ok, err := s.Cache.Get(cctx, key)
	tracing.Annotate(cctx, tracing.Bool("transcept.cache.hit", ok))
	end(err)
	switch {
	case err != nil:
		s.Metrics.CountCache(s.Cache.Name(), "error")
		s.Log.Warn("cache unavailable; computing without it", "cache", s.Cache.Name(), "err", err)
		return nil, false
	case ok:
		s.Metrics.CountCache(s.Cache.Name(), "hit")
		return b, true
	default:
		s.Metrics.CountCache(s.Cache.Name(), "miss")
		return nil, false
	}
}

func (s *Service) cacheSet(ctx context.Context, key string, b []byte) {
	if s.Cache == nil {
		return
	}
	cctx, end := s.cacheSpan(ctx, "set")
	err := s.Cache.Set(cctx, key, b, s.CacheTTL)
	end(err)
	if err != nil {
		s.Metrics.CountCache(s.Cache.Name(), "error")
		s.Log.Warn("cache write failed", "cache", s.Cache.Name(), "err", err)
	}
}

// putJSON writes v as an artifact of the lecture, atomically.
func (s *Service) putJSON(ctx context.Context, id, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "encoding %s", name)
	}
	ctx, end := storeSpan(ctx, "put", lecture.BucketPreprocessed, id+"/"+name)
	err = s.Store.Put(ctx, lecture.BucketPreprocessed, id+"/"+name, bytes.NewReader(b), int64(len(b)), "application/json")
	end(err)
	return err
}

// getJSON reads an artifact of the lecture into v.
func (s *Service) getJSON(ctx context.Context, id, name string, v any) (err error) {
	ctx, end := storeSpan(ctx, "get", lecture.BucketPreprocessed, id+"/"+name)
	defer func() { end(err) }()
	rc, err := s.Store.Get(ctx, lecture.BucketPreprocessed, id+"/"+name)
	if err != nil {
		return err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "reading %s of lecture %s", name, id)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "decoding %s of lecture %s", name, id)
	}
	return nil
}
