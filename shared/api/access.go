package api

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/shared/web"
)

// Who may call a route. Every route has one; the authorisation matrix test
// (access_test.go) holds a row of expected statuses for every route.
type policy int

const (
	public       policy = iota // anyone; credentials are not read
	signedIn                   // an account (API key or session), or single-user mode
	lectureRead                // {id}: its owner or a share link to it
	lectureOwner               // {id}: its owner
	adminOnly                  // an admin account
)

// Route is one of the API's routes with its access policy.
type Route struct {
	Pattern string
	policy  policy
	h       func(http.ResponseWriter, *http.Request) error
}

// OIDC is the identity-provider sign-in (shared/auth/oidc.Provider).
type OIDC interface {
	Start(w http.ResponseWriter, r *http.Request, next string)
	Callback(ctx context.Context, r *http.Request) (catalogue.User, string, error)
	ClearStateCookie(w http.ResponseWriter)
}

// Presigner signs a direct-to-bucket upload: a PUT URL for bucket/key that
// the object store accepts only with exactly these content type and size
// headers, until it expires.
type Presigner func(ctx context.Context, bucket, key, contentType string, size int64, ttl time.Duration) (url string, headers http.Header, err error)

// routes is the API: every route, its pattern and who may call it.
func (s *Server) routes() []Route {
	rs := []Route{
		{"POST /summarize", signedIn, s.summarize},
		{"POST /qa", signedIn, s.qa},
		{"POST /lectures", signedIn, s.createLecture},
		{"GET /lectures", signedIn, s.listLectures},
		{"POST /lectures/uploads", signedIn, s.presignUpload},
		{"POST /transcribe", signedIn, s.transcribe},
		{"POST /v1/audio/transcriptions", signedIn, s.transcribe},
		{"GET /lectures/{id}", lectureRead, s.getLecture},
		{"DELETE /lectures/{id}", lectureOwner, s.deleteLecture},
		{"GET /lectures/{id}/summary", lectureRead, s.getSummary},
		{"GET /lectures/{id}/transcript", lectureRead, s.getTranscript},
		{"GET /lectures/{id}/media", lectureRead, s.getMedia},
		{"GET /lectures/{id}/events", lectureRead, s.lectureEvents},
		{"GET /lectures/{id}/qa", lectureRead, s.lectureQA},
		{"GET /lectures/{id}/shares", lectureOwner, s.listShares},
		{"POST /lectures/{id}/shares", lectureOwner, s.createShare},
		{"DELETE /lectures/{id}/shares/{share}", lectureOwner, s.revokeShare},
		{"GET /keys", signedIn, s.listKeys},
		{"POST /keys", signedIn, s.createKey},
		{"DELETE /keys/{key}", signedIn, s.revokeKey},
		{"GET /usage", signedIn, s.usage},
		{"GET /admin/users", adminOnly, s.adminUsers},
		{"GET /admin/audit", adminOnly, s.adminAudit},
		{"POST /auth/signin", public, s.signIn},
		{"POST /auth/signout", public, s.signOut},
		{"GET /auth/me", signedIn, s.me},
		{"GET /auth/oidc/start", public, s.oidcStart},
		{"GET /auth/oidc/callback", public, s.oidcCallback},
		{"GET /healthz", public, func(w http.ResponseWriter, r *http.Request) error {
			return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		}},
		{"GET /readyz", public, s.readyz},
	}
	return append(rs, s.webRoutes()...)
}

