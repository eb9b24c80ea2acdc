// Package config is the one place that knows Transcept's settings: their
// names, defaults and meaning, and the one reader of the environment
// (FromEnv, Get, Lookup, Environ). Locally they come from the environment; a
// Knative function receives the same keys in Start's configuration map.
package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// Setting documents one configuration key.
type Setting struct {
	Name, Default, Help string
	Secret              bool
}

// Settings lists every setting, in the order the README table shows them.
var Settings = []Setting{
	{"TRANSCEPT_ADDR", "127.0.0.1:8080", "address `transcept serve` listens on (`:8080` for all interfaces)", false},
	{"TRANSCEPT_STORE_DIR", "./data", "root of the filesystem object store (used when MINIO_ENDPOINT is empty)", false},
	{"MINIO_ENDPOINT", "", "MinIO/S3 endpoint `host:port`; when set, objects go to MinIO instead of the filesystem", false},
	{"MINIO_ACCESS_KEY", "", "MinIO access key", false},
	{"MINIO_SECRET_KEY", "", "MinIO secret key (never logged)", true},
	{"MINIO_SECURE", "false", "use TLS to reach MinIO", false},
	{"MINIO_REGION", "", "MinIO region (optional)", false},
	{"MINIO_PUBLIC_URL", "", "where browsers and clients reach MinIO (`https://files.example.edu`): direct-to-bucket upload URLs are signed for it; empty: MINIO_ENDPOINT", false},
	{"REDIS_URL", "", "`redis://host:port/db` for the summary cache; in-memory LRU when empty", true},
	{"TRANSCEPT_CACHE_BYTES", "67108864", "size of the in-memory summary cache in bytes", false},
	{"TRANSCEPT_CACHE_TTL", "168h", "how long a cached summary lives", false},
	{"TRANSCEPT_SUMMARIZER", "extractive", "summary engine: `extractive` (embedded) or `bart` (ONNX model)", false},
	{"TRANSCEPT_SUMMARY_RATIO", "0.3", "share of the lecture's words a summary keeps (0.3 = 70% shorter)", false},
	{"TRANSCEPT_SUMMARY_MODEL", "", "summary model folder for `bart` (Optimum ONNX export of BART-large-CNN or DistilBART-CNN, e.g. `models/distilbart-cnn-6-6` from `transcept models pull`); or `registry://NAME@ALIAS` for a model registry version", false},
	{"TRANSCEPT_SUMMARY_ADAPTER", "", "ONNX Runtime LoRA adapter file (`.onnx_adapter`) for a summary model exported with LoRA inputs, activated per request (optional; merge a PEFT adapter into a plain export with `transcept models merge-lora` instead)", false},
	{"TRANSCEPT_SUMMARY_DTYPE", "fp32", "which weights of TRANSCEPT_SUMMARY_MODEL to load: `fp32`, `q8` (`onnx/*_quantized.onnx`), `q4` (`onnx/*_q4.onnx`) or `fp16` (`onnx/*_fp16.onnx`); make q8, q4 and fp16 files with `transcept models quantize`", false},
	{"TRANSCEPT_BATCH_MAX", "8", "most summary windows the `bart` engine generates together: windows of concurrent requests and of one lecture share one padded batch (the encoder runs once over it, finished rows leave the decoder's batch); 1 turns batching off (q8 weights quantise activations with one scale per batch, so a batched window's summary can differ slightly from its summary alone; fp32's cannot); `containerConcurrency` in infra/serving/summarize.yaml matches it", false},
	{"TRANSCEPT_BATCH_WAIT", "5ms", "how long the first queued summary window waits for others to share its batch (0: run at once with whatever is queued); windows queued while a batch runs go in the next one without waiting", false},
	{"TRANSCEPT_ORT_THREADS", "0", "ONNX Runtime intra-op threads per session (0 = ONNX Runtime's choice, one per physical core)", false},
	{"TRANSCEPT_ORT_CACHE_DIR", "auto", "folder for optimised copies of the summary, Whisper and answer (LM) models (ONNX Runtime format, written once, memory-mapped at load: a BART fp32 function loads in 1.9 s instead of 4.2 s, q8 in 0.7 s instead of 1.4 s; `make bench-defaults`; the LM's rewritten copy is kept there too, with hard links to its data files); `auto` is `transcept/ort` in the user's cache folder (`$XDG_CACHE_HOME` or `~/.cache`), `off` turns it off; a folder that cannot be written only costs the speed", false},
	{"TRANSCEPT_ORT_LIB", "", "ONNX Runtime shared library to load (`libonnxruntime.so.1`); empty: the tools cache (`make ort`), then /usr/local/lib and /usr/lib", false},
	{"TRANSCEPT_TOOLS_DIR", "", "tools cache where `make tools` installs ONNX Runtime, the Silero VAD model and MinIO (empty: `~/.cache/transcept-bin`)", false},
	{"TRANSCEPT_ORT_INT8_WEIGHTS", "auto", "8-bit models whose MatMulInteger weights are stored as uint8 (the hub's q8 files): `auto` runs them on int8 copies made at load on processors with VNNI (AVX-512 VNNI or AVX-VNNI), where ONNX Runtime's u8×s8 kernels are faster (BART encoder 0.55× the time) with the same results; `off` runs the files as they are", false},
	{"TRANSCEPT_ORT_PREPACK", "auto", "let ONNX Runtime prepack weights at load (`make bench-defaults`): `auto` prepacks every file of the summary and Whisper engines (BART decoder steps on 2 threads: fp32 22 instead of 29 ms, q8 11 instead of 17 ms, q4 9 instead of 590 ms, for a fp32 load of 1.9 instead of 0.75 s and 2.7 instead of 1.5 GB) and the instruct LM's quantised files, but not its fp32 or fp16 ones (the same decode speed, 145 vs 151 ms a token, and time to first token, loaded in 2.2 instead of 6.9 s with 2.2 instead of 2.5 GB); `true` or `false` for every model", false},
	{"TRANSCEPT_MODELS_DIR", "./models", "where `transcept models pull` puts model folders", false},
	{"TRANSCEPT_MODELS_URL", "", "base URL of a model mirror for `transcept models pull` (empty: the model hub named in the pinned list)", false},
	{"TRANSCEPT_MODEL_CACHE_DIR", "./models/.registry", "where model settings of the form `registry://NAME@ALIAS` (or `@VERSION`) are downloaded and verified at start, as `<dir>/<name>/<version>/`", false},
	{"TRANSCEPT_WHISPER_MODEL", "", "Whisper ONNX folder (Optimum layout) for transcribing recordings; without it only transcripts are accepted; or `registry://NAME@ALIAS` for a model registry version", false},
	{"TRANSCEPT_WHISPER_DTYPE", "fp32", "which weights of TRANSCEPT_WHISPER_MODEL to load: `fp32`, `q8`, `q4` or `fp16` (file names as for TRANSCEPT_SUMMARY_DTYPE)", false},
	{"TRANSCEPT_WHISPER_BATCH", "8", "30-second chunks of one recording Whisper decodes together: after the VAD, speech is merged into chunks of at most 30 s cut at the longest silences, and each batch is one encoder run and one batched decoder (`transcept transcribe --batch N` per run); `1` is the sequential long-form path with openai-whisper's seeking, whose token ids equal transformers.js's", false},
	{"TRANSCEPT_VAD", "auto", "voice-activity detection before Whisper (Silero VAD): `auto` (on when its model is installed), `on` (required), `off`", false},
	{"TRANSCEPT_VAD_MODEL", "", "Silero VAD `.onnx` file (empty: the tools cache, where `make vad` puts it)", false},
	{"TRANSCEPT_FFMPEG", "", "ffmpeg program that decodes recordings (empty: `ffmpeg` on PATH)", false},
	{"TRANSCEPT_FFPROBE", "", "ffprobe program that checks recordings (empty: `ffprobe` on PATH)", false},
	{"TRANSCEPT_VAD_THRESHOLD", "0.5", "speech probability above which a 32 ms frame counts as speech", false},
	{"TRANSCEPT_EMBED_MODEL", "", "sentence-embedding ONNX folder (BERT/MiniLM, Optimum layout); adds embedding ranking to BM25 by reciprocal rank fusion; or `registry://NAME@ALIAS` for a model registry version", false},
	{"TRANSCEPT_QA_MODEL", "", "decoder-only instruct ONNX folder (Qwen2.5-Instruct, Phi-3.5-mini; Optimum layout) for grounded, cited answers; the extractive answerer without it; or `registry://NAME@ALIAS` for a model registry version", false},
	{"TRANSCEPT_QA_DTYPE", "fp32", "which weights of TRANSCEPT_QA_MODEL to load: `fp32`, `q8`, `q4` or `fp16` (`onnx/model.onnx`, `model_quantized.onnx`, `model_q4.onnx`, `model_fp16.onnx`)", false},
	{"TRANSCEPT_QA_SPIN", "false", "let ONNX Runtime's worker threads spin between operators in the instruct LM: faster decoding on a dedicated node (1.37× instead of 1.19× transformers.js's speed in `tests/reference/causal-bench.sh`), much slower when other work shares the cores", false},
	{"TRANSCEPT_LANGUAGE", "", "default language of recordings (ISO 639-1 such as `en`; empty lets the model detect it)", false},
	{"TRANSCEPT_MAX_MEDIA_BYTES", "4294967296", "largest accepted recording in bytes (4 GiB), streamed to the object store", false},
	{"TRANSCEPT_CHUNK_TOKENS", "512", "window size in tokens for summarisation chunks", false},
	{"TRANSCEPT_QA_MIN_COVERAGE", "0.6", "share of a question's term weight the best passage must hold (0.2 when two or more question terms meet there), else the answer is \"This lecture does not cover that.\"", false},
	{"TRANSCEPT_MAX_UPLOAD_BYTES", "52428800", "largest accepted upload or request body in bytes (50 MiB)", false},
	{"TRANSCEPT_WORKERS", "2", "pipeline stages run at once in `transcept serve` (plus one worker kept for small lectures, see TRANSCEPT_SMALL_JOB_BYTES)", false},
	{"TRANSCEPT_SMALL_JOB_BYTES", "1048576", "lectures up to this input size have a pipeline worker of their own, so they never wait behind big ones (0 turns it off)", false},
	{"TRANSCEPT_FAIR_SHARE", "30s", "with sign-in, each lecture a user already has queued or running pushes their next one back this long in `transcept serve`'s queue, so one user's flood of uploads does not starve others (0 turns it off: first come, first served)", false},
	{"TRANSCEPT_QUEUE_LEASE", "1m", "how long a running pipeline stage holds its queued job before another process may take it over (renewed while it runs)", false},
	{"TRANSCEPT_STAGE_TIMEOUT", "5m", "time budget of one pipeline stage run, plus TRANSCEPT_STAGE_TIMEOUT_PER_MIB for each MiB of the lecture's input; past it the run is cancelled and retried", false},
	{"TRANSCEPT_STAGE_TIMEOUT_PER_MIB", "1m", "extra stage budget per MiB of input (a 100 MiB recording gets 5m + 100m)", false},
	{"TRANSCEPT_REQUEST_TIMEOUT", "1m", "time budget of a synchronous request (`/summarize`, `/qa`, `/transcribe`), plus 10 s per MiB of its body; a client that goes away cancels the work at once", false},
	{"TRANSCEPT_BODY_TIMEOUT", "30s", "a request body that sends nothing for this long is cut off (408)", false},
	{"TRANSCEPT_IDLE_TIMEOUT", "60s", "idle keep-alive connections are closed after this long", false},
	{"TRANSCEPT_SHUTDOWN_GRACE", "25s", "on SIGTERM: how long running stages may finish before they are cancelled and left queued for the next start (Knative's termination grace is 30 s)", false},
	{"TRANSCEPT_AUTH", "", "sign-in required: `on` or `off`; empty: off when TRANSCEPT_ADDR is a loopback address (single-user mode), on elsewhere (create the first admin with `transcept users create EMAIL --admin`)", false},
	{"TRANSCEPT_DATABASE_URL", "", "the lecture catalogue and accounts database: `postgres://user:pass@host:5432/db` for PostgreSQL, `sqlite:PATH` or a file path for SQLite; empty: `catalogue.db` inside TRANSCEPT_STORE_DIR", true},
	{"TRANSCEPT_SESSION_TTL", "168h", "how long a browser sign-in lasts", false},
	{"TRANSCEPT_OIDC_ISSUER", "", "OpenID Connect issuer URL; when set, users can sign in with that provider", false},
	{"TRANSCEPT_OIDC_CLIENT_ID", "", "the OIDC client id registered with the provider", false},
	{"TRANSCEPT_OIDC_CLIENT_SECRET", "", "the OIDC client secret", true},
	{"TRANSCEPT_OIDC_REDIRECT_URL", "", "the callback URL registered with the provider (`https://HOST/auth/oidc/callback`)", false},
	{"TRANSCEPT_OIDC_ALLOWED_DOMAINS", "", "comma-separated e-mail domains allowed to sign in with OIDC (empty: any verified e-mail); new users from them are created as members", false},
	{"TRANSCEPT_OIDC_ONLY", "false", "refuse password sign-in (API keys still work)", false},
	{"TRANSCEPT_CORS_ORIGINS", "", "comma-separated origins allowed to call the API from a browser (empty: none)", false},
	{"TRANSCEPT_METRICS_ADDR", "", "separate address for `/metrics` (`:9095` on Knative: the queue-proxy holds 9090 and 9091); empty: `/metrics` on the main address when sign-in is off, nowhere when it is on", false},
	{"TRANSCEPT_QUOTA_MEDIA_HOURS", "10", "hours of recordings a user may upload per day (UTC); 0: no limit", false},
	{"TRANSCEPT_QUOTA_UPLOADS", "100", "uploads a user may make per hour; 0: no limit", false},
	{"TRANSCEPT_QUOTA_JOBS", "4", "lectures of one user processing at once; 0: no limit", false},
	{"TRANSCEPT_QUOTA_QA", "30", "questions a user may ask per minute; 0: no limit", false},
	{"TRANSCEPT_UPLOAD_URL_TTL", "15m", "how long a presigned direct-to-bucket upload URL (`POST /lectures/uploads`) stays valid", false},
	{"TRANSCEPT_EVAL_DATA", "", "evaluation data folder of `transcept eval` (SummEval, QMSum, audio clips; empty: `shared/data` beside the repository); when set, `eval gate` and the nightly evaluation read it instead of the eval set in the store", false},
	{"TRANSCEPT_EVAL_CACHE_DIR", "./models/.eval", "where the eval set kept in the store (`transcept eval seed`) is downloaded and verified for the gate and the nightly evaluation, as `<dir>/<version>/`", false},
	{"TRANSCEPT_DRIFT_THRESHOLD", "0.25", "population stability index of the last day's lectures against the eval set (words per lecture, out-of-vocabulary share) above which the nightly evaluation emits `transcept.model.retrain.requested`", false},
	{"TRANSCEPT_DRIFT_MIN_LECTURES", "20", "lectures the last day must have for the nightly evaluation to score drift (fewer: no score; two samples of one distribution of n and m items show a PSI near (bins-1)(1/n+1/m), so small samples read as drift)", false},
	{"TRANSCEPT_PROMETHEUS_URL", "http://127.0.0.1:9090", "Prometheus that `transcept rollout analyze` queries for the canary's error ratio and latency per revision (in a cluster: the kube-prometheus-stack service, e.g. `http://prometheus-operated.monitoring:9090`)", false},
	{"TRANSCEPT_NAMESPACE", "transcept", "Kubernetes namespace of the functions' Knative Services, for `transcept rollout`", false},
	{"KUBECONFIG", "", "kubeconfig file(s) `transcept rollout` reaches the cluster with, read by client-go's standard loading rules (empty: `~/.kube/config`, or the in-cluster service account)", false},
	{"TRANSCEPT_FAULT_DELAY", "0s", "test only: time added to every run of the summary and transcription engines, to make a canary challenger slow (0s: off)", false},
	{"TRANSCEPT_FAULT_ERROR_RATE", "0", "test only: share (0 to 1) of summary and transcription engine runs that fail with an internal error, a 500 from the function, to make a canary challenger fail (0: off)", false},
	{"K_SINK", "", "where the ingest function sends its CloudEvents (set by the SinkBinding of infra/eventing to the Broker)", false},
	{"OTEL_TRACES_EXPORTER", "", "`otlp` turns tracing on (spans to the OTLP/HTTP endpoint), `none` keeps it off; the other standard `OTEL_*` variables are read by the OpenTelemetry SDK", false},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP collector base URL (`http://otel-collector:4318`); when set, tracing is on", false},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "OTLP/HTTP traces URL (`http://otel-collector:4318/v1/traces`), overriding OTEL_EXPORTER_OTLP_ENDPOINT for traces; when set, tracing is on", false},
	{"TRANSCEPT_LOG_LEVEL", "info", "log level: debug, info, warn, error", false},
	{"TRANSCEPT_LOG_FORMAT", "text", "log format: text or json", false},
}

