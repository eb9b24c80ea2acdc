package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/tracing"
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
	mctx, end := s.modelSpan(ctx, "transcribe", s.Transcriber.Name(), s.Transcriber.Model())
	tr, err = s.Transcriber.Transcribe(mctx, file, opts, progress)
	if err == nil && tr != nil && tracing.On() {
		tracing.Annotate(mctx, tracing.Int("transcept.model.segments", len(tr.Segments)), tracing.String("transcept.model.language", tr.Language))
	}
	end(err)
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
	if s.Transcriber == nil { // configuration, not an outage: no point retrying
		return nil, lecture.Errorf(lecture.EUNSUPPORTED, "%s", lecture.ErrorMessage(NoTranscriber()))
	}
	f, err := os.CreateTemp(s.TempDir, TempPrefix()+"media-*"+path.Ext(key))
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

// CreateMediaLecture accepts a recording: refused at once where no
// transcription model is configured; otherwise streamed (never held in
// memory) into a local working file within MaxMediaBytes, probed with
// ffprobe so that only a file with an audio track is accepted, then stored
// under raw-inputs/<id>/<name> with the lecture record. It returns the
// event that starts processing. A failed, oversized or unreadable upload
// leaves nothing behind.
func (s *Service) CreateMediaLecture(ctx context.Context, name, title, owner string, r io.Reader) (*lecture.Lecture, lecture.Event, error) {
	if s.Transcriber == nil {
		return nil, lecture.Event{}, NoTranscriber()
	}
	id := lecture.NewLectureID()
	name = MediaName(name)
	f, err := os.CreateTemp(s.TempDir, TempPrefix()+"upload-*"+path.Ext(name))
	if err != nil {
		return nil, lecture.Event{}, storageError(err, "no room for the upload's working copy")
	}
	defer func() { f.Close(); os.Remove(f.Name()) }()
	h := sha256.New()
	lr := &limitReader{r: r, left: s.MaxMediaBytes}
	n, err := io.Copy(io.MultiWriter(f, h), lr)
	if err != nil {
		var tl *tooLargeError
		if errors.As(err, &tl) || lr.over {
			return nil, lecture.Event{}, lecture.Errorf(lecture.ETOOLARGE, "the recording is over the limit of %s (TRANSCEPT_MAX_MEDIA_BYTES)", Bytes(s.MaxMediaBytes))
		}
		var le *lecture.Error
		if errors.As(err, &le) {
			return nil, lecture.Event{}, err
		}
		if _, werr := f.Stat(); werr != nil || isStorageErr(err) {
			return nil, lecture.Event{}, storageError(err, "writing the upload's working copy")
		}
		return nil, lecture.Event{}, lecture.Wrap(lecture.EINVALID, err, "reading the upload")
	}
	if n == 0 {
		return nil, lecture.Event{}, lecture.Errorf(lecture.EINVALID, "the recording is empty (0 bytes)")
	}
	head := make([]byte, 512)
	if k, _ := f.ReadAt(head, 0); k > 0 {
		if what := NotMedia(head[:k]); what != "" {
			return nil, lecture.Event{}, lecture.Errorf(lecture.EUNSUPPORTED, "%s is %s, not a recording; send an audio or video recording (wav, mp3, m4a, ogg, flac, mp4, mkv, webm) or a transcript", name, what)
		}
	}
	var seconds float64
	if s.Probe != nil {
		if seconds, err = s.Probe(ctx, f.Name()); err != nil {
			msg := strings.ReplaceAll(lecture.ErrorMessage(err), f.Name(), name)
			code := lecture.ErrorCode(err)
			if code == lecture.EINVALID || code == lecture.EINTERNAL {
				code = lecture.EUNSUPPORTED
			}
			if code == lecture.EUNAVAILABLE {
				return nil, lecture.Event{}, lecture.Errorf(code, "cannot check the recording: %s", msg)
			}
			return nil, lecture.Event{}, lecture.Errorf(code, "%s; send an audio or video recording (wav, mp3, m4a, ogg, flac, mp4, mkv, webm) or a transcript", msg)
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, lecture.Event{}, storageError(err, "reading the upload's working copy")
	}
	key := lecture.Key(id, name)
	hash := hex.EncodeToString(h.Sum(nil))
	now := s.now()
	l := &lecture.Lecture{ID: id, Title: strings.TrimSpace(title), Owner: owner, Status: lecture.StatusUploaded, ContentHash: hash, CreatedAt: now, UpdatedAt: now}
	if l.Title == "" {
		l.Title = strings.TrimSuffix(name, path.Ext(name))
	}
	if err := s.admit(ctx, owner, seconds); err != nil {
		return nil, lecture.Event{}, err
	}
	// The lecture record first: a status request never finds a raw input
	// without it.
	if err := s.putJSON(ctx, id, ArtifactLecture, l); err != nil {
		return nil, lecture.Event{}, err
	}
	pctx, end := storeSpan(ctx, "put", lecture.BucketRaw, key)
	err = s.Store.Put(pctx, lecture.BucketRaw, key, f, n, mediaType(name))
	end(err)
	if err != nil {
		_ = s.Store.Delete(context.WithoutCancel(ctx), lecture.BucketPreprocessed, lecture.Key(id, ArtifactLecture))
		return nil, lecture.Event{}, err
	}
	s.record(ctx, l, catalogue.Lecture{Bytes: n, MediaType: mediaType(name), Seconds: seconds, MediaSeconds: seconds})
	s.countLecture(id, metrics.LectureUploaded)
	return l, stamp(ctx, lecture.NewEvent(lecture.LectureUploaded, lecture.Ref{LectureID: id, Bucket: lecture.BucketRaw, Key: key, ContentHash: hash, Size: n, Owner: l.Owner})), nil
}

// MediaName is the object name a recording uploaded as name is stored
// under: the characters object names allow, nothing of any path, the
// extension ffmpeg may need kept.
func MediaName(name string) string {
	if n := rawName(name, nil); n != "transcript.txt" || strings.EqualFold(path.Base(name), n) {
		return n
	}
	name = "recording" + strings.ToLower(path.Ext(name))
	if lecture.ValidateName(name) != nil {
		return "recording"
	}
	return name
}

// Forget removes what CreateLecture or CreateMediaLecture stored, when the
// pipeline could not accept the lecture's event.
func (s *Service) Forget(ctx context.Context, ev lecture.Event) {
	ctx = context.WithoutCancel(ctx)
	_ = s.Store.Delete(ctx, ev.Data.Bucket, ev.Data.Key)
	_ = s.Store.Delete(ctx, lecture.BucketPreprocessed, lecture.Key(ev.Data.LectureID, ArtifactLecture))
	if s.Catalogue != nil {
		_ = s.Catalogue.DeleteLecture(ctx, ev.Data.LectureID)
	}
}

// Bytes writes a size for people: exact bytes below 1 KiB, else MiB or
// GiB with enough digits that two different sizes never read the same.
func Bytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%.2f MiB (%d bytes)", float64(n)/(1<<20), n)
}

// TempPrefix names this process's temporary files, so a sweep at start can
// tell a dead process's leftovers ("transcept-<pid>-...") from live ones.
func TempPrefix() string { return fmt.Sprintf("transcept-%d-", os.Getpid()) }

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

// SweepTemp removes working copies ("transcept-<pid>-...") in dir (the
// system's temporary folder when empty) whose process is gone, and returns
// how many it removed.
func SweepTemp(dir string) int {
	if dir == "" {
		dir = os.TempDir()
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), "transcept-")
		if !ok || e.IsDir() {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) && os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	return n
}
