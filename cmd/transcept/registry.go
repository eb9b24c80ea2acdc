// Package functions lists the suite's functions, one per pipeline stage,
// for the binary that runs any of them (`transcept function NAME`) and the
// AWS Lambda entry point (`transcept lambda NAME`).
package functions

import (
	"context"
	"net/http"
	"sort"

	"github.com/transcept/transcept/functions/answer"
	"github.com/transcept/transcept/functions/gateway"
	"github.com/transcept/transcept/functions/index"
	"github.com/transcept/transcept/functions/ingest"
	"github.com/transcept/transcept/functions/segment"
	"github.com/transcept/transcept/functions/summarize"
	"github.com/transcept/transcept/functions/transcribe"
	"github.com/transcept/transcept/shared/metrics"
)

// Kind is how a function is invoked.
type Kind string

const (
	HTTP       Kind = "http"
	CloudEvent Kind = "cloudevent"
)

// Instance is what every function implements (func-go's instanced interface).
type Instance interface {
	Start(context.Context, map[string]string) error
	Stop(context.Context) error
	Ready(context.Context) (bool, error)
	Alive(context.Context) (bool, error)
}

// Spec describes one function.
type Spec struct {
	Name    string
	Kind    Kind
	New     func() (Instance, *metrics.Metrics)
	Service string // Knative Service name
}

// All is every function of the suite.
var All = map[string]Spec{
	"gateway":    {"gateway", HTTP, func() (Instance, *metrics.Metrics) { f := gateway.New(); return f, f.Metrics }, "transcept-gateway"},
	"ingest":     {"ingest", HTTP, func() (Instance, *metrics.Metrics) { f := ingest.New(); return f, f.Metrics }, "transcept-ingest"},
	"transcribe": {"transcribe", CloudEvent, func() (Instance, *metrics.Metrics) { f := transcribe.New(); return f, f.Metrics }, "transcept-transcribe"},
	"segment":    {"segment", CloudEvent, func() (Instance, *metrics.Metrics) { f := segment.New(); return f, f.Metrics }, "transcept-segment"},
	"summarize":  {"summarize", CloudEvent, func() (Instance, *metrics.Metrics) { f := summarize.New(); return f, f.Metrics }, "transcept-summarize"},
	"index":      {"index", CloudEvent, func() (Instance, *metrics.Metrics) { f := index.New(); return f, f.Metrics }, "transcept-index"},
	"answer":     {"answer", HTTP, func() (Instance, *metrics.Metrics) { f := answer.New(); return f, f.Metrics }, "transcept-answer"},
}

// Names lists the functions in a stable order.
func Names() []string {
	var out []string
	for n := range All {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// WithMetrics serves /metrics from the function's registry in front of h.
func WithMetrics(h http.Handler, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.Handle("/", h)
	return mux
}