// Config is the parsed configuration.
type Config struct {
	Addr           string
	StoreDir       string
	MinIO          MinIO
	RedisURL       string
	CacheBytes     int64
	CacheTTL       time.Duration
	Summarizer     string
	SummaryRatio   float64
	SummaryModel   string
	SummaryAdapter string
	// SummaryDType, WhisperDType and QADType choose the models' weight
	// files: fp32, q8, q4 or fp16.
	SummaryDType, WhisperDType, QADType string
	BatchMax                            int           // summary windows generated together
	BatchWait                           time.Duration // how long a window waits for others
	ORTThreads                          int
	ORTCacheDir                         string
	ORTPrepack                          string // auto, true or false: see Prepack
	ORTInt8Weights                      string // auto or off
	ModelsDir                           string
	ModelsURL                           string
	ModelCacheDir                       string // registry:// model settings are fetched here
	ChunkTokens                         int
	QAMinCoverage                       float64
	Quality                             Quality
	MaxUploadBytes                      int64
	MaxMediaBytes                       int64
	WhisperModel                        string
	WhisperBatch                        int     // chunks decoded together; 1: the sequential path
	VAD                                 string  // auto, on or off
	VADModel                            string  // Silero VAD .onnx; "" finds it
	VADThreshold                        float64 // speech probability threshold
	EmbedModel                          string
	QAModel                             string
	QASpin                              bool
	Language                            string
	Workers                             int
	SmallJobBytes                       int64
	QueueLease                          time.Duration
	FairShare                           time.Duration
	StageTimeout                        time.Duration
	StagePerMiB                         time.Duration
	RequestTimeout                      time.Duration
	BodyTimeout                         time.Duration
	IdleTimeout                         time.Duration
	ShutdownGrace                       time.Duration
	LogLevel                            string
	LogFormat                           string
	Accounts                            Accounts
	Rollout                             Rollout
}

