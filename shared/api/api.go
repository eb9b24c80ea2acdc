// Package api is Transcept's HTTP edge: it decodes requests, calls the
// pipeline, and maps the domain's error codes to status codes. Every error
// is JSON: {"error": {"code", "message"}}.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/metrics"
	"github.com/transcept/transcept/shared/pipeline"
	"github.com/transcept/transcept/shared/tracing"
	"github.com/transcept/transcept/shared/transcript"
)

// Server serves the HTTP API over a pipeline service.
type Server struct {
	Svc     *pipeline.Service
	Publish func(lecture.Event) error // starts processing of an upload (durably queued when it returns nil)
	Metrics *metrics.Metrics
	Log     *slog.Logger
	MaxBody int64
	// Ready reports whether engines and connections are up (nil: always).
	Ready func() error
	// BodyTimeout cuts off a request body that sends nothing for that long
	// (0: never); RequestBudget bounds a synchronous request's work by its
	// body size (nil: only the client's disconnect stops it).
	BodyTimeout   time.Duration
	RequestBudget func(size int64) time.Duration
	// HotCacheBytes sizes the in-process cache of whole /summarize
	// responses in front of the shared cache (0: 32 MiB; <0: none).
	HotCacheBytes int

	// Auth authenticates requests; nil is single-user mode (everything
	// allowed, lectures owned by ""). Cat is the lecture catalogue and
	// accounts database (nil: no listing, accounts or audit log).
	Auth   *auth.Authenticator
	Cat    catalogue.Catalogue
	Quotas *auth.Quotas // nil: no limits
	OIDC   OIDC         // nil: no identity-provider sign-in
	// Presign signs direct-to-bucket uploads (nil: the store cannot).
	Presign      Presigner
	UploadURLTTL time.Duration
	// CORSOrigins may call the API from a browser (none by default).
	CORSOrigins []string
	// SecureCookies marks the session cookie Secure always; without it,
	// when the request came over TLS (here or, by X-Forwarded-Proto, at
	// the proxy in front).
	SecureCookies bool
	SessionTTL    time.Duration
	// Models are the registry versions the model settings resolved to at
	// start (setting → name@version), reported by /readyz.
	Models map[string]string
	// HideMetrics leaves /metrics off the main handler (it is served on
	// its own address); with Auth set it is always off.
	HideMetrics bool

	owners  owners
	hotOnce sync.Once
	hot     *hotCache
}

// Handler returns the routes with metrics, logging and panic recovery.
func (s *Server) Handler() http.Handler {
	s.hotOnce.Do(func() {
		switch {
		case s.HotCacheBytes == 0:
			s.hot = newHotCache(32 << 20)
		case s.HotCacheBytes > 0:
			s.hot = newHotCache(s.HotCacheBytes)
		}
	})
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Pattern, s.instrument(rt.Pattern, rt.policy, rt.h))
	}
	if s.metricsOnMain() {
		mux.Handle("GET /metrics", s.Metrics.Handler())
	}
	mux.Handle("/", s.instrument("/", public, func(w http.ResponseWriter, r *http.Request) error {
		return lecture.Errorf(lecture.ENOTFOUND, "no route %s %s; see the README for the API", r.Method, r.URL.Path)
	}))
	return s.cors(mux)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) instrument(route string, pol policy, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		r, endSpan := tracing.StartHTTP(r, route, methodLabel(r.Method))
		defer func() {
			defer func() { endSpan(sw.status) }()
			if p := recover(); p != nil {
				s.Log.Error("panic serving request", "route", route, "panic", p, "stack", string(debug.Stack()))
				if sw.status == 0 {
					s.writeError(sw, r, lecture.Errorf(lecture.EINTERNAL, "internal error"))
				}
			}
			s.Metrics.ObserveRequest(route, methodLabel(r.Method), sw.status, time.Since(start))
		}()
		if s.BodyTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
			r.Body = &stallReader{r: r.Body, rc: http.NewResponseController(w), timeout: s.BodyTimeout}
		}
		r, err := s.authorize(r, pol)
		if err == nil {
			err = h(sw, r)
		}
		if err != nil {
			s.writeError(sw, r, err)
		}
	})
}

