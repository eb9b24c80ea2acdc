package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/events"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/store"
)

// ArtifactProgress records how far a long stage has come.
const ArtifactProgress = "progress.json"

// ProgressRecord is progress.json.
type ProgressRecord struct {
	Stage   string    `json:"stage"`
	Done    float64   `json:"done"`
	Total   float64   `json:"total"`
	Message string    `json:"message,omitempty"`
	Updated time.Time `json:"updated"`
}

// NoTranscriber is the error of a recording that arrives where no
// transcription model is configured.
func NoTranscriber() error {
	return lecture.Errorf(lecture.EUNAVAILABLE, "this server has no transcription model: set TRANSCEPT_WHISPER_MODEL to a Whisper ONNX folder (make models fetches one), or upload a transcript (text, SRT, WebVTT, JSON)")
}

// TranscribeFile runs the transcriber on a local recording.
func (s *Service) TranscribeFile(ctx context.Context, file string, opts lecture.TranscribeOptions, progress lecture.Progress) (tr *lecture.Transcript, err error) {
	if s.Transcriber == nil {
		return nil, NoTranscriber()
	}
	start := time.Now()
	defer func() { s.Metrics.ObserveStage("transcribe", start, err) }()
	if progress == nil {
		progress = func(float64, float64) {}
	}
	tr, err = s.Transcriber.Transcribe(ctx, file, opts, progress)
	if err != nil {
		return nil, err
	}
	return tidySegments(tr), nil
}

// tidySegments keeps what every consumer of a transcript relies on, whatever
// a model emitted: no empty segments, no negative times, an end never before
// its start.
func tidySegments(tr *lecture.Transcript) *lecture.Transcript {
	out := tr.Segments[:0]
	for _, sg := range tr.Segments {
		sg.Text = strings.TrimSpace(sg.Text)
		if sg.Text == "" {
			continue
		}
		if sg.Start < 0 {
			sg.Start = 0
		}
		if sg.End < sg.Start {
			sg.End = sg.Start
		}
		out = append(out, sg)
	}
	tr.Segments = out
	return tr
}

// transcribe copies a stored recording to a temporary file (ffmpeg wants to
// seek in some containers), transcribes it, and records progress in
// progress.json while it runs.
func (s *Service) transcribe(ctx context.Context, id, key string, r io.Reader) (*lecture.Transcript, error) {
	if s.Transcriber == nil {
		return nil, NoTranscriber()
	}
	f, err := os.CreateTemp(s.TempDir, "transcept-media-*"+path.Ext(key))
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "no room for a temporary copy of %s", key)
	}
	defer os.Remove(f.Name())
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "copying %s for transcription", key)
	}
	rep := s.progressReporter(ctx, id, "transcribe")
	tr, err := s.TranscribeFile(ctx, f.Name(), lecture.TranscribeOptions{Language: s.Language}, rep)
	rep(-1, -1) // flush the last state
	return tr, err
}

// progressReporter writes progress.json at most every two seconds.
func (s *Service) progressReporter(ctx context.Context, id, stage string) lecture.Progress {
	var mu sync.Mutex
	var last time.Time
	var lastDone, lastTotal float64
	return func(done, total float64) {
		mu.Lock()
		defer mu.Unlock()
		flush := done < 0
		if flush {
			done, total = lastDone, lastTotal
		}
		lastDone, lastTotal = done, total
		if !flush && time.Since(last) < 2*time.Second {
			return
		}
		last = time.Now()
		_ = s.putJSON(ctx, id, ArtifactProgress, ProgressRecord{Stage: stage, Done: done, Total: total, Updated: s.now()})
	}
}

// CreateMediaLecture streams a recording into raw-inputs/<id>/<name>
// without holding it in memory, then writes the lecture record, and returns
// the event that starts its processing. A failed or oversized upload leaves
// nothing behind.
func (s *Service) CreateMediaLecture(ctx context.Context, name, title string, r io.Reader) (*lecture.Lecture, events.Event, error) {
	id := store.NewLectureID()
	if n := rawName(name, nil); n != "transcript.txt" || strings.EqualFold(path.Base(name), n) {
		name = n
	} else {
		name = "recording" + strings.ToLower(path.Ext(name)) // no usable name: keep the extension ffmpeg may need
		if store.ValidateName(name) != nil {
			name = "recording"
		}
	}
	key := store.Key(id, name)
	h := sha256.New()
	lr := &limitReader{r: io.TeeReader(r, h), left: s.MaxMediaBytes}
	if err := s.Store.Put(ctx, lecture.BucketRaw, key, lr, -1, mediaType(name)); err != nil {
		var tl *tooLargeError
		if errors.As(err, &tl) || lr.over {
			return nil, events.Event{}, lecture.Errorf(lecture.ETOOLARGE, "recording is over the limit of %d MiB (TRANSCEPT_MAX_MEDIA_BYTES)", s.MaxMediaBytes>>20)
		}
		return nil, events.Event{}, err
	}
	if lr.n == 0 {
		_ = s.Store.Delete(ctx, lecture.BucketRaw, key)
		return nil, events.Event{}, lecture.Errorf(lecture.EINVALID, "the recording is empty (0 bytes)")
	}
	hash := hex.EncodeToString(h.Sum(nil))
	now := s.now()
	l := &lecture.Lecture{ID: id, Title: strings.TrimSpace(title), Status: lecture.StatusUploaded, ContentHash: hash, CreatedAt: now, UpdatedAt: now}
	if l.Title == "" {
		l.Title = strings.TrimSuffix(name, path.Ext(name))
	}
	if err := s.putJSON(ctx, id, ArtifactLecture, l); err != nil {
		_ = s.Store.Delete(ctx, lecture.BucketRaw, key)
		return nil, events.Event{}, err
	}
	return l, events.New(events.LectureUploaded, events.Ref{LectureID: id, Bucket: lecture.BucketRaw, Key: key, ContentHash: hash}), nil
}

type tooLargeError struct{}

func (*tooLargeError) Error() string { return "over the size limit" }

// limitReader fails once more than left bytes have been read.
type limitReader struct {
	r    io.Reader
	left int64
	n    int64
	over bool
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.left > 0 && l.n > l.left {
		l.over = true
		return n, &tooLargeError{}
	}
	return n, err
}
