// Package metrics is Transcept's one Prometheus registry and its collectors,
// the only package that imports the Prometheus client: the rest of the code
// reports through its methods (ObserveRequest, ObserveStage, CountCache,
// SetEngine, SetModelLoad, CountLecture, CountStageLecture, ObserveModelRun,
// CountEvent, CountReused, QueueDepth).
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics holds the collectors every part of Transcept reports to.
type Metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec   // route, method, status
	latency       *prometheus.HistogramVec // route
	stageDuration *prometheus.HistogramVec // stage, outcome
	cache         *prometheus.CounterVec   // cache, result: hit|miss|error
	engine        *prometheus.GaugeVec     // stage, engine, model, provider
	events        *prometheus.CounterVec   // type, outcome: ok|retry|dead_letter|interrupted
	reused        *prometheus.CounterVec   // stage
	modelLoad     *prometheus.GaugeVec     // stage
	lectures      *prometheus.CounterVec   // outcome: uploaded|ready|failed
	stageLectures *prometheus.CounterVec   // stage, outcome: done|failed
	modelRun      *prometheus.HistogramVec // task, engine, outcome
	modelTokens   *prometheus.CounterVec   // task, engine
}

// New makes a registry with the Go and process collectors and ours.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		registry: r,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_stage_duration_seconds", Help: "Pipeline stage durations by stage and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
		}, []string{"stage", "outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_cache_requests_total", Help: "Summary cache look-ups by cache and result (hit, miss, error).",
		}, []string{"cache", "result"}),
		engine: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_engine_info", Help: "Engine in use per stage (value 1), with its model and execution provider.",
		}, []string{"stage", "engine", "model", "provider"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_events_total", Help: "Pipeline events handled by type and outcome (ok, retry, dead_letter).",
		}, []string{"type", "outcome"}),
		reused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_stage_reused_total", Help: "Stage results copied from an identical upload instead of computed again, by stage.",
		}, []string{"stage"}),
		modelLoad: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_model_load_seconds", Help: "Seconds the engine of each stage took to load at start.",
		}, []string{"stage"}),
		lectures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_lectures_total", Help: "Lectures through the pipeline funnel by outcome (uploaded, ready, failed), each counted once per lecture by the process that saw the transition.",
		}, []string{"outcome"}),
		stageLectures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_stage_lectures_total", Help: "Lectures through each pipeline stage by outcome (done, failed), each counted once per lecture and stage by the process that ran it: the funnel per stage.",
		}, []string{"stage", "outcome"}),
		modelRun: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_model_run_duration_seconds", Help: "Model runs (a summary, an answer, a transcription, an embedding pass) by task, engine and outcome (ok, error).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
		}, []string{"task", "engine", "outcome"}),
		modelTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_model_tokens_total", Help: "Tokens the models generated, by task and engine; divided by the rate of transcept_model_run_duration_seconds_sum it is tokens per second.",
		}, []string{"task", "engine"}),
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.stageDuration, m.cache, m.engine, m.events, m.reused, m.modelLoad, m.lectures,
		m.stageLectures, m.modelRun, m.modelTokens)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// ObserveStage records how long a stage took and whether it succeeded.
func (m *Metrics) ObserveStage(stage string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.stageDuration.WithLabelValues(stage, outcome).Observe(time.Since(start).Seconds())
}

// QueueDepth reports the pipeline jobs queued or running, read from f at
// each scrape.
func (m *Metrics) QueueDepth(f func() float64) {
	_ = m.registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{ // once per registry
		Name: "transcept_queue_jobs", Help: "Pipeline jobs queued or running in this process.",
	}, f))
}

// CountCache counts one cache look-up: cache is "memory", "redis" or
// "process" (the HTTP edge's cache of whole responses); result is hit,
// miss or error.
func (m *Metrics) CountCache(cache, result string) {
	m.cache.WithLabelValues(cache, result).Inc()
}

