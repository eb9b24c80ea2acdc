// Package answer is the question-answering function: POST /qa over a
// lecture's index, loaded from the object store once and kept in memory.
// On transcept.index.ready it loads the new index ahead of the first
// question.
package answer

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/transcept/transcept/shared/lecture"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/api"
	"github.com/transcept/transcept/shared/events"
)

// Function is the func-go instance.
type Function struct {
	wire.Base
	once sync.Once
	api  http.Handler
}

// New returns the instance.
func New() *Function { return &Function{Base: wire.NewBase("answer")} }

// Handle serves POST /qa, and CloudEvents from the index.ready Trigger.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	done, err := f.Enter()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer done()
	if r.Header.Get("Ce-Specversion") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/cloudevents") {
		f.preload(w, r)
		return
	}
	f.once.Do(func() {
		s := f.Suite()
		srv := &api.Server{Svc: s.Service, Metrics: f.Metrics, Log: s.Log, MaxBody: s.Config.MaxUploadBytes, Publish: func(lecture.Event) error { return nil }}
		mux := http.NewServeMux()
		mux.Handle("POST /qa", srv.Handler())
		mux.Handle("GET /metrics", f.Metrics.Handler())
		mux.Handle("/", http.NotFoundHandler())
		f.api = mux
	})
	f.api.ServeHTTP(w, r)
}

func (f *Function) preload(w http.ResponseWriter, r *http.Request) {
	ce, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		http.Error(w, "not a CloudEvent: "+err.Error(), http.StatusBadRequest)
		return
	}
	e, err := events.FromCloudEvent(*ce)
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
