// Package wire is the one composition root: it wires a configuration into
// a running Transcept (object store, cache, engines, pipeline service,
// metrics and, for the local process, the in-process broker with the
// pipeline's triggers), for the CLI and for every function, whose shared
// func-go lifecycle (Base) lives here too.
package wire

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transcept/transcept/gpu-runtime/audio"
	"github.com/transcept/transcept/gpu-runtime/bart"
	"github.com/transcept/transcept/gpu-runtime/embed"
	"github.com/transcept/transcept/gpu-runtime/ort"
	"github.com/transcept/transcept/gpu-runtime/rag"
	"github.com/transcept/transcept/gpu-runtime/whisper"
	"github.com/transcept/transcept/infra"
	"github.com/transcept/transcept/shared/cache/mem"
	"github.com/transcept/transcept/shared/cache/redis"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/evalset"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/extractive"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/retrieval"
	"github.com/transcept/transcept/shared/store/fs"
	"github.com/transcept/transcept/shared/store/minio"
)

// Suite is a wired Transcept.
type Suite struct {
	Config  *config.Config
	Log     *slog.Logger
	Metrics *metrics.Metrics
	Service *pipeline.Service
	Bus     *eventing.Bus[lecture.Event] // nil until StartBus
	// Catalogue is the lecture catalogue and accounts database.
	Catalogue catalogue.Catalogue
	// Models are the registry versions the model settings named at start.
	Models ResolvedModels
}

// Logger makes the process logger from the configuration.
func Logger(c *config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// New connects the store and cache and loads the engines.
func New(ctx context.Context, c *config.Config, log *slog.Logger) (*Suite, error) {
	return NewWithMetrics(ctx, c, log, metrics.New())
}

// NewWithMetrics is New reporting to an existing registry (a function
// serves /metrics before its Start has finished).
func NewWithMetrics(ctx context.Context, c *config.Config, log *slog.Logger, m *metrics.Metrics) (*Suite, error) {
	st, err := Store(ctx, c)
	if err != nil {
		return nil, err
	}
	c, models, err := ResolveModels(ctx, c, st, log)
	if err != nil {
		return nil, err
	}
	var cache lecture.Cache
	if c.RedisURL != "" {
		rc, err := redis.New(c.RedisURL)
		if err != nil {
			return nil, err
		}
		cache = rc
	} else {
		cache = mem.New(c.CacheBytes)
	}
	// transcept_model_load_seconds: how long each engine took to load (the
	// extractive engines' ~0 is reported too).
	loadStart := time.Now()
	sum, err := Summarizer(c)
	if err != nil {
		return nil, err
	}
	m.SetModelLoad("summarize", time.Since(loadStart))
	loadStart = time.Now()
	tx, err := Transcriber(c)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		m.SetModelLoad("transcribe", time.Since(loadStart))
		provider := "cpu"
		if p, ok := tx.(interface{ Provider() ort.Provider }); ok {
			provider = string(p.Provider())
		}
		m.SetEngine("transcribe", tx.Name(), models.Label("TRANSCEPT_WHISPER_MODEL", tx.Model()), provider)
	}
	ans := retrieval.NewAnswerer()
	ans.MinCoverage = c.QAMinCoverage
	if c.EmbedModel != "" {
		loadStart = time.Now()
		e, err := embed.Load(c.EmbedModel, embed.Options{})
		if err != nil {
			return nil, err
		}
		m.SetModelLoad("embed", time.Since(loadStart))
		ans.Embedder = e
		m.SetEngine("embed", "embeddings", models.Label("TRANSCEPT_EMBED_MODEL", e.Model()), string(e.Provider()))
		log.Info("embedding model loaded", "model", e.Model(), "dim", e.Dim(), "provider", e.Provider())
	}
	provider := "cpu"
	if p, ok := sum.(interface{ Provider() ort.Provider }); ok {
		provider = string(p.Provider())
	}
	m.SetEngine("summarize", sum.Name(), models.Label("TRANSCEPT_SUMMARY_MODEL", sum.Model()), provider)
	m.SetEngine("answer", ans.Name(), "", "cpu")
	var lm *rag.LMAnswerer
	if c.QAModel != "" {
		loadStart = time.Now()
		if lm, err = rag.Load(c.QAModel, qaOptions(c)); err != nil {
			return nil, err
		}
		m.SetModelLoad("answer", time.Since(loadStart))
		lm.Retrieval = ans // the same coverage rule and embeddings
		m.SetEngine("answer", lm.Name(), models.Label("TRANSCEPT_QA_MODEL", filepath.Base(c.QAModel)), string(lm.Model.Session.Provider()))
		log.Info("question-answering model loaded", "model", c.QAModel)
	}
	sum, tx = withFaults(c, sum, tx) // off unless TRANSCEPT_FAULT_* are set (tests)
	svc := &pipeline.Service{Store: st, Cache: cache, Summarizer: sum, Answerer: ans, Metrics: m, Log: log,
		ChunkTokens: c.ChunkTokens, Ratio: c.SummaryRatio, CacheTTL: c.CacheTTL,
		Transcriber: tx, Language: c.Language, MaxMediaBytes: c.MaxMediaBytes, Probe: probeRecording}
	if lm != nil {
		svc.LM = lm
	}
	svc.ModelVersions = map[string]string{"summarize": models.Label("TRANSCEPT_SUMMARY_MODEL", sum.Model())} // what model spans report
	if tx != nil {
		svc.ModelVersions["transcribe"] = models.Label("TRANSCEPT_WHISPER_MODEL", tx.Model())
	}
	if ans.Embedder != nil {
		svc.ModelVersions["embed"] = models.Label("TRANSCEPT_EMBED_MODEL", ans.Embedder.Model())
	}
	if lm != nil {
		svc.ModelVersions["answer"] = models.Label("TRANSCEPT_QA_MODEL", filepath.Base(c.QAModel))
	}
	cat, err := OpenCatalogue(ctx, c.Accounts.DatabaseURL, c.StoreDir)
	if err != nil {
		return nil, err
	}
	svc.Catalogue = cat
	svc.Inputs = &evalset.Recorder{Store: st, Metrics: m, Log: log} // input drift measures
	log.Info("transcept ready to start", "store", storeName(c), "cache", cache.Name(), "summarizer", sum.Name(), "answerer", ans.Name())
	return &Suite{Config: c, Log: log, Metrics: m, Service: svc, Catalogue: cat, Models: models}, nil
}

