package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkCachedSummarize is the hot path of a repeated POST /summarize on
// a lecture-sized body, in process (no network), memory cache.
func BenchmarkCachedSummarize(b *testing.B) {
	for _, lines := range []int{20, 2000} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) { benchCached(b, lines) })
	}
}

func benchCached(b *testing.B, lines int) {
	e := newEnv(&testing.T{}, nil)
	defer e.srv.Close()
	var sb strings.Builder
	for i := range lines {
		fmt.Fprintf(&sb, "Speaker %c: We discussed topic number %d and how entropy relates to it.\n", 'A'+i%4, i)
	}
	body, _ := json.Marshal(map[string]string{"text": sb.String()})
	h := e.srv.Config.Handler
	do := func() int {
		req := httptest.NewRequest("POST", "/summarize", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if do() != http.StatusOK {
		b.Fatal("warm-up failed")
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if do() != http.StatusOK {
			b.Fatal("request failed")
		}
	}
}

// BenchmarkAuthOverhead: what sign-in costs per request, the same request
// through a single-user server and through a server with sign-in on and
// an API key (cached after its first use): a cached POST /summarize of a
// 71 kB body and GET /lectures/{id}. It reports each side and their
// difference ("auth-µs/op"; goal ≤ 50 µs).
func BenchmarkAuthOverhead(b *testing.B) {
	var sb strings.Builder
	for i := 0; sb.Len() < 70_000; i++ {
		fmt.Fprintf(&sb, "Speaker %c: We discussed topic number %d and how entropy relates to it.\n", 'A'+i%4, i)
	}
	body, _ := json.Marshal(map[string]string{"text": sb.String()})
	t := &testing.T{}
	off := newEnv(t, nil)
	defer off.srv.Close()
	on := newAuthEnv(t, map[string]string{"TRANSCEPT_QUOTA_UPLOADS": "0"})
	if t.Failed() {
		b.Fatal("setting up the servers failed")
	}
	code, m, _ := off.do("POST", "/lectures?name=l.srt", "text/plain", strings.NewReader(lectureSRT))
	if code != http.StatusAccepted {
		b.Fatal("upload failed")
	}
	offID := m["id"].(string)
	for range 500 {
		if c, _, _ := off.do("GET", "/lectures/"+offID, "", nil); c == 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cases := []struct {
		name   string
		method string
		path   func(id string) string
		body   []byte
	}{
		{"summarize-71kB", "POST", func(string) string { return "/summarize" }, body},
		{"lecture", "GET", func(id string) string { return "/lectures/" + id }, nil},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			run := func(h http.Handler, path, key string) time.Duration {
				req := httptest.NewRequest(c.method, path, bytes.NewReader(c.body))
				if c.body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				if key != "" {
					req.Header.Set("Authorization", "Bearer "+key)
				}
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, req)
				d := time.Since(start)
				if w.Code != http.StatusOK {
					b.Fatalf("%s %s: %d %s", c.method, path, w.Code, w.Body.String())
				}
				return d
			}
			hOff, hOn := off.srv.Config.Handler, on.srv.Config.Handler
			run(hOff, c.path(offID), "")
			run(hOn, c.path(on.lecID), on.keys["owner"])
			var tOff, tOn time.Duration
			n := 0
			for b.Loop() {
				tOff += run(hOff, c.path(offID), "")
				tOn += run(hOn, c.path(on.lecID), on.keys["owner"])
				n++
			}
			b.ReportMetric(float64(tOff.Microseconds())/float64(n), "off-µs/op")
			b.ReportMetric(float64(tOn.Microseconds())/float64(n), "on-µs/op")
			b.ReportMetric(float64((tOn-tOff).Microseconds())/float64(n), "auth-µs/op")
		})
	}
}
