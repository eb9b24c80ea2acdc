// Package web is Transcept's web app: server-rendered page shells
// (html/template) and small hand-written JavaScript and CSS, embedded in
// the binary with go:embed. The pages hold no data: their scripts call the
// HTTP API, which checks access, so every page route is public.
//
// Static assets are served as /static/<name>.<hash>.<ext> (hash: the first
// 10 hex digits of the content's SHA-256) with an immutable year-long
// Cache-Control, gzipped for clients that accept it.
package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
)

//go:embed static templates
var files embed.FS

// Config is what the pages need to know about the server; it is rendered
// into every page as JSON (no extra request).
type Config struct {
	Auth           bool  `json:"auth"`     // sign-in is on (false: single-user mode)
	Password       bool  `json:"password"` // password sign-in is offered
	OIDC           bool  `json:"oidc"`     // the identity provider's button is shown
	MaxUploadBytes int64 `json:"max_upload_bytes"`
	MaxMediaBytes  int64 `json:"max_media_bytes"`
}

// Page is a page route: its pattern and the template it renders.
type Page struct {
	Pattern string
	Name    string // template and script name
	Title   string
}

// Pages are the web app's pages.
var Pages = []Page{
	{"GET /{$}", "library", "Library"},
	{"GET /upload", "upload", "Upload"},
	{"GET /l/{id}", "lecture", "Lecture"},
	{"GET /signin", "signin", "Sign in"},
	{"GET /account", "account", "Account"},
	{"GET /admin", "admin", "Admin"},
}

// StaticPattern is the route of the content-hashed assets.
const StaticPattern = "GET /static/{name}"

type asset struct {
	body, gz []byte
	ctype    string
}

type assets struct {
	byURL map[string]*asset // "/static/app.0123456789.js"
	url   map[string]string // "app.js" -> its hashed URL
	tmpl  *template.Template
	total int // compressed bytes of all assets
}

var (
	loadOnce sync.Once
	loaded   *assets
	loadErr  error
)

func load() (*assets, error) {
	loadOnce.Do(func() {
		a := &assets{byURL: map[string]*asset{}, url: map[string]string{}}
		err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			name := path.Base(p)
			sum := sha256.Sum256(b)
			ext := path.Ext(name)
			u := "/static/" + strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
			var gz bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
			_, _ = zw.Write(b)
			_ = zw.Close()
			ct := mime.TypeByExtension(ext)
			if ct == "" {
				ct = "application/octet-stream"
			}
			a.byURL[u] = &asset{body: b, gz: gz.Bytes(), ctype: ct}
			a.url[name] = u
			a.total += gz.Len()
			return nil
		})
		if err != nil {
			loadErr = err
			return
		}
		funcs := template.FuncMap{"asset": func(name string) string { return a.url[name] }}
		a.tmpl, loadErr = template.New("").Funcs(funcs).ParseFS(files, "templates/*.html")
		loaded = a
	})
	return loaded, loadErr
}

// AssetsCompressedSize is the gzipped size of all static assets together.
func AssetsCompressedSize() int {
	a, err := load()
	if err != nil {
		return 0
	}
	return a.total
}

// Site serves the pages and assets.
type Site struct {
	Config Config
}

// ServePage renders page p.
func (s *Site) ServePage(w http.ResponseWriter, r *http.Request, p Page) error {
	a, err := load()
	if err != nil {
		return err
	}
	data := map[string]any{
		"Page":   p.Name,
		"Title":  p.Title,
		"Config": s.Config,
		"ID":     r.PathValue("id"),
		"Script": a.url[p.Name+".js"],
	}
	var buf bytes.Buffer
	if err := a.tmpl.ExecuteTemplate(&buf, p.Name+".html", data); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; media-src 'self' blob:; img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
	body := buf.Bytes()
	if acceptsGzip(r) && len(body) > 1024 {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		zw := gzip.NewWriter(w)
		defer zw.Close()
		_, err = zw.Write(body)
		return err
	}
	_, err = w.Write(body)
	return err
}

// ServeStatic serves a content-hashed asset; it answers false for a name
// that is not one (the caller answers 404).
func (s *Site) ServeStatic(w http.ResponseWriter, r *http.Request) bool {
	a, err := load()
	if err != nil {
		return false
	}
	as, ok := a.byURL["/static/"+r.PathValue("name")]
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", as.ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	body := as.body
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = as.gz
	}
	_, _ = w.Write(body)
	return true
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// AssetURL is the content-hashed URL of a static asset ("app.css"), or ""
// when there is none by that name.
func AssetURL(name string) string {
	a, err := load()
	if err != nil {
		return ""
	}
	return a.url[name]
}
