package pipeline_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/cache/mem"
	"github.com/transcept/transcept/shared/cache/redis"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/store/fs"
	"github.com/transcept/transcept/shared/transcript"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// countingSummarizer counts calls and takes a while, so that concurrent
// identical requests overlap.
type countingSummarizer struct {
	calls atomic.Int64
	inner *extractive.Summarizer
}

func (c *countingSummarizer) Name() string  { return "counting" }
func (c *countingSummarizer) Model() string { return "v1" }
func (c *countingSummarizer) Summarize(ctx context.Context, s []lecture.Sentence, o lecture.SummarizeOptions) (*lecture.Summary, error) {
	c.calls.Add(1)
	time.Sleep(50 * time.Millisecond)
	return c.inner.Summarize(ctx, s, o)
}

// countingStore counts Puts.
type countingStore struct {
	lecture.ObjectStore
	puts atomic.Int64
}

func (c *countingStore) Put(ctx context.Context, b, k string, r io.Reader, n int64, ct string) error {
	c.puts.Add(1)
	return c.ObjectStore.Put(ctx, b, k, r, n, ct)
}

func newService(t *testing.T, cache lecture.Cache) (*pipeline.Service, *countingSummarizer, *countingStore) {
	st, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{ObjectStore: st}
	sm := &countingSummarizer{inner: extractive.New()}
	return &pipeline.Service{Store: cs, Cache: cache, Summarizer: sm, Answerer: retrieval.NewAnswerer(), Metrics: metrics.New(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), ChunkTokens: 512, Ratio: 0.3, CacheTTL: time.Hour}, sm, cs
}

const lectureText = "Prof: Entropy of an isolated system never decreases.\nProf: Heat engines reject heat to a cold reservoir.\nProf: The Carnot efficiency depends on reservoir temperatures only.\n"