// webRoutes are the web app's pages and assets (shared/web): public
// shells whose scripts call the API above, which checks access.
func (s *Server) webRoutes() []Route {
	site := &web.Site{Config: web.Config{
		Auth:           s.Auth != nil,
		Password:       s.Auth != nil && !s.Auth.PasswordDisabled,
		OIDC:           s.OIDC != nil,
		MaxUploadBytes: s.MaxBody,
	}}
	if s.Svc != nil {
		site.Config.MaxMediaBytes = s.Svc.MaxMediaBytes
	}
	var rs []Route
	for _, p := range web.Pages {
		rs = append(rs, Route{p.Pattern, public, func(w http.ResponseWriter, r *http.Request) error {
			if p.Pattern == "GET /{$}" {
				w.Header().Add("Vary", "Accept")
			}
			if p.Pattern == "GET /{$}" && !strings.Contains(r.Header.Get("Accept"), "text/html") {
				// "/" is the library for browsers; API clients get the
				// "no route" answer they got before the web app.
				return lecture.Errorf(lecture.ENOTFOUND, "no route %s %s; see the README for the API (browsers get the web app here)", r.Method, r.URL.Path)
			}
			return site.ServePage(w, r, p)
		}})
	}
	return append(rs, Route{web.StaticPattern, public, func(w http.ResponseWriter, r *http.Request) error {
		if !site.ServeStatic(w, r) {
			return lecture.Errorf(lecture.ENOTFOUND, "no asset %q", r.PathValue("name"))
		}
		return nil
	}})
}

// Routes lists the API's route patterns (the authorisation matrix test
// checks it has a row for each).
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.Pattern)
	}
	if s.metricsOnMain() {
		out = append(out, "GET /metrics")
	}
	return out
}

func (s *Server) metricsOnMain() bool { return !s.HideMetrics && s.Auth == nil }

type principalKey struct{}

// principal is who the request acts for (set by the access check).
func principal(r *http.Request) auth.Principal {
	if p, ok := r.Context().Value(principalKey{}).(auth.Principal); ok {
		return p
	}
	return auth.Anonymous()
}

// authorize runs a route's access check: it authenticates the request
// (single-user mode when Auth is nil), checks CSRF for cookie-signed
// state-changing requests, and the route's policy. A lecture the caller
// may not read is "not found", the same answer as a lecture that does not
// exist, so ids cannot be probed.
func (s *Server) authorize(r *http.Request, pol policy) (*http.Request, error) {
	if pol == public && r.URL.Path != "/auth/signout" {
		return r, nil
	}
	p := auth.Local()
	if s.Auth != nil {
		var err error
		if p, err = s.Auth.Authenticate(r); err != nil {
			return r, err
		}
		if p.Via == auth.ViaSession && unsafeMethod(r.Method) {
			if err := auth.CheckCSRF(r, p, s.CORSOrigins...); err != nil {
				return r, err
			}
		}
	}
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	switch pol {
	case public:
	case signedIn:
		if !p.Authenticated() {
			return r, signInError(p)
		}
	case adminOnly:
		if !p.Authenticated() {
			return r, signInError(p)
		}
		if !p.IsAdmin() {
			return r, lecture.Errorf(auth.EFORBIDDEN, "this needs an admin account")
		}
	case lectureRead, lectureOwner:
		if p.Via == auth.ViaAnonymous {
			return r, signInError(p)
		}
		if p.Via == auth.ViaLocal {
			return r, nil
		}
		row, err := s.lectureOwner(r.Context(), r.PathValue("id"))
		if err != nil {
			return r, err
		}
		if !p.CanRead(row) {
			return r, notFound(r.PathValue("id"))
		}
		if pol == lectureOwner && !p.CanWrite(row) {
			return r, lecture.Errorf(auth.EFORBIDDEN, "a share link only allows reading this lecture")
		}
	}
	return r, nil
}

func signInError(p auth.Principal) error {
	if p.Via == auth.ViaShare {
		return lecture.Errorf(auth.EFORBIDDEN, "a share link only opens its lecture")
	}
	return lecture.Errorf(auth.EUNAUTHENTICATED, "sign in, or send an API key as \"Authorization: Bearer <key>\"")
}

