package metrics

// Model quality and input drift: the nightly evaluation's gauges
// (transcept_eval_*), the drift scores and retrain requests it computes, and
// the input distributions the pipeline records as lectures pass
// (transcept_input_*). The collectors are registered on the registry on
// first use, so a process that never evaluates exports none of them.

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// quality holds the collectors of this file for one Metrics.
type quality struct {
	score     *prometheus.GaugeVec     // task, model, version, metric
	latency   *prometheus.GaugeVec     // task, model, version, percentile
	lastRun   *prometheus.GaugeVec     // task
	runs      *prometheus.CounterVec   // task, outcome
	drift     *prometheus.GaugeVec     // stage, feature
	retrain   *prometheus.CounterVec   // reason
	words     *prometheus.HistogramVec // stage
	language  *prometheus.CounterVec   // stage, language
	noSpeech  *prometheus.HistogramVec // stage
	oov       *prometheus.HistogramVec // stage
	evalItems *prometheus.GaugeVec     // version
}

var qualities sync.Map // *Metrics -> *quality

// WordBuckets are the words-per-lecture histogram's upper bounds (a short
// talk to a long seminar); drift's population stability index bins words
// the same way.
var WordBuckets = []float64{250, 500, 1000, 2000, 4000, 8000, 16000, 32000}

// ShareBuckets are the bounds of the share histograms (no-speech,
// out-of-vocabulary), and of their drift bins.
var ShareBuckets = []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5}

func (m *Metrics) quality() *quality {
	if q, ok := qualities.Load(m); ok {
		return q.(*quality)
	}
	q := &quality{
		score: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_eval_score", Help: "The nightly evaluation's score of each champion on the eval set by task, model, version and metric (rouge1, rouge2, rougeL, coverage, decline, wer; points, x100).",
		}, []string{"task", "model", "version", "metric"}),
		latency: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_eval_latency_seconds", Help: "The nightly evaluation's per-item latency of each champion by task, model, version and percentile (p50, p95; not a summary's quantile label, which promtool reserves).",
		}, []string{"task", "model", "version", "percentile"}),
		lastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_eval_last_run_timestamp_seconds", Help: "When the nightly evaluation of a task last finished successfully (Unix seconds).",
		}, []string{"task"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_eval_runs_total", Help: "Nightly evaluations by task and outcome (ok, error).",
		}, []string{"task", "outcome"}),
		drift: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_drift_score", Help: "Population stability index of the last day's lectures against the eval set, by stage and feature (words, oov).",
		}, []string{"stage", "feature"}),
		retrain: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_retrain_requests_total", Help: "transcept.model.retrain.requested events emitted, by reason (drift).",
		}, []string{"reason"}),
		words: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_input_words", Help: "Words per lecture, by the stage that recorded it.", Buckets: WordBuckets,
		}, []string{"stage"}),
		language: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_input_language_total", Help: "Lectures by detected language (Whisper's codes, unknown when none was detected, other for anything else), by stage.",
		}, []string{"stage", "language"}),
		noSpeech: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_input_no_speech_ratio", Help: "Share of a timestamped lecture's length without speech (gaps between segments), by stage.", Buckets: ShareBuckets,
		}, []string{"stage"}),
		oov: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_input_oov_ratio", Help: "Share of a lecture's words outside the eval set's vocabulary, by stage.", Buckets: ShareBuckets,
		}, []string{"stage"}),
		evalItems: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_eval_set_items", Help: "Items of the eval set the nightly evaluation read, by eval set version.",
		}, []string{"version"}),
	}
	if prev, loaded := qualities.LoadOrStore(m, q); loaded {
		return prev.(*quality)
	}
	m.registry.MustRegister(q.score, q.latency, q.lastRun, q.runs, q.drift, q.retrain, q.words, q.language, q.noSpeech, q.oov, q.evalItems)
	return q
}

// EvalRun is one champion's nightly scores for SetEvalRun.
type EvalRun struct {
	Task, Model, Version string
	// Scores by metric: rouge1, rouge2, rougeL (summarize), coverage,
	// decline (qa), wer (transcribe); points (x100).
	Scores   map[string]float64
	P50, P95 time.Duration
}

// SetEvalRun exports one champion's scores and latency, and marks the
// task's last successful run now.
func (m *Metrics) SetEvalRun(r EvalRun, at time.Time) {
	if m == nil {
		return
	}
	q := m.quality()
	// Only the champion evaluated last is exported per task and model: a
	// version replaced by a new champion stops being reported.
	q.score.DeletePartialMatch(prometheus.Labels{"task": r.Task, "model": r.Model})
	q.latency.DeletePartialMatch(prometheus.Labels{"task": r.Task, "model": r.Model})
	for metric, v := range r.Scores {
		q.score.WithLabelValues(r.Task, r.Model, r.Version, metric).Set(v)
	}
	q.latency.WithLabelValues(r.Task, r.Model, r.Version, "p50").Set(r.P50.Seconds())
	q.latency.WithLabelValues(r.Task, r.Model, r.Version, "p95").Set(r.P95.Seconds())
	q.lastRun.WithLabelValues(r.Task).Set(float64(at.Unix()))
}

