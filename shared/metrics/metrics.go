// Package metrics is Transcept's one Prometheus registry and its collectors.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the collectors every part of Transcept reports to.
type Metrics struct {
	Registry      *prometheus.Registry
	Requests      *prometheus.CounterVec   // route, method, status
	Latency       *prometheus.HistogramVec // route
	StageDuration *prometheus.HistogramVec // stage, outcome
	Cache         *prometheus.CounterVec   // cache, result: hit|miss|error
	Engine        *prometheus.GaugeVec     // stage, engine, model, provider
	Events        *prometheus.CounterVec   // type, outcome: ok|retry|dead_letter|interrupted
	Reused        *prometheus.CounterVec   // stage
}

// New makes a registry with the Go and process collectors and ours.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_http_requests_total", Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "status"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "transcept_stage_duration_seconds", Help: "Pipeline stage durations by stage and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 12),
		}, []string{"stage", "outcome"}),
		Cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_cache_requests_total", Help: "Summary cache look-ups by cache and result (hit, miss, error).",
		}, []string{"cache", "result"}),
		Engine: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "transcept_engine_info", Help: "Engine in use per stage (value 1), with its model and execution provider.",
		}, []string{"stage", "engine", "model", "provider"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_events_total", Help: "Pipeline events handled by type and outcome (ok, retry, dead_letter).",
		}, []string{"type", "outcome"}),
		Reused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "transcept_stage_reused_total", Help: "Stage results copied from an identical upload instead of computed again, by stage.",
		}, []string{"stage"}),
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Requests, m.Latency, m.StageDuration, m.Cache, m.Engine, m.Events, m.Reused)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// ObserveStage records how long a stage took and whether it succeeded.
func (m *Metrics) ObserveStage(stage string, start time.Time, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.StageDuration.WithLabelValues(stage, outcome).Observe(time.Since(start).Seconds())
}

// QueueDepth reports the pipeline jobs queued or running, read from f at
// each scrape.
func (m *Metrics) QueueDepth(f func() float64) {
	_ = m.Registry.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{ // once per registry
		Name: "transcept_queue_jobs", Help: "Pipeline jobs queued or running in this process.",
	}, f))
}

// CacheResult counts one cache look-up: cache is "memory", "redis" or
// "process" (the HTTP edge's cache of whole responses); result is hit,
// miss or error.
func (m *Metrics) CacheResult(cache, result string) {
	m.Cache.WithLabelValues(cache, result).Inc()
}