// ObserveRequest counts one HTTP request by route, method and status code
// and records its latency.
func (m *Metrics) ObserveRequest(route, method string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// SetEngine records the engine a stage runs, with its model and execution
// provider.
func (m *Metrics) SetEngine(stage, engine, model, provider string) {
	m.engine.WithLabelValues(stage, engine, model, provider).Set(1)
}

// SetModelLoad records how long a stage's engine took to load (stage is
// one of transcribe, summarize, embed, answer).
func (m *Metrics) SetModelLoad(stage string, took time.Duration) {
	if m == nil {
		return
	}
	m.modelLoad.WithLabelValues(stage).Set(took.Seconds())
}

// Lecture funnel outcomes for CountLecture.
const (
	LectureUploaded = "uploaded"
	LectureReady    = "ready"
	LectureFailed   = "failed"
)

// CountLecture counts one lecture reaching a funnel outcome: uploaded,
// ready or failed (any other value is counted as "other", keeping the
// label bounded).
func (m *Metrics) CountLecture(outcome string) {
	if m == nil {
		return
	}
	switch outcome {
	case LectureUploaded, LectureReady, LectureFailed:
	default:
		outcome = "other"
	}
	m.lectures.WithLabelValues(outcome).Inc()
}

// Stage funnel outcomes for CountStageLecture.
const (
	StageDone   = "done"
	StageFailed = "failed"
)

// CountStageLecture counts one lecture finishing a pipeline stage (done)
// or dead-lettered in it (failed); stage is one of the pipeline's stages
// (ingest, transcribe, segment, summarize, index; a dead letter of the
// chunks event, which both summarize and index take, is "summarize/index"),
// anything else "other".
func (m *Metrics) CountStageLecture(stage, outcome string) {
	if m == nil {
		return
	}
	switch stage {
	case "ingest", "transcribe", "segment", "summarize", "index", "summarize/index":
	default:
		stage = "other"
	}
	if outcome != StageDone {
		outcome = StageFailed
	}
	m.stageLectures.WithLabelValues(stage, outcome).Inc()
}

// ObserveModelRun records one model run: how long it took, whether it
// failed and how many tokens it generated (0 for engines that generate
// none, such as the extractive ones). task is transcribe, summarize,
// answer or embed; engine is the engine's name (a fixed set).
func (m *Metrics) ObserveModelRun(task, engine string, took time.Duration, tokens int64, err error) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.modelRun.WithLabelValues(task, engine, outcome).Observe(took.Seconds())
	if tokens > 0 {
		m.modelTokens.WithLabelValues(task, engine).Add(float64(tokens))
	}
}

// CountEvent counts one pipeline event handled, by type and outcome (ok,
// retry, dead_letter, interrupted, error, sent).
func (m *Metrics) CountEvent(typ, outcome string) {
	m.events.WithLabelValues(typ, outcome).Inc()
}

// CountReused counts a stage result copied from an identical upload.
func (m *Metrics) CountReused(stage string) {
	m.reused.WithLabelValues(stage).Inc()
}

// Value reads one of our counters or gauges by metric name and label
// values, in the order the metric declares them (tests, status pages); 0
// when there is no such series (reading one creates it).
func (m *Metrics) Value(name string, labels ...string) float64 {
	var c prometheus.Collector
	var err error
	switch name {
	case "transcept_http_requests_total":
		c, err = m.requests.GetMetricWithLabelValues(labels...)
	case "transcept_cache_requests_total":
		c, err = m.cache.GetMetricWithLabelValues(labels...)
	case "transcept_engine_info":
		c, err = m.engine.GetMetricWithLabelValues(labels...)
	case "transcept_events_total":
		c, err = m.events.GetMetricWithLabelValues(labels...)
	case "transcept_stage_reused_total":
		c, err = m.reused.GetMetricWithLabelValues(labels...)
	case "transcept_model_load_seconds":
		c, err = m.modelLoad.GetMetricWithLabelValues(labels...)
	case "transcept_lectures_total":
		c, err = m.lectures.GetMetricWithLabelValues(labels...)
	case "transcept_stage_lectures_total":
		c, err = m.stageLectures.GetMetricWithLabelValues(labels...)
	case "transcept_model_tokens_total":
		c, err = m.modelTokens.GetMetricWithLabelValues(labels...)
	default:
		return 0
	}
	return read(c, err)
}

// read is the value of one counter or gauge series (0 when err is set).
func read(c prometheus.Collector, err error) float64 {
	if err != nil {
		return 0
	}
	var d dto.Metric
	if err := c.(prometheus.Metric).Write(&d); err != nil {
		return 0
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
