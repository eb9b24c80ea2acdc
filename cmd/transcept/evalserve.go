package main

// `transcept serve`'s POST /eval: the eval function's nightly run in the
// served process (its gauges on the served /metrics), for a cron job or a
// test on the same machine.

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/eventing"
	"github.com/transcept/transcept/shared/lecture"
)

// withEval serves POST /eval in front of h: one nightly evaluation, from a
// loopback client only (it is an operator's action, outside the API's
// sign-in), its events sent to K_SINK when set.
func withEval(h http.Handler, s *wire.Suite, log *slog.Logger) http.Handler {
	var send func(ctx context.Context, ce eventing.CloudEvent) error
	if sink := config.Get("K_SINK"); sink != "" {
		if snd, err := eventing.NewSender(sink); err == nil {
			send = snd.Send
		} else {
			log.Error("K_SINK: no sender for the nightly evaluation's events", "err", err)
		}
	}
	s.Metrics.InitEvalRuns(wire.EvalTasks...)
	var mu sync.Mutex // one run at a time
	mux := http.NewServeMux()
	mux.HandleFunc("POST /eval", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			http.Error(w, "POST /eval is for loopback clients only", http.StatusForbidden)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		n, err := s.RunNightly(r.Context(), send, nil)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]any{"error": lecture.ErrorMessage(err), "result": n})
			return
		}
		_ = json.NewEncoder(w).Encode(n)
	})
	mux.Handle("/", h)
	return mux
}