// methodLabel keeps the metrics' method label bounded: any other string a
// client sends counts as "other".
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// stallReader gives every read of a request body a deadline: a client that
// stops sending in the middle of a body is cut off after the timeout
// instead of holding a connection and a handler for ever, while a slow but
// steady upload of any size goes through.
type stallReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	stalled bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	_ = s.rc.SetReadDeadline(time.Now().Add(s.timeout))
	n, err := s.r.Read(p)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			s.stalled = true
			return n, lecture.Errorf(ECLIENTTIMEOUT, "the request body stalled: nothing arrived for %s (TRANSCEPT_BODY_TIMEOUT)", s.timeout)
		}
		_ = s.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

func (s *stallReader) Close() error { return s.r.Close() }

// ECLIENTTIMEOUT is the HTTP edge's code for a client too slow to send its
// request (408).
const ECLIENTTIMEOUT = "request_timeout"

// budget bounds a synchronous request's work: the client's disconnect
// cancels it at once, and RequestBudget caps it by body size.
func (s *Server) budget(r *http.Request, size int) (context.Context, context.CancelFunc) {
	if s.RequestBudget == nil {
		return context.WithCancel(r.Context())
	}
	d := s.RequestBudget(int64(size))
	ctx, cancel := context.WithTimeout(r.Context(), d)
	return context.WithValue(ctx, budgetKey{}, d), cancel
}

type budgetKey struct{}

// budgetError turns a context error of a budgeted request into what the
// client should read.
func budgetError(ctx context.Context, err error) error {
	if err == nil || ctx.Err() == nil {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		d, _ := ctx.Value(budgetKey{}).(time.Duration)
		return lecture.Errorf(lecture.EUNAVAILABLE, "the request ran past its time budget of %s for this input size (TRANSCEPT_REQUEST_TIMEOUT); send a shorter text or upload it as a lecture (POST /lectures)", d)
	}
	return lecture.Errorf(ECLIENTGONE, "the client closed the request")
}

// ENOTIMPLEMENTED is for a feature this deployment lacks (501), such as
// direct-to-bucket uploads on the filesystem store.
const ENOTIMPLEMENTED = "not_implemented"

// ECLIENTGONE marks a request whose client went away (logged as 499, as
// proxies do; the client never reads it).
const ECLIENTGONE = "client_closed"

