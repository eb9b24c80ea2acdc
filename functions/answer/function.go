// Package answer is the question-answering function: POST /qa over a
// lecture's index, loaded from the object store once and kept in memory.
// On transcept.index.ready it loads the new index ahead of the first
// question.
package answer

import (
	"context"
	"net/http"
	"strings"

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
func New() *Function { return &Function{Base: wire.NewBase("answer")} }

// Handle serves POST /qa, and CloudEvents from the index.ready Trigger.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	f.Serve(w, r, f.serve)
}

func (f *Function) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Ce-Specversion") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents") {
		f.preload(w, r)
		return
	}
	f.api.Get(func() http.Handler {
		h := f.APIServer().Handler() // its routes include GET /metrics (reached through the Lambda adapter)
		mux := http.NewServeMux()
		mux.Handle("POST /qa", h)
		mux.Handle("GET /metrics", h)
		mux.Handle("/", http.NotFoundHandler())
		return mux
	}).ServeHTTP(w, r)
}

func (f *Function) preload(w http.ResponseWriter, r *http.Request) {
	ce, ok := eventing.ReadHTTP(w, r)
	if !ok {
		return
	}
	e, err := eventing.FromCloudEvent(*ce)
	if err != nil || e.Type != lecture.IndexReady {
		http.Error(w, "answer takes transcept.index.ready events", http.StatusBadRequest)
		return
	}
	if err := f.Suite().Service.Preload(context.WithoutCancel(r.Context()), e.Data.LectureID); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