func parse(t *testing.T) *lecture.Transcript {
	tr, err := transcript.Parse([]byte(lectureText), transcript.Auto)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestConcurrentIdenticalRequestsComputeOnce(t *testing.T) {
	svc, sm, _ := newService(t, mem.New(1<<20))
	tr := parse(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := svc.Summarize(context.Background(), tr, lecture.SummarizeOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := sm.calls.Load(); n != 1 {
		t.Errorf("summariser ran %d times for 20 identical concurrent requests", n)
	}
	// A different parameter is a different key.
	if _, cached, _ := svc.Summarize(context.Background(), tr, lecture.SummarizeOptions{Ratio: 0.5}); cached || sm.calls.Load() != 2 {
		t.Errorf("ratio 0.5 served from the 0.3 entry")
	}
}

func TestRedisDownStillServes(t *testing.T) {
	rd := svctest.StartRedis(t)
	rc, err := redis.New(rd.URL)
	if err != nil {
		t.Fatal(err)
	}
	svc, sm, _ := newService(t, rc)
	tr := parse(t)
	if _, _, err := svc.Summarize(context.Background(), tr, lecture.SummarizeOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, cached, err := svc.Summarize(context.Background(), tr, lecture.SummarizeOptions{}); err != nil || !cached {
		t.Fatalf("second request not a Redis hit: cached=%v err=%v", cached, err)
	}
	rd.Stop()
	start := time.Now()
	sum, cached, err := svc.Summarize(context.Background(), tr, lecture.SummarizeOptions{})
	if err != nil || cached || len(sum.Bullets) == 0 {
		t.Fatalf("with Redis down: %v cached=%v", err, cached)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a dead Redis slowed the request to %v", d)
	}
	if n := svc.Metrics.Value("transcept_cache_requests_total", "redis", "error"); n < 2 {
		t.Errorf("cache errors counted: %v, want the failed get and set", n)
	}
	if sm.calls.Load() != 2 {
		t.Errorf("summariser calls %d", sm.calls.Load())
	}
}

func TestRedeliveredEventsDoNoSecondWork(t *testing.T) {
	svc, sm, cs := newService(t, mem.New(1<<20))
	ctx := context.Background()
	_, ev, err := svc.CreateLecture(ctx, pipeline.Upload{Name: "thermo.txt", Data: []byte(lectureText)})
	if err != nil {
		t.Fatal(err)
	}
	run := func(e lecture.Event, h func(context.Context, lecture.Event) ([]lecture.Event, error)) lecture.Event {
		out, err := h(ctx, e)
		if err != nil || len(out) != 1 {
			t.Fatalf("%s: %v %v", e.Type, out, err)
		}
		return out[0]
	}
	tev := run(ev, svc.HandleUploaded)
	cev := run(tev, svc.HandleTranscript)
	run(cev, svc.HandleChunksSummarize)
	run(cev, svc.HandleChunksIndex)
	puts, calls := cs.puts.Load(), sm.calls.Load()
	// Knative redelivers every event: nothing is written or computed again.
	run(ev, svc.HandleUploaded)
	run(tev, svc.HandleTranscript)
	run(cev, svc.HandleChunksSummarize)
	run(cev, svc.HandleChunksIndex)
	if cs.puts.Load() != puts || sm.calls.Load() != calls {
		t.Errorf("redelivery wrote %d objects and ran the summariser %d times more", cs.puts.Load()-puts, sm.calls.Load()-calls)
	}
	l, err := svc.Lecture(ctx, ev.Data.LectureID)
	if err != nil || l.Status != lecture.StatusReady {
		t.Fatalf("status %+v %v", l, err)
	}
	a, err := svc.Ask(ctx, ev.Data.LectureID, "What does the Carnot efficiency depend on?")
	if err != nil || !a.Covered || !strings.Contains(a.Text, "temperatures") {
		t.Errorf("answer %+v %v", a, err)
	}
}

func TestStillProcessingIsAConflict(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	_, ev, err := svc.CreateLecture(context.Background(), pipeline.Upload{Name: "x.txt", Data: []byte(lectureText)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Ask(context.Background(), ev.Data.LectureID, "entropy?"); lecture.ErrorCode(err) != lecture.ECONFLICT {
		t.Errorf("want ECONFLICT before the index exists, got %v", err)
	}
	if _, err := svc.LectureSummary(context.Background(), ev.Data.LectureID); lecture.ErrorCode(err) != lecture.ECONFLICT {
		t.Errorf("want ECONFLICT before the summary exists, got %v", err)
	}
}

// blockingTranscriber reports half the audio done, then waits.
type blockingTranscriber struct{ release chan struct{} }

func (b *blockingTranscriber) Name() string  { return "blocking" }
func (b *blockingTranscriber) Model() string { return "" }
func (b *blockingTranscriber) Transcribe(ctx context.Context, path string, o lecture.TranscribeOptions, p lecture.Progress) (*lecture.Transcript, error) {
	p(1800, 3600)
	<-b.release
	return &lecture.Transcript{Segments: []lecture.Segment{{Start: 0, End: 3600, Text: "A long lecture on entropy."}}}, nil
}

func TestTranscriptionProgressInStatus(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	bt := &blockingTranscriber{release: make(chan struct{})}
	svc.Transcriber, svc.MaxMediaBytes = bt, 1<<20
	ctx := context.Background()
	_, ev, err := svc.CreateMediaLecture(ctx, "lecture.ogg", "", "", strings.NewReader("OggS\x00\x02 and then some audio bytes"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := svc.HandleUploaded(ctx, ev); done <- err }()
	deadline := time.Now().Add(5 * time.Second)
	var st lecture.Stage
	for time.Now().Before(deadline) {
		l, err := svc.Lecture(ctx, ev.Data.LectureID)
		if err != nil {
			t.Fatal(err)
		}
		if st = l.Stages["transcribe"]; st.Progress > 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.Progress != 0.5 || !strings.Contains(st.Message, "30:00 of 1:00:00") {
		t.Errorf("transcribe stage while running: %+v", st)
	}
	close(bt.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, _ := svc.Lecture(ctx, ev.Data.LectureID)
	if l.Stages["transcribe"].Status != lecture.StatusReady {
		t.Errorf("after: %+v", l.Stages["transcribe"])
	}
}

func TestMediaUploadValidation(t *testing.T) {
	svc, _, cs := newService(t, mem.New(1<<20))
	svc.MaxMediaBytes = 10
	if _, _, err := svc.CreateMediaLecture(context.Background(), "a.wav", "", "", strings.NewReader("RIFF")); lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), "TRANSCEPT_WHISPER_MODEL") {
		t.Errorf("recording without a transcription model: %v", err)
	}
	svc.Transcriber = &blockingTranscriber{release: make(chan struct{})}
	svc.Probe = func(ctx context.Context, path string) (float64, error) {
		return 0, lecture.Errorf(lecture.EINVALID, "%s has no audio track", path)
	}
	if _, _, err := svc.CreateMediaLecture(context.Background(), "a.wav", "", "", strings.NewReader("\x00\x01xyz")); lecture.ErrorCode(err) != lecture.EUNSUPPORTED ||
		!strings.Contains(err.Error(), "a.wav has no audio track") || strings.Contains(err.Error(), os.TempDir()) {
		t.Errorf("unprobeable recording: %v", err)
	}
	svc.Probe = nil
	if cs.puts.Load() != 0 {
		t.Errorf("%d objects written for refused recordings", cs.puts.Load())
	}
	if _, _, err := svc.CreateMediaLecture(context.Background(), "a.wav", "", "", strings.NewReader("")); lecture.ErrorCode(err) != lecture.EINVALID {
		t.Errorf("empty recording: %v", err)
	}
	if _, _, err := svc.CreateMediaLecture(context.Background(), "a.wav", "", "", strings.NewReader(strings.Repeat("x", 11))); lecture.ErrorCode(err) != lecture.ETOOLARGE {
		t.Errorf("oversized recording: %v", err)
	}
	for name, want := range map[string]bool{"a.MP4": true, "talk.webm": true, "notes.txt": false, "x": false} {
		if got := pipeline.IsMedia(name, nil); got != want {
			t.Errorf("IsMedia(%q) = %v", name, got)
		}
	}
	if !pipeline.IsMedia("upload", []byte("\x1a\x45\xdf\xa3rest")) || !pipeline.IsMedia("u", []byte("RIFF\x00\x00\x00\x00WAVEfmt ")) || pipeline.IsMedia("u", []byte("WEBVTT\n")) {
		t.Error("magic-byte detection")
	}
}

// memCatalogue is a Catalogue in a map.
type memCatalogue struct {
	mu   sync.Mutex
	rows map[string]catalogue.Lecture
}

func (c *memCatalogue) PutLecture(_ context.Context, l catalogue.Lecture) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rows[l.ID] = l
	return nil
}

func (c *memCatalogue) GetLecture(_ context.Context, id string) (catalogue.Lecture, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.rows[id]
	if !ok {
		return l, lecture.Errorf(lecture.ENOTFOUND, "no lecture %s", id)
	}
	return l, nil
}

func (c *memCatalogue) SetTranscript(context.Context, string, string) error { return nil }

func (c *memCatalogue) DeleteLecture(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.rows, id)
	return nil
}

func TestFunnelCountsEachLectureOnce(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	svc.Catalogue = &memCatalogue{rows: map[string]catalogue.Lecture{}}
	ctx := context.Background()
	_, ev, err := svc.CreateLecture(ctx, pipeline.Upload{Name: "thermo.txt", Data: []byte(lectureText)})
	if err != nil {
		t.Fatal(err)
	}
	run := func(e lecture.Event, h func(context.Context, lecture.Event) ([]lecture.Event, error)) lecture.Event {
		out, err := h(ctx, e)
		if err != nil || len(out) != 1 {
			t.Fatalf("%s: %v %v", e.Type, out, err)
		}
		return out[0]
	}
	for range 2 { // the second time: Knative's redelivery
		tev := run(ev, svc.HandleUploaded)
		cev := run(tev, svc.HandleTranscript)
		var wg sync.WaitGroup
		wg.Go(func() { svc.HandleChunksSummarize(ctx, cev) })
		wg.Go(func() { svc.HandleChunksIndex(ctx, cev) })
		wg.Wait()
	}
	_, ev2, err := svc.CreateLecture(ctx, pipeline.Upload{Name: "other.txt", Data: []byte(lectureText + "Prof: More.\n")})
	if err != nil {
		t.Fatal(err)
	}
	cause := lecture.Errorf(lecture.EINTERNAL, "boom")
	for range 2 {
		if err := svc.DeadLetter(ctx, ev2, cause); err != nil {
			t.Fatal(err)
		}
	}
	for outcome, want := range map[string]float64{"uploaded": 2, "ready": 1, "failed": 1} {
		if got := svc.Metrics.Value("transcept_lectures_total", outcome); got != want {
			t.Errorf("transcept_lectures_total{outcome=%q} = %v, want %v", outcome, got, want)
		}
	}
	// The funnel per stage: each stage done once for the first lecture,
	// the second failed in transcribe (its uploaded event dead-lettered).
	for _, c := range []struct {
		stage, outcome string
		want           float64
	}{
		{"transcribe", "done", 1}, {"segment", "done", 1}, {"summarize", "done", 1}, {"index", "done", 1},
		{"transcribe", "failed", 1}, {"segment", "failed", 0},
	} {
		if got := svc.Metrics.Value("transcept_stage_lectures_total", c.stage, c.outcome); got != c.want {
			t.Errorf("transcept_stage_lectures_total{stage=%q,outcome=%q} = %v, want %v", c.stage, c.outcome, got, c.want)
		}
	}
}

// tokenSummarizer generates n tokens per summary, as a model engine reports
// them (lecture.CountTokens).
type tokenSummarizer struct {
	lecture.Summarizer
	n int
}

func (s tokenSummarizer) Name() string { return "bart" }
func (s tokenSummarizer) Summarize(ctx context.Context, sents []lecture.Sentence, o lecture.SummarizeOptions) (*lecture.Summary, error) {
	lecture.CountTokens(ctx, s.n)
	return s.Summarizer.Summarize(ctx, sents, o)
}

// Model runs report their duration and generated tokens: tokens per second
// on the dashboards; a cache hit runs no model and counts nothing.
func TestModelRunMetrics(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	svc.Summarizer = tokenSummarizer{Summarizer: extractive.New(), n: 37}
	tr := parse(t)
	for range 2 { // the second is a cache hit
		if _, _, err := svc.Summarize(context.Background(), tr, lecture.SummarizeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := svc.Metrics.Value("transcept_model_tokens_total", "summarize", "bart"); got != 37 {
		t.Errorf("tokens = %v, want 37", got)
	}
	w := httptest.NewRecorder()
	svc.Metrics.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if want := `transcept_model_run_duration_seconds_count{engine="bart",outcome="ok",task="summarize"} 1`; !strings.Contains(w.Body.String(), want) {
		t.Errorf("exposition lacks %s", want)
	}
}

// The uploader travels with every event of a lecture's pipeline, so the
// local scheduler can share its workers fairly between users.
func TestEventsCarryTheOwner(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	ctx := context.Background()
	_, ev, err := svc.CreateLecture(ctx, pipeline.Upload{Name: "thermo.txt", Data: []byte(lectureText), Owner: "u_alice"})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []func(context.Context, lecture.Event) ([]lecture.Event, error){svc.HandleUploaded, svc.HandleTranscript} {
		if ev.Data.Owner != "u_alice" {
			t.Fatalf("%s carries owner %q", ev.Type, ev.Data.Owner)
		}
		out, err := h(ctx, ev)
		if err != nil || len(out) != 1 {
			t.Fatalf("%s: %v %v", ev.Type, out, err)
		}
		ev = out[0]
	}
	if ev.Type != lecture.ChunksReady || ev.Data.Owner != "u_alice" {
		t.Errorf("%s carries owner %q", ev.Type, ev.Data.Owner)
	}
}

// gatedCatalogue holds the first write of a "processing" row once armed,
// until released: the summarize stage's stale write landing after index's.
type gatedCatalogue struct {
	*memCatalogue
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (c *gatedCatalogue) PutLecture(ctx context.Context, l catalogue.Lecture) error {
	if l.Status == lecture.StatusProcessing && c.armed.CompareAndSwap(true, false) {
		close(c.held)
		<-c.release
	}
	return c.memCatalogue.PutLecture(ctx, l)
}

// Summarize and index ending together: summarize composes "processing"
// (index not done), index writes "ready", then summarize's write lands. The
// row must still end ready (it once stayed "processing" for ever).
func TestCatalogueNotLeftStaleByParallelStages(t *testing.T) {
	svc, _, _ := newService(t, mem.New(1<<20))
	cat := &gatedCatalogue{memCatalogue: &memCatalogue{rows: map[string]catalogue.Lecture{}}, held: make(chan struct{}), release: make(chan struct{})}
	svc.Catalogue = cat
	ctx := context.Background()
	_, ev, err := svc.CreateLecture(ctx, pipeline.Upload{Name: "thermo.txt", Data: []byte(lectureText)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := svc.HandleUploaded(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if out, err = svc.HandleTranscript(ctx, out[0]); err != nil {
		t.Fatal(err)
	}
	cev := out[0]
	cat.armed.Store(true)
	done := make(chan error, 1)
	go func() { _, err := svc.HandleChunksSummarize(ctx, cev); done <- err }()
	<-cat.held // summarize's row write, composed before index ran, is held
	if _, err := svc.HandleChunksIndex(ctx, cev); err != nil {
		t.Fatal(err)
	}
	if row, _ := cat.GetLecture(ctx, ev.Data.LectureID); row.Status != lecture.StatusReady {
		t.Fatalf("after index: row %q", row.Status)
	}
	close(cat.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if row, _ := cat.GetLecture(ctx, ev.Data.LectureID); row.Status != lecture.StatusReady {
		t.Errorf("row left %q after both stages ended, want ready", row.Status)
	}
}
