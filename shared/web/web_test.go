package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func site() (*Site, *http.ServeMux) {
	s := &Site{Config: Config{Auth: true, Password: true, MaxUploadBytes: 1 << 20, MaxMediaBytes: 1 << 30}}
	mux := http.NewServeMux()
	for _, p := range Pages {
		mux.HandleFunc(p.Pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := s.ServePage(w, r, p); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
	}
	mux.HandleFunc(StaticPattern, func(w http.ResponseWriter, r *http.Request) {
		if !s.ServeStatic(w, r) {
			http.NotFound(w, r)
		}
	})
	return s, mux
}

// TestPages: every page renders its shell with the settings as JSON and
// links only content-hashed assets that are served.
func TestPages(t *testing.T) {
	_, mux := site()
	for _, p := range Pages {
		path := strings.TrimPrefix(p.Pattern, "GET ")
		path = strings.ReplaceAll(strings.ReplaceAll(path, "{$}", ""), "{id}", "x%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		body := rec.Body.String()
		if rec.Code != 200 || !strings.Contains(body, `"max_upload_bytes":1048576`) || !strings.Contains(body, `data-page="`+p.Name+`"`) {
			t.Errorf("%s: %d\n%s", path, rec.Code, body)
		}
		if strings.Contains(body, "<script>alert(1)") {
			t.Errorf("%s: the id is not escaped", path)
		}
		for _, name := range []string{"app.css", "common.js", p.Name + ".js"} {
			u := AssetURL(name)
			if u == "" || !strings.Contains(body, u) {
				t.Errorf("%s does not link %s (%q)", path, name, u)
			}
		}
	}
}

// TestStatic: hashed names, immutable caching, gzip when accepted.
func TestStatic(t *testing.T) {
	_, mux := site()
	u := AssetURL("common.js")
	if !strings.HasPrefix(u, "/static/common.") || len(u) != len("/static/common.0123456789.js") {
		t.Fatalf("asset URL %q", u)
	}
	plain, _ := files.ReadFile("static/common.js")
	for _, gz := range []bool{false, true} {
		req := httptest.NewRequest("GET", u, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "br, gzip")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		h := rec.Header()
		if rec.Code != 200 || h.Get("Cache-Control") != "public, max-age=31536000, immutable" || !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") {
			t.Fatalf("gzip=%v: %d %v", gz, rec.Code, h)
		}
		body := rec.Body.Bytes()
		if gz {
			if h.Get("Content-Encoding") != "gzip" {
				t.Fatalf("not gzipped: %v", h)
			}
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(zr)
		}
		if !bytes.Equal(body, plain) {
			t.Errorf("gzip=%v: body differs from the embedded file", gz)
		}
	}
	for _, bad := range []string{"/static/common.js", "/static/common.0000000000.js", "/static/nope.css"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", bad, nil))
		if rec.Code != 404 {
			t.Errorf("%s: %d, want 404", bad, rec.Code)
		}
	}
	if n := AssetsCompressedSize(); n <= 0 || n > 150<<10 {
		t.Errorf("assets are %d bytes gzipped; the budget is 150 KB", n)
	}
}