// StatusCode maps an error code to an HTTP status.
func StatusCode(code string) int {
	switch code {
	case lecture.EINVALID:
		return http.StatusBadRequest
	case lecture.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case lecture.EUNSUPPORTED:
		return http.StatusUnsupportedMediaType
	case lecture.ENOTFOUND:
		return http.StatusNotFound
	case lecture.ECONFLICT:
		return http.StatusConflict
	case lecture.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case ECLIENTTIMEOUT:
		return http.StatusRequestTimeout
	case ECLIENTGONE:
		return 499
	case auth.EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case auth.EFORBIDDEN:
		return http.StatusForbidden
	case catalogue.EQUOTA:
		return http.StatusTooManyRequests
	case ENOTIMPLEMENTED:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := lecture.ErrorCode(err)
	status := StatusCode(code)
	msg := lecture.ErrorMessage(err)
	if status >= 500 && status != http.StatusNotImplemented {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	switch status {
	case http.StatusTooManyRequests:
		retryAfter(w, err)
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="transcept"`)
		if s.Auth != nil && r.Header.Get("Authorization") == "" {
			if _, cerr := r.Cookie(auth.CookieName); cerr == nil {
				http.SetCookie(w, auth.ClearCookie(s.secure(r)))
			}
		}
	}
	_ = writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readBody reads the whole body within the size limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return s.readBodyInto(w, r, nil)
}

// bodyPool recycles the buffers of bodies up to 1 MiB on the hot
// /summarize path: at thousands of requests a second, a fresh 70 kB buffer
// each is most of the garbage the collector has to chase.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 128<<10); return &b }}

// readPooledBody is readBody into a recycled buffer; call release once the
// body is no longer used (nothing may keep a reference to it).
func (s *Server) readPooledBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	if r.ContentLength <= 0 || r.ContentLength >= 1<<20 {
		b, err := s.readBody(w, r)
		return b, func() {}, err
	}
	bp := bodyPool.Get().(*[]byte)
	b, err := s.readBodyInto(w, r, (*bp)[:0])
	return b, func() {
		if cap(b) <= 1<<20 {
			*bp = b[:0]
			bodyPool.Put(bp)
		}
	}, err
}

func (s *Server) readBodyInto(w http.ResponseWriter, r *http.Request, dst []byte) ([]byte, error) {
	if r.ContentLength > s.MaxBody {
		return nil, tooLarge(r.ContentLength, s.MaxBody)
	}
	b, err := readAll(http.MaxBytesReader(w, r.Body, s.MaxBody), r.ContentLength, dst)
	var mbe *http.MaxBytesError
	var le *lecture.Error
	if errors.As(err, &mbe) {
		return nil, tooLarge(-1, s.MaxBody)
	} else if errors.As(err, &le) {
		return nil, err
	} else if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "reading the request body")
	}
	if len(b) == 0 {
		return nil, lecture.Errorf(lecture.EINVALID, "request body is empty")
	}
	return b, nil
}

// tooLarge says how big the body is (when the client declared it) and the
// limit, in units that never make the two read the same.
func tooLarge(n, limit int64) error {
	if n > 0 {
		return lecture.Errorf(lecture.ETOOLARGE, "request body is %s; the limit is %s (TRANSCEPT_MAX_UPLOAD_BYTES)", pipeline.Bytes(n), pipeline.Bytes(limit))
	}
	return lecture.Errorf(lecture.ETOOLARGE, "request body is over the limit of %s (TRANSCEPT_MAX_UPLOAD_BYTES)", pipeline.Bytes(limit))
}

// mediaType returns the request's media type, "" when absent.
func mediaType(r *http.Request) (string, map[string]string, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", nil, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", nil, lecture.Errorf(lecture.EUNSUPPORTED, "malformed Content-Type %q", ct)
	}
	return mt, params, nil
}

// decodeJSON decodes a JSON body strictly, with messages that say what is wrong.
func decodeJSON(b []byte, v any) error {
	if !utf8.Valid(b) {
		// encoding/json would replace the bytes silently; RFC 8259 wants UTF-8.
		return lecture.Errorf(lecture.EINVALID, "the JSON body is not valid UTF-8 (at byte %d); JSON must be UTF-8", invalidUTF8At(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var ute *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &ute):
			return lecture.Errorf(lecture.EINVALID, "field %q must be %s, not %s", ute.Field, jsonKind(ute.Type.Kind().String()), ute.Value)
		case errors.As(err, &se):
			return lecture.Errorf(lecture.EINVALID, "malformed JSON at byte %d: %v", se.Offset, se)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return lecture.Errorf(lecture.EINVALID, "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return lecture.Errorf(lecture.EINVALID, "malformed JSON: %v", err)
	}
	if off, err := dec.InputOffset(), dec.Decode(new(json.RawMessage)); err != io.EOF {
		return lecture.Errorf(lecture.EINVALID, "unexpected data after the JSON value at byte %d: send one JSON object", off)
	}
	return nil
}

// readAll reads a body into one buffer sized from its declared length (no
// regrowing for the common case).
func readAll(r io.Reader, declared int64, dst []byte) ([]byte, error) {
	if declared <= 0 || declared > 1<<30 {
		return io.ReadAll(r)
	}
	b := dst[:0]
	if int64(cap(b)) < declared+1 {
		b = make([]byte, declared+1)
	}
	b = b[:declared+1]
	n, err := io.ReadFull(r, b)
	switch err {
	case io.ErrUnexpectedEOF, io.EOF:
		return b[:n], nil
	case nil: // more than declared: let ReadAll find out how much
		rest, err := io.ReadAll(r)
		return append(b, rest...), err
	}
	return b[:n], err
}

func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "float64", "int", "int64":
		return "a number"
	case "bool":
		return "true or false"
	}
	return "a " + k
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "not ready: %s", lecture.ErrorMessage(err))
		}
	}
	if len(s.Models) > 0 {
		return writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": s.Models})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// transcriptFromText parses inline text in the given (or detected) format.
func transcriptFromText(textIn, format string) (*lecture.Transcript, error) {
	if strings.TrimSpace(textIn) == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "\"text\" is empty: send the lecture transcript in it")
	}
	return pipeline.ParseTranscript([]byte(textIn), "", transcript.Format(format))
}

func pipelineUpload(req LectureRequest) pipeline.Upload {
	return pipeline.Upload{Name: req.Name, Title: req.Title, Format: transcript.Format(req.Format), Data: []byte(req.Text)}
}