// InitEvalRuns exports transcept_eval_runs_total at 0 for the tasks and
// both outcomes, so that the first failed run of a process (a function
// started for one nightly run) is an increase Prometheus can see.
func (m *Metrics) InitEvalRuns(tasks ...string) {
	if m == nil {
		return
	}
	q := m.quality()
	for _, t := range tasks {
		q.runs.WithLabelValues(t, "ok")
		q.runs.WithLabelValues(t, "error")
	}
	q.retrain.WithLabelValues("drift")
}

// CountEvalRun counts one nightly evaluation of a task: outcome ok or error.
func (m *Metrics) CountEvalRun(task, outcome string) {
	if m == nil {
		return
	}
	if outcome != "ok" {
		outcome = "error"
	}
	m.quality().runs.WithLabelValues(task, outcome).Inc()
}

// SetEvalSet records the size of the eval set version evaluated.
func (m *Metrics) SetEvalSet(version string, items int) {
	if m == nil {
		return
	}
	m.quality().evalItems.WithLabelValues(version).Set(float64(items))
}

// SetDrift exports a drift score (population stability index).
func (m *Metrics) SetDrift(stage, feature string, psi float64) {
	if m == nil {
		return
	}
	m.quality().drift.WithLabelValues(stage, feature).Set(psi)
}

// CountRetrain counts one transcept.model.retrain.requested event.
func (m *Metrics) CountRetrain(reason string) {
	if m == nil {
		return
	}
	m.quality().retrain.WithLabelValues(reason).Inc()
}

// Input is what the pipeline measured of one lecture's input. NoSpeech and
// OOV are shares from 0 to 1, negative when unknown (a transcript without
// timestamps; no eval set vocabulary).
type Input struct {
	Words         int
	Language      string
	NoSpeech, OOV float64
}

// ObserveInput records one lecture's input distributions at a stage.
func (m *Metrics) ObserveInput(stage string, in Input) {
	if m == nil {
		return
	}
	q := m.quality()
	q.words.WithLabelValues(stage).Observe(float64(in.Words))
	q.language.WithLabelValues(stage, LanguageLabel(in.Language)).Inc()
	if in.NoSpeech >= 0 {
		q.noSpeech.WithLabelValues(stage).Observe(in.NoSpeech)
	}
	if in.OOV >= 0 {
		q.oov.WithLabelValues(stage).Observe(in.OOV)
	}
}

// whisperLanguages are the language codes Whisper detects.
var whisperLanguages = map[string]bool{}

func init() {
	for _, l := range strings.Fields(`en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da hu ta no
		th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs kk sq sw gl mr pa si km sn yo so af
		oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb my bo tl mg as tt haw ln ha ba jw su yue`) {
		whisperLanguages[l] = true
	}
}

// LanguageLabel bounds a language to Whisper's codes: "unknown" when none
// was detected, "other" for anything else.
func LanguageLabel(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if base, _, ok := strings.Cut(lang, "-"); ok {
		lang = base // en-US
	}
	switch {
	case lang == "":
		return "unknown"
	case whisperLanguages[lang]:
		return lang
	}
	return "other"
}

// HistogramOf reads one of the input histograms by name and label values:
// the count, the sum and the cumulative count at each upper bound.
func (m *Metrics) HistogramOf(name string, labels ...string) (count uint64, sum float64, buckets map[float64]uint64) {
	q := m.quality()
	var h *prometheus.HistogramVec
	switch name {
	case "transcept_input_words":
		h = q.words
	case "transcept_input_no_speech_ratio":
		h = q.noSpeech
	case "transcept_input_oov_ratio":
		h = q.oov
	default:
		return 0, 0, nil
	}
	o, err := h.GetMetricWithLabelValues(labels...)
	if err != nil {
		return 0, 0, nil
	}
	var d dto.Metric
	if err := o.(prometheus.Metric).Write(&d); err != nil || d.Histogram == nil {
		return 0, 0, nil
	}
	buckets = map[float64]uint64{}
	for _, b := range d.Histogram.Bucket {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	return d.Histogram.GetSampleCount(), d.Histogram.GetSampleSum(), buckets
}

// QualityValue reads one of this file's counters or gauges by name and
// label values (tests, status pages); 0 when there is no such series.
func (m *Metrics) QualityValue(name string, labels ...string) float64 {
	q := m.quality()
	var c prometheus.Collector
	var err error
	switch name {
	case "transcept_eval_score":
		c, err = q.score.GetMetricWithLabelValues(labels...)
	case "transcept_eval_latency_seconds":
		c, err = q.latency.GetMetricWithLabelValues(labels...)
	case "transcept_eval_last_run_timestamp_seconds":
		c, err = q.lastRun.GetMetricWithLabelValues(labels...)
	case "transcept_eval_runs_total":
		c, err = q.runs.GetMetricWithLabelValues(labels...)
	case "transcept_drift_score":
		c, err = q.drift.GetMetricWithLabelValues(labels...)
	case "transcept_retrain_requests_total":
		c, err = q.retrain.GetMetricWithLabelValues(labels...)
	case "transcept_input_language_total":
		c, err = q.language.GetMetricWithLabelValues(labels...)
	case "transcept_eval_set_items":
		c, err = q.evalItems.GetMetricWithLabelValues(labels...)
	default:
		return 0
	}
	return read(c, err)
}