// Rollout holds the canary rollout settings and the fault injection that
// tests of the canary analysis use.
type Rollout struct {
	PrometheusURL  string
	Namespace      string
	FaultDelay     time.Duration // added to every engine run (test only)
	FaultErrorRate float64       // share of engine runs that fail (test only)
}

// Quality holds the nightly evaluation's and input drift's settings.
type Quality struct {
	EvalCacheDir     string
	DriftThreshold   float64
	DriftMinLectures int
}

// Accounts holds the sign-in, database, quota and CORS settings.
type Accounts struct {
	Auth                                              string // "on", "off" or "" (auto: off on loopback)
	DatabaseURL                                       string
	SessionTTL                                        time.Duration
	OIDC                                              OIDC
	CORSOrigins                                       []string
	MetricsAddr                                       string
	QuotaMediaHours, QuotaUploads, QuotaJobs, QuotaQA float64
	UploadURLTTL                                      time.Duration
}

// OIDC holds the OpenID Connect sign-in settings.
type OIDC struct {
	Issuer, ClientID, ClientSecret, RedirectURL string
	AllowedDomains                              []string
	Only                                        bool
}

// AuthRequired reports whether sign-in is on for this configuration:
// TRANSCEPT_AUTH when set, else on unless Addr is a loopback address.
func (c *Config) AuthRequired() bool {
	switch c.Accounts.Auth {
	case "on":
		return true
	case "off":
		return false
	}
	return !IsLoopback(c.Addr)
}

