package main

// The function registry: the suite's functions, one per pipeline stage,
// for `transcept function NAME` and the AWS Lambda entry point
// (`transcept lambda NAME`).

import (
	"context"
	"net/http"
	"sort"

	"github.com/transcept/transcept/functions/answer"
	evalfn "github.com/transcept/transcept/functions/eval"
	"github.com/transcept/transcept/functions/gateway"
	"github.com/transcept/transcept/functions/index"
	"github.com/transcept/transcept/functions/ingest"
	"github.com/transcept/transcept/functions/segment"
	"github.com/transcept/transcept/functions/summarize"
	"github.com/transcept/transcept/functions/transcribe"
	"github.com/transcept/transcept/shared/metrics"
)

// functionKind is how a function is invoked.
type functionKind string

const (
	kindHTTP       functionKind = "http"
	kindCloudEvent functionKind = "cloudevent"
)

// instance is what every function implements (func-go's instanced interface).
type instance interface {
	Start(context.Context, map[string]string) error
	Stop(context.Context) error
	Ready(context.Context) (bool, error)
	Alive(context.Context) (bool, error)
}

// functionSpec describes one function.
type functionSpec struct {
	Name    string
	Kind    functionKind
	New     func() (instance, *metrics.Metrics)
	Service string // Knative Service name
}

// registry is every function of the suite.
var registry = map[string]functionSpec{
	"gateway":    {"gateway", kindHTTP, func() (instance, *metrics.Metrics) { f := gateway.New(); return f, f.Metrics }, "transcept-gateway"},
	"ingest":     {"ingest", kindHTTP, func() (instance, *metrics.Metrics) { f := ingest.New(); return f, f.Metrics }, "transcept-ingest"},
	"transcribe": {"transcribe", kindCloudEvent, func() (instance, *metrics.Metrics) { f := transcribe.New(); return f, f.Metrics }, "transcept-transcribe"},
	"segment":    {"segment", kindCloudEvent, func() (instance, *metrics.Metrics) { f := segment.New(); return f, f.Metrics }, "transcept-segment"},
	"summarize":  {"summarize", kindCloudEvent, func() (instance, *metrics.Metrics) { f := summarize.New(); return f, f.Metrics }, "transcept-summarize"},
	"index":      {"index", kindCloudEvent, func() (instance, *metrics.Metrics) { f := index.New(); return f, f.Metrics }, "transcept-index"},
	"answer":     {"answer", kindHTTP, func() (instance, *metrics.Metrics) { f := answer.New(); return f, f.Metrics }, "transcept-answer"},
	"eval":       {"eval", kindCloudEvent, func() (instance, *metrics.Metrics) { f := evalfn.New(); return f, f.Metrics }, "transcept-eval"},
}

// functionNames lists the functions in a stable order.
func functionNames() []string {
	var out []string
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// withMetrics serves /metrics from the function's registry in front of h.
func withMetrics(h http.Handler, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", h)
	return mux
}