func notFound(id string) error { return lecture.Errorf(lecture.ENOTFOUND, "lecture %q not found", id) }

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// owners caches lecture id → owner for the access checks: an owner never
// changes, so a hit needs no database round trip (a deleted lecture is
// dropped here and is "not found" from its handler anyway).
type owners struct {
	mu sync.Mutex
	m  map[string]string
}

const maxOwners = 1 << 17

// lectureOwner is lectureRow reduced to what access checks read (id and
// owner), cached.
func (s *Server) lectureOwner(ctx context.Context, id string) (catalogue.Lecture, error) {
	s.owners.mu.Lock()
	owner, ok := s.owners.m[id]
	s.owners.mu.Unlock()
	if ok {
		return catalogue.Lecture{ID: id, Owner: owner}, nil
	}
	row, err := s.lectureRow(ctx, id)
	if err != nil {
		return row, err
	}
	if row.Status != lecture.StatusAwaitingUpload {
		s.owners.mu.Lock()
		if s.owners.m == nil || len(s.owners.m) >= maxOwners {
			s.owners.m = map[string]string{}
		}
		s.owners.m[id] = row.Owner
		s.owners.mu.Unlock()
	}
	return row, nil
}

func (s *Server) forgetOwner(id string) {
	s.owners.mu.Lock()
	delete(s.owners.m, id)
	s.owners.mu.Unlock()
}

// lectureRow is a lecture's catalogue row (its owner), falling back to the
// lecture record in the object store for a lecture the catalogue lacks.
func (s *Server) lectureRow(ctx context.Context, id string) (catalogue.Lecture, error) {
	if err := lecture.ValidateLectureID(id); err != nil {
		return catalogue.Lecture{}, err // says what a lecture id is; reveals nothing
	}
	if s.Cat != nil {
		row, err := s.Cat.GetLecture(ctx, id)
		if err == nil {
			return row, nil
		}
		if lecture.ErrorCode(err) != lecture.ENOTFOUND {
			return row, err
		}
	}
	l, err := s.Svc.Lecture(ctx, id)
	if err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return catalogue.Lecture{}, notFound(id)
		}
		return catalogue.Lecture{}, err
	}
	return catalogue.Lecture{ID: l.ID, Owner: l.Owner, Title: l.Title, Status: l.Status}, nil
}

// cors answers preflight requests and marks responses for the origins in
// CORSOrigins (none by default). Credentials (cookies) are never allowed
// cross-origin: a browser page elsewhere calls with an API key.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		allowed := slices.Contains(s.CORSOrigins, origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				s.writeError(w, r, lecture.Errorf(auth.EFORBIDDEN, "origin %q is not allowed (TRANSCEPT_CORS_ORIGINS)", origin))
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		next.ServeHTTP(w, r)
	})
}

// secure reports whether cookies must be Secure for this request: it came
// over TLS, here or at the proxy in front (a client claiming https only
// makes its own cookie stricter).
func (s *Server) secure(r *http.Request) bool {
	return s.SecureCookies || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// retryAfter sets Retry-After for a quota error.
func retryAfter(w http.ResponseWriter, err error) {
	if d, ok := auth.RetryAfter(err); ok {
		secs := int64((d + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
}

// clientAddr is the request's remote address for the audit log.
func clientAddr(r *http.Request) string {
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		return strings.Trim(r.RemoteAddr[:i], "[]")
	}
	return r.RemoteAddr
}

// audit appends to the audit log (when there is a catalogue).
func (s *Server) audit(r *http.Request, action, target, detail string) {
	if s.Cat == nil {
		return
	}
	p := principal(r)
	actor := p.UserID()
	if p.Via == auth.ViaLocal {
		actor = "local"
	}
	e := catalogue.AuditEntry{At: time.Now().UTC(), Actor: actor, Action: action, Target: target, Remote: clientAddr(r), Detail: detail}
	if err := s.Cat.Audit(context.WithoutCancel(r.Context()), e); err != nil {
		s.Log.Warn("audit entry not written", "action", action, "err", err)
	}
}