// IsLoopback reports whether a listen address only accepts local clients
// (127.0.0.0/8, ::1, localhost); ":8080" and "0.0.0.0:8080" do not.
func IsLoopback(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// MinIO holds the object-store connection settings.
type MinIO struct {
	Endpoint, AccessKey, SecretKey, Region, PublicURL string
	Secure                                            bool
}

// Engines whose prepacking TRANSCEPT_ORT_PREPACK=auto decides apart.
const (
	EngineSummary = "summary"
	EngineWhisper = "whisper"
	EngineLM      = "lm"
)

// Prepack says whether ONNX Runtime prepacks the weights of engine's model
// files of dtype (fp32, q8, q4, fp16; "" is fp32). Auto follows `make
// bench-defaults` (README "Defaults, measured"): prepacked weights make the
// summary and Whisper decoder steps 1.2–1.6× faster (quantised kernels
// need them: a q4 step takes 65× as long without), while the instruct LM's
// float decode, one token at a time, runs as fast from unpacked weights
// and loads three times faster with less memory.
func (c *Config) Prepack(engine, dtype string) bool {
	switch c.ORTPrepack {
	case "true":
		return true
	case "false":
		return false
	}
	return engine != EngineLM || dtype == "q8" || dtype == "q4"
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (*Config, error) {
	m := map[string]string{}
	for _, s := range Settings {
		if v, ok := os.LookupEnv(s.Name); ok {
			m[s.Name] = v
		}
	}
	return FromMap(m)
}

// Lookup reads a setting from the process environment: its value and
// whether it is set. name must be one of Settings, so that `transcept
// config` lists every setting the code reads.
func Lookup(name string) (string, bool) {
	known(name)
	return os.LookupEnv(name)
}

// Get is a setting's value in the process environment, or its default
// when it is unset or empty.
func Get(name string) string {
	if v, _ := Lookup(name); v != "" {
		return v
	}
	return defaultOf(name)
}

// Environ is the whole process environment as a configuration map (what a
// function's Start receives under AWS Lambda).
func Environ() map[string]string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

func known(name string) {
	for _, s := range Settings {
		if s.Name == name {
			return
		}
	}
	panic("config: unknown setting " + name + " (add it to Settings)")
}

// FromMap parses a configuration map (unset keys take their defaults) and
// says which key is wrong and what it expects.
func FromMap(m map[string]string) (*Config, error) {
	get := func(k string) string {
		if v, ok := m[k]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		for _, s := range Settings {
			if s.Name == k {
				return s.Default
			}
		}
		panic("config: unknown setting " + k)
	}
	var errs []string
	num := func(k string, lo, hi float64) float64 {
		v, err := strconv.ParseFloat(get(k), 64)
		if err != nil || v < lo || v > hi {
			errs = append(errs, fmt.Sprintf("%s=%q: want a number from %g to %g", k, get(k), lo, hi))
		}
		return v
	}
	c := &Config{
		Addr:     get("TRANSCEPT_ADDR"),
		StoreDir: get("TRANSCEPT_STORE_DIR"),
		MinIO: MinIO{
			Endpoint:  get("MINIO_ENDPOINT"),
			AccessKey: get("MINIO_ACCESS_KEY"),
			SecretKey: get("MINIO_SECRET_KEY"),
			Region:    get("MINIO_REGION"),
			PublicURL: get("MINIO_PUBLIC_URL"),
		},
		RedisURL:       get("REDIS_URL"),
		CacheBytes:     int64(num("TRANSCEPT_CACHE_BYTES", 0, 1<<40)),
		Summarizer:     get("TRANSCEPT_SUMMARIZER"),
		SummaryRatio:   num("TRANSCEPT_SUMMARY_RATIO", 0.01, 1),
		SummaryModel:   get("TRANSCEPT_SUMMARY_MODEL"),
		SummaryAdapter: get("TRANSCEPT_SUMMARY_ADAPTER"),
		ORTThreads:     int(num("TRANSCEPT_ORT_THREADS", 0, 1024)),
		BatchMax:       int(num("TRANSCEPT_BATCH_MAX", 1, 256)),
		ORTCacheDir:    get("TRANSCEPT_ORT_CACHE_DIR"),
		ModelsDir:      get("TRANSCEPT_MODELS_DIR"),
		ModelsURL:      strings.TrimRight(get("TRANSCEPT_MODELS_URL"), "/"),
		ModelCacheDir:  get("TRANSCEPT_MODEL_CACHE_DIR"),
		ChunkTokens:    int(num("TRANSCEPT_CHUNK_TOKENS", 32, 4096)),
		QAMinCoverage:  num("TRANSCEPT_QA_MIN_COVERAGE", 0, 1),
		MaxUploadBytes: int64(num("TRANSCEPT_MAX_UPLOAD_BYTES", 1024, 1<<40)),
		MaxMediaBytes:  int64(num("TRANSCEPT_MAX_MEDIA_BYTES", 1024, 1<<44)),
		WhisperModel:   get("TRANSCEPT_WHISPER_MODEL"),
		WhisperBatch:   int(num("TRANSCEPT_WHISPER_BATCH", 1, 256)),
		VAD:            strings.ToLower(get("TRANSCEPT_VAD")),
		VADModel:       get("TRANSCEPT_VAD_MODEL"),
		VADThreshold:   num("TRANSCEPT_VAD_THRESHOLD", 0.01, 0.99),
		EmbedModel:     get("TRANSCEPT_EMBED_MODEL"),
		QAModel:        get("TRANSCEPT_QA_MODEL"),
		Language:       strings.ToLower(get("TRANSCEPT_LANGUAGE")),
		Workers:        int(num("TRANSCEPT_WORKERS", 1, 256)),
		SmallJobBytes:  int64(num("TRANSCEPT_SMALL_JOB_BYTES", 0, 1<<40)),
		LogLevel:       strings.ToLower(get("TRANSCEPT_LOG_LEVEL")),
		LogFormat:      strings.ToLower(get("TRANSCEPT_LOG_FORMAT")),
	}
	var err error
	if c.QASpin, err = strconv.ParseBool(get("TRANSCEPT_QA_SPIN")); err != nil {
		errs = append(errs, fmt.Sprintf("TRANSCEPT_QA_SPIN=%q: want true or false", get("TRANSCEPT_QA_SPIN")))
	}
	dtype := func(k string) string {
		v := strings.ToLower(get(k))
		if v != "fp32" && v != "q8" && v != "q4" && v != "fp16" {
			errs = append(errs, fmt.Sprintf("%s=%q: want fp32, q8, q4 or fp16", k, get(k)))
		}
		return v
	}
	c.SummaryDType, c.WhisperDType, c.QADType = dtype("TRANSCEPT_SUMMARY_DTYPE"), dtype("TRANSCEPT_WHISPER_DTYPE"), dtype("TRANSCEPT_QA_DTYPE")
	switch v := get("TRANSCEPT_ORT_INT8_WEIGHTS"); v {
	case "auto", "off":
		c.ORTInt8Weights = v
	default:
		errs = append(errs, fmt.Sprintf("TRANSCEPT_ORT_INT8_WEIGHTS=%q: want auto or off", v))
	}
	if v := get("TRANSCEPT_ORT_PREPACK"); v == "auto" {
		c.ORTPrepack = v
	} else if b, err := strconv.ParseBool(v); err == nil {
		c.ORTPrepack = strconv.FormatBool(b)
	} else {
		errs = append(errs, fmt.Sprintf("TRANSCEPT_ORT_PREPACK=%q: want auto, true or false", v))
	}
	switch c.ORTCacheDir {
	case "off":
		c.ORTCacheDir = ""
	case "auto":
		c.ORTCacheDir = ""
		if dir, err := os.UserCacheDir(); err == nil {
			c.ORTCacheDir = filepath.Join(dir, "transcept", "ort")
		}
	}
	if c.MinIO.Secure, err = strconv.ParseBool(get("MINIO_SECURE")); err != nil {
		errs = append(errs, fmt.Sprintf("MINIO_SECURE=%q: want true or false", get("MINIO_SECURE")))
	}
	if c.CacheTTL, err = time.ParseDuration(get("TRANSCEPT_CACHE_TTL")); err != nil || c.CacheTTL <= 0 {
		errs = append(errs, fmt.Sprintf("TRANSCEPT_CACHE_TTL=%q: want a positive duration such as 24h", get("TRANSCEPT_CACHE_TTL")))
	}
	dur := func(k string, lo time.Duration) time.Duration {
		d, err := time.ParseDuration(get(k))
		if err != nil || d < lo {
			errs = append(errs, fmt.Sprintf("%s=%q: want a duration of at least %s, such as %s", k, get(k), lo, defaultOf(k)))
		}
		return d
	}
	c.QueueLease = dur("TRANSCEPT_QUEUE_LEASE", time.Second)
	c.BatchWait = dur("TRANSCEPT_BATCH_WAIT", 0)
	c.FairShare = dur("TRANSCEPT_FAIR_SHARE", 0)
	c.StageTimeout = dur("TRANSCEPT_STAGE_TIMEOUT", time.Second)
	c.StagePerMiB = dur("TRANSCEPT_STAGE_TIMEOUT_PER_MIB", 0)
	c.RequestTimeout = dur("TRANSCEPT_REQUEST_TIMEOUT", time.Second)
	c.BodyTimeout = dur("TRANSCEPT_BODY_TIMEOUT", 100*time.Millisecond)
	c.IdleTimeout = dur("TRANSCEPT_IDLE_TIMEOUT", time.Second)
	c.ShutdownGrace = dur("TRANSCEPT_SHUTDOWN_GRACE", 0)
	c.Accounts = Accounts{
		Auth:            strings.ToLower(get("TRANSCEPT_AUTH")),
		DatabaseURL:     get("TRANSCEPT_DATABASE_URL"),
		SessionTTL:      dur("TRANSCEPT_SESSION_TTL", time.Minute),
		CORSOrigins:     splitList(get("TRANSCEPT_CORS_ORIGINS")),
		MetricsAddr:     get("TRANSCEPT_METRICS_ADDR"),
		QuotaMediaHours: num("TRANSCEPT_QUOTA_MEDIA_HOURS", 0, 1e6),
		QuotaUploads:    num("TRANSCEPT_QUOTA_UPLOADS", 0, 1e9),
		QuotaJobs:       num("TRANSCEPT_QUOTA_JOBS", 0, 1e6),
		QuotaQA:         num("TRANSCEPT_QUOTA_QA", 0, 1e9),
		UploadURLTTL:    dur("TRANSCEPT_UPLOAD_URL_TTL", time.Minute),
		OIDC: OIDC{
			Issuer:         strings.TrimRight(get("TRANSCEPT_OIDC_ISSUER"), "/"),
			ClientID:       get("TRANSCEPT_OIDC_CLIENT_ID"),
			ClientSecret:   get("TRANSCEPT_OIDC_CLIENT_SECRET"),
			RedirectURL:    get("TRANSCEPT_OIDC_REDIRECT_URL"),
			AllowedDomains: splitList(strings.ToLower(get("TRANSCEPT_OIDC_ALLOWED_DOMAINS"))),
		},
	}
	c.Rollout = Rollout{
		PrometheusURL:  strings.TrimRight(get("TRANSCEPT_PROMETHEUS_URL"), "/"),
		Namespace:      get("TRANSCEPT_NAMESPACE"),
		FaultDelay:     dur("TRANSCEPT_FAULT_DELAY", 0),
		FaultErrorRate: num("TRANSCEPT_FAULT_ERROR_RATE", 0, 1),
	}
	c.Quality = Quality{
		EvalCacheDir:     get("TRANSCEPT_EVAL_CACHE_DIR"),
		DriftThreshold:   num("TRANSCEPT_DRIFT_THRESHOLD", 0, 100),
		DriftMinLectures: int(num("TRANSCEPT_DRIFT_MIN_LECTURES", 0, 1e6)),
	}
	if c.Accounts.OIDC.Only, err = strconv.ParseBool(get("TRANSCEPT_OIDC_ONLY")); err != nil {
		errs = append(errs, fmt.Sprintf("TRANSCEPT_OIDC_ONLY=%q: want true or false", get("TRANSCEPT_OIDC_ONLY")))
	}
	switch c.Accounts.Auth {
	case "", "on", "off":
	default:
		errs = append(errs, fmt.Sprintf("TRANSCEPT_AUTH=%q: want on or off (or leave it empty)", c.Accounts.Auth))
	}
	if o := c.Accounts.OIDC; o.Issuer != "" && (o.ClientID == "" || o.RedirectURL == "") {
		errs = append(errs, "TRANSCEPT_OIDC_ISSUER is set: TRANSCEPT_OIDC_CLIENT_ID and TRANSCEPT_OIDC_REDIRECT_URL are needed too")
	}
	if c.Accounts.OIDC.Only && c.Accounts.OIDC.Issuer == "" {
		errs = append(errs, "TRANSCEPT_OIDC_ONLY=true needs TRANSCEPT_OIDC_ISSUER")
	}
	switch c.Summarizer {
	case "extractive", "bart":
	default:
		errs = append(errs, fmt.Sprintf("TRANSCEPT_SUMMARIZER=%q: want extractive or bart", c.Summarizer))
	}
	switch c.VAD {
	case "auto", "on", "off":
	default:
		errs = append(errs, fmt.Sprintf("TRANSCEPT_VAD=%q: want auto, on or off", c.VAD))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Sprintf("TRANSCEPT_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Sprintf("TRANSCEPT_LOG_FORMAT=%q: want text or json", c.LogFormat))
	}
	if c.MinIO.Endpoint != "" && (c.MinIO.AccessKey == "" || c.MinIO.SecretKey == "") {
		errs = append(errs, "MINIO_ENDPOINT is set: MINIO_ACCESS_KEY and MINIO_SECRET_KEY are needed too")
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, lecture.Errorf(lecture.EINVALID, "configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func defaultOf(name string) string {
	for _, s := range Settings {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

// StageBudget is the time one pipeline stage run may take for an input of
// size bytes.
func (c *Config) StageBudget(size int64) time.Duration {
	return c.StageTimeout + time.Duration(float64(size)/(1<<20)*float64(c.StagePerMiB))
}

// RequestBudget is the time a synchronous request with a body of size
// bytes may take.
func (c *Config) RequestBudget(size int64) time.Duration {
	return c.RequestTimeout + time.Duration(float64(size)/(1<<20)*float64(10*time.Second))
}

// Table renders the settings as a Markdown table, for the README and `transcept config`.
func Table() string {
	var b strings.Builder
	b.WriteString("| setting | default | meaning |\n|---|---|---|\n")
	for _, s := range Settings {
		d := s.Default
		if d == "" {
			d = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", s.Name, d, s.Help)
	}
	return b.String()
}

// Redact hides the secret part of a setting's value for logs.
func Redact(name, value string) string {
	for _, s := range Settings {
		if s.Name == name && s.Secret && value != "" {
			if name == "REDIS_URL" || name == "TRANSCEPT_DATABASE_URL" {
				if i := strings.Index(value, "@"); i >= 0 {
					if j := strings.Index(value, "://"); j >= 0 && j < i {
						return value[:j+3] + "***" + value[i:]
					}
				}
				return value
			}
			return "***"
		}
	}
	return value
}
