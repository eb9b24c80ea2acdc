package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