// Store opens the configured object store: MinIO when MINIO_ENDPOINT is
// set, else the filesystem.
func Store(ctx context.Context, c *config.Config) (lecture.ObjectStore, error) {
	if c.MinIO.Endpoint != "" {
		return minio.New(ctx, minio.Config{Endpoint: c.MinIO.Endpoint, AccessKey: c.MinIO.AccessKey, SecretKey: c.MinIO.SecretKey, Secure: c.MinIO.Secure, Region: c.MinIO.Region, PublicURL: c.MinIO.PublicURL})
	}
	return fs.New(c.StoreDir)
}

func storeName(c *config.Config) string {
	if c.MinIO.Endpoint != "" {
		return "minio " + c.MinIO.Endpoint
	}
	return "filesystem " + c.StoreDir
}

// Summarizer returns the configured summary engine.
func Summarizer(c *config.Config) (lecture.Summarizer, error) {
	switch c.Summarizer {
	case "extractive":
		return extractive.New(), nil
	case "bart":
		return bartSummarizer(c)
	}
	return nil, lecture.Errorf(lecture.EINVALID, "unknown summarizer %q", c.Summarizer)
}

// batchWait is TRANSCEPT_BATCH_WAIT as bart.Options takes it (0 there is
// the default; negative is no wait).
func batchWait(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// bartSummarizer loads the abstractive engine from TRANSCEPT_SUMMARY_MODEL
// (and TRANSCEPT_SUMMARY_ADAPTER): the model is loaded here, so a function
// reports ready only once it can summarise. Every error says which setting
// to fix.
func bartSummarizer(c *config.Config) (lecture.Summarizer, error) {
	if c.SummaryModel == "" {
		return nil, lecture.Errorf(lecture.EINVALID,
			"TRANSCEPT_SUMMARIZER=bart needs TRANSCEPT_SUMMARY_MODEL, an Optimum ONNX export folder of BART-large-CNN or DistilBART-CNN "+
				"(`transcept models pull distilbart-cnn-6-6` puts one in TRANSCEPT_MODELS_DIR); or use TRANSCEPT_SUMMARIZER=extractive")
	}
	s, err := bart.Load(c.SummaryModel, bart.Options{Adapter: c.SummaryAdapter, IntraOpThreads: c.ORTThreads,
		OptimizedCacheDir: c.ORTCacheDir, NoPrepack: !c.Prepack(config.EngineSummary, c.SummaryDType), Int8Weights: c.ORTInt8Weights, DType: c.SummaryDType,
		WindowTokens: min(c.ChunkTokens, bart.DefaultWindowTokens), BatchSize: c.BatchMax, BatchWait: batchWait(c.BatchWait),
		Logger: Logger(c)})
	if err != nil {
		setting := "TRANSCEPT_SUMMARY_MODEL=" + c.SummaryModel
		if c.SummaryAdapter != "" && strings.Contains(lecture.ErrorMessage(err), c.SummaryAdapter) {
			setting = "TRANSCEPT_SUMMARY_ADAPTER=" + c.SummaryAdapter
		}
		return nil, lecture.Wrap(lecture.ErrorCode(err), err, "TRANSCEPT_SUMMARIZER=bart, %s: %s", setting, lecture.ErrorMessage(err))
	}
	return s, nil
}

// qaOptions are the instruct LM's session options: the LM engine lets
// ONNX Runtime's worker threads sleep between operators unless
// TRANSCEPT_QA_SPIN asks for spinning.
func qaOptions(c *config.Config) ort.Options {
	o := ort.Options{IntraOpThreads: c.ORTThreads, NoPrepack: !c.Prepack(config.EngineLM, c.QADType), Int8Weights: c.ORTInt8Weights, DType: c.QADType,
		OptimizedCacheDir: c.ORTCacheDir}
	if c.QASpin {
		o.ConfigEntries = map[string]string{"session.intra_op.allow_spinning": "1"}
	}
	return o
}

// Transcriber returns the configured transcription engine, nil when none
// is configured (recordings are then refused with a clear message).
func Transcriber(c *config.Config) (lecture.Transcriber, error) {
	if c.WhisperModel == "" {
		return nil, nil
	}
	mode, err := whisper.ParseVADMode(c.VAD)
	if err != nil {
		return nil, err
	}
	t, err := whisper.LoadWith(c.WhisperModel, ort.Options{IntraOpThreads: c.ORTThreads, OptimizedCacheDir: c.ORTCacheDir, NoPrepack: !c.Prepack(config.EngineWhisper, c.WhisperDType), Int8Weights: c.ORTInt8Weights, DType: c.WhisperDType},
		whisper.TranscriberOptions{VAD: mode, VADModel: c.VADModel, VADThreshold: c.VADThreshold, Batch: c.WhisperBatch})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// probeRecording accepts a file with an audio track that ffprobe reads.
func probeRecording(ctx context.Context, path string) (float64, error) {
	info, err := audio.Probe(ctx, path, nil)
	if err != nil {
		return 0, err
	}
	if info.Channels == 0 && info.Duration == 0 {
		return 0, lecture.Errorf(lecture.EUNSUPPORTED, "%s has no audio", path)
	}
	return info.Duration.Seconds(), nil
}

// StartBus starts the in-process broker with the pipeline's triggers, read
// from infra/eventing (the Knative Triggers: the same filters, for the
// stages the local process runs), and the dead-letter sink. The broker is
// durable (its queue lives in the object store); Recover queues what an
// earlier process left unfinished.
func (s *Suite) StartBus() *eventing.Bus[lecture.Event] {
	b := eventing.NewBus(s.Config.Workers, s.Log)
	b.Observe = s.Metrics.CountEvent
	b.Journal = eventing.StoreJournal{Store: s.Service.Store}
	b.Lease = s.Config.QueueLease
	b.SmallBytes = s.Config.SmallJobBytes
	b.FairShare = s.Config.FairShare
	b.Budget = func(j eventing.Job[lecture.Event]) time.Duration { return s.Config.StageBudget(j.Event.Data.Size) }
	b.Unavailable = func(err error) bool { return lecture.ErrorCode(err) == lecture.EUNAVAILABLE }
	s.Metrics.QueueDepth(func() float64 { return float64(b.Pending()) })
	for _, t := range localTriggers(s.Service) {
		b.AddTrigger(t)
	}
	b.DeadLetterSink(s.Service.DeadLetter)
	s.Bus = b
	return b
}

// localTriggers are the Triggers of infra/eventing for the stages that
// `transcept serve` runs, each named as its jobs are journaled. The
// Triggers for the gateway's /events and answer's preload have no local
// subscriber: the local process reads the store directly.
func localTriggers(svc *pipeline.Service) []eventing.Trigger[lecture.Event] {
	cfg, err := eventing.Parse(infra.Eventing())
	if err == nil {
		var ts []eventing.Trigger[lecture.Event]
		ts, err = cfg.LocalTriggers(map[string]eventing.LocalStage{
			"transcept-transcribe": {Name: "transcribe", Handler: svc.HandleUploaded},
			"transcept-segment":    {Name: "segment", Handler: svc.HandleTranscript},
			"transcept-summarize":  {Name: "summarize", Handler: svc.HandleChunksSummarize},
			"transcept-index":      {Name: "index", Handler: svc.HandleChunksIndex},
		})
		if err == nil {
			return ts
		}
	}
	panic("infra/eventing (embedded): " + err.Error()) // compiled in and tested: a build error, not a runtime one
}

// Recover sweeps what a crashed process left (temporary files) and queues
// the pipeline work it had accepted but not finished.
func (s *Suite) Recover(ctx context.Context) error {
	if fst, ok := s.Service.Store.(*fs.Store); ok {
		if n, err := fst.SweepTemp(); err != nil {
			s.Log.Warn("sweeping temporary files failed", "err", err)
		} else if n > 0 {
			s.Log.Info("removed temporary files left by a stopped process", "files", n)
		}
	}
	if n := pipeline.SweepTemp(s.Service.TempDir); n > 0 {
		s.Log.Info("removed working copies left by a stopped process", "files", n)
	}
	s.fillCatalogue(ctx)
	if s.Bus == nil {
		return nil
	}
	queued, err := eventing.StoreJournal{Store: s.Service.Store}.QueuedLectures(ctx)
	if err != nil {
		return fmt.Errorf("checking lectures left by the last stop: %w", err)
	}
	rec, err := s.Service.Reconcile(ctx, queued)
	if err != nil {
		return fmt.Errorf("checking lectures left by the last stop: %w", err)
	}
	for _, id := range rec.Removed {
		if s.Catalogue != nil {
			_ = s.Catalogue.DeleteLecture(ctx, id)
		}
		s.Log.Info("removed the record of an upload that never completed", "lecture", id)
	}
	for _, ev := range rec.Events {
		if err := s.Bus.Publish(ev); err != nil {
			return err
		}
		s.Log.Info("resuming a lecture left between two stages", "lecture", ev.Data.LectureID, "event", ev.Type)
	}
	n, err := s.Bus.Recover(ctx)
	if err != nil {
		return fmt.Errorf("reading the pipeline queue: %w", err)
	}
	if n > 0 {
		s.Log.Info("resuming pipeline work accepted before the last stop", "jobs", n)
	}
	return nil
}

// fillCatalogue fills an empty catalogue from a store that has lectures
// (a store from before the catalogue, or a new database), in the
// background: the library lists them as they are found.
func (s *Suite) fillCatalogue(ctx context.Context) {
	if s.Catalogue == nil {
		return
	}
	page, err := s.Catalogue.ListLectures(ctx, catalogue.ListQuery{All: true, Limit: 1})
	if err != nil || len(page.Lectures) > 0 {
		return
	}
	go func() {
		ctx := context.WithoutCancel(ctx)
		n, err := s.Service.Rebuild(ctx, nil)
		switch {
		case err != nil:
			s.Log.Warn("filling the empty catalogue from the object store stopped; run `transcept catalogue rebuild`", "lectures", n, "err", err)
		case n > 0:
			s.Log.Info("filled the empty catalogue from the object store", "lectures", n)
		}
	}()
}

// Ready checks that the store answers and takes writes: a full or
// read-only store is not ready.
func (s *Suite) Ready(ctx context.Context) error {
	key := lecture.Key("_probe", "readyz")
	body := []byte(time.Now().UTC().Format(time.RFC3339Nano))
	if err := s.Service.Store.Put(ctx, lecture.BucketPreprocessed, key, bytes.NewReader(body), int64(len(body)), "text/plain"); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "object store cannot take writes: %s", lecture.ErrorMessage(err))
	}
	if s.Catalogue != nil {
		if _, err := s.Catalogue.CountUsers(ctx); err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "the catalogue database does not answer: %s", lecture.ErrorMessage(err))
		}
	}
	return nil
}

// Close drains the broker (tools and tests; a server calls Shutdown).
func (s *Suite) Close() {
	if s.Bus != nil {
		s.Bus.Close()
	}
	if s.Catalogue != nil {
		_ = s.Catalogue.Close()
	}
}

// Shutdown stops the broker within grace, leaving unfinished work queued.
func (s *Suite) Shutdown(grace time.Duration) {
	if s.Bus != nil {
		if n := s.Bus.Shutdown(grace); n > 0 {
			s.Log.Info("pipeline work left queued for the next start", "jobs", n)
		}
	}
}
