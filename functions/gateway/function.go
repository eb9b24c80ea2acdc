// Package gateway is the HTTP API function (the root func.yaml): /summarize,
// /qa, /lectures and their status, backed by the same pipeline code as the
// local server. It is also the Broker's dead-letter sink (/dead-letter),
// which records a failed event in preprocessed/<id>/failed.json where the
// lecture's status shows it, and it receives the pipeline's terminal events
// (/events).
package gateway

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
)

// Function is the func-go instance.
type Function struct {
	wire.Base
	api wire.LazyHandler
}

// New returns the instance.
func New() *Function { return &Function{Base: wire.NewBase("gateway")} }

func (f *Function) handler() http.Handler {
	return f.api.Get(func() http.Handler {
		srv := f.APIServer()
		srv.Ready = func() error { return f.Suite().Ready(context.Background()) }
		mux := http.NewServeMux()
		mux.Handle("/", srv.Handler())
		mux.HandleFunc("POST /dead-letter", f.deadLetter)
		mux.HandleFunc("POST /events", f.events)
		return mux
	})
}

// Handle serves the API.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	f.Serve(w, r, func(w http.ResponseWriter, r *http.Request) { f.handler().ServeHTTP(w, r) })
}

// deadLetter records an event that exhausted its deliveries. Knative adds
// the last response in the knativeerrorcode/knativeerrordata extensions.
func (f *Function) deadLetter(w http.ResponseWriter, r *http.Request) {
	ce, ok := eventing.ReadHTTP(w, r)
	if !ok {
		return
	}
	e, err := eventing.FromCloudEvent(*ce)
	if err != nil {
		f.Log().Error("dead letter that is not ours", "id", ce.ID(), "type", ce.Type(), "err", err)
		w.WriteHeader(http.StatusAccepted) // nothing to record; do not loop
		return
	}
	reason := "delivery failed after retries"
	ext := ce.Extensions()
	if code, ok := ext["knativeerrorcode"]; ok {
		reason += ": HTTP " + toString(code)
	}
	if data, ok := ext["knativeerrordata"]; ok {
		if b, err := base64.StdEncoding.DecodeString(toString(data)); err == nil && len(b) > 0 {
			reason += ": " + string(b)
		}
	}
	if err := f.Suite().Service.DeadLetter(r.Context(), e, lecture.Errorf(lecture.EINTERNAL, "%s", reason)); err != nil {
		http.Error(w, "dead letter not recorded: "+err.Error(), http.StatusServiceUnavailable) // the Broker retries
		return
	}
	f.Metrics.CountEvent(e.Type, "dead_letter")
	f.Log().Error("event dead-lettered", "type", e.Type, "lecture", e.Data.LectureID, "reason", reason)
	w.WriteHeader(http.StatusAccepted)
}

// events logs the pipeline's terminal events.
func (f *Function) events(w http.ResponseWriter, r *http.Request) {
	ce, ok := eventing.ReadHTTP(w, r)
	if !ok {
		return
	}
	f.Metrics.CountEvent(ce.Type(), "ok")
	f.Log().Info("pipeline event", "type", ce.Type(), "subject", ce.Subject())
	w.WriteHeader(http.StatusAccepted)
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
