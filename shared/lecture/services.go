package lecture

import (
	"context"
	"io"
	"time"
)

// Buckets of the object store.
const (
	BucketRaw          = "raw-inputs"
	BucketPreprocessed = "preprocessed"
	BucketModels       = "models"
	// BucketEval holds the evaluation set (seeded from shared/data), the
	// nightly reports and the per-lecture input profiles drift is computed from.
	BucketEval = "eval"
)

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ContentType string    `json:"content_type,omitempty"`
	ETag        string    `json:"etag,omitempty"`
	Modified    time.Time `json:"modified"`
}

// ObjectStore keeps raw inputs and artifacts. Keys are "<lecture_id>/<name>".
// Put is atomic: readers see the old object, the new one, or none, never a
// half-written one. Get and Stat return an ENOTFOUND *Error for a missing key.
type ObjectStore interface {
	Put(ctx context.Context, bucket, key string, r io.Reader, size int64, contentType string) error
	Get(ctx context.Context, bucket, key string) (io.ReadCloser, error)
	Stat(ctx context.Context, bucket, key string) (ObjectInfo, error)
	List(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error)
	Delete(ctx context.Context, bucket, key string) error
}

// Cache keeps computed results such as summaries. A miss is (nil, false, nil).
type Cache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Name() string
}

// SummarizeOptions says how long a summary should be. MaxWords wins over Ratio
// when set; Ratio is the share of the input's words to keep (0.3 by default).
type SummarizeOptions struct {
	Ratio    float64 `json:"ratio,omitempty"`
	MaxWords int     `json:"max_words,omitempty"`
}

// Summarizer turns a lecture's sentences into a bullet summary.
type Summarizer interface {
	// Name is the engine ("extractive", "bart"); Model its model identity ("" when none).
	Name() string
	Model() string
	Summarize(ctx context.Context, sentences []Sentence, opts SummarizeOptions) (*Summary, error)
}

// TranscribeOptions steer a transcription. Language "" lets the model detect it.
type TranscribeOptions struct {
	Language    string  `json:"language,omitempty"`
	Task        string  `json:"task,omitempty"` // transcribe (default) or translate
	Temperature float64 `json:"temperature,omitempty"`
	// Batch is how many 30-second windows an engine that can batch decodes
	// together for this request (1: the sequential exact-parity path; 0:
	// the engine's setting, TRANSCEPT_WHISPER_BATCH).
	Batch int `json:"batch,omitempty"`
}

// Progress reports how much of a long job is done, in the job's own units
// (seconds of audio for a transcription); total is 0 while unknown.
type Progress func(done, total float64)

// Transcriber turns a recording into a timestamped transcript. path is a
// local file in any container ffmpeg reads.
type Transcriber interface {
	Name() string
	Model() string
	Transcribe(ctx context.Context, path string, opts TranscribeOptions, progress Progress) (*Transcript, error)
}
