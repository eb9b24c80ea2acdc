package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/api"
	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/web"
)

// authEnv is a server with sign-in on over a SQLite catalogue, with three
// accounts (owner, other member, admin), keys for each, a ready lecture of
// the owner's and share links to it.
type authEnv struct {
	t      *testing.T
	srv    *httptest.Server
	s      *wire.Suite
	api    *api.Server
	cat    catalogue.Catalogue
	keys   map[string]string // principal kind -> API key or share token
	users  map[string]catalogue.User
	lecID  string // the owner's ready lecture
	shares map[string]string
}

func newAuthEnv(t *testing.T, settings map[string]string) *authEnv {
	t.Helper()
	m := map[string]string{"TRANSCEPT_AUTH": "on"}
	for k, v := range settings {
		m[k] = v
	}
	s, bus, _ := newSuite(t, m)
	h, err := s.API(context.Background(), bus.Publish)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(func() { srv.Close(); s.Close() })
	e := &authEnv{t: t, srv: srv, s: s, api: h, cat: s.Catalogue, keys: map[string]string{}, users: map[string]catalogue.User{}, shares: map[string]string{}}
	ctx := context.Background()
	now := time.Now().UTC()
	for _, who := range []string{"owner", "other", "admin"} {
		role := catalogue.RoleMember
		if who == "admin" {
			role = catalogue.RoleAdmin
		}
		hash, err := auth.HashPassword("correct horse " + who)
		if err != nil {
			t.Fatal(err)
		}
		u := catalogue.User{ID: "u-" + who, Email: who + "@example.edu", Role: role, PasswordHash: hash, CreatedAt: now}
		if err := e.cat.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		e.users[who] = u
		secret, k := auth.NewAPIKey(u.ID, who+" key", now.Add(time.Hour), now)
		if err := e.cat.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		e.keys[who] = secret
	}
	secret, k := auth.NewAPIKey("u-owner", "old", now.Add(-time.Minute), now.Add(-time.Hour))
	if err := e.cat.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	e.keys["key-expired"] = secret
	secret, k = auth.NewAPIKey("u-owner", "revoked", now.Add(time.Hour), now)
	if err := e.cat.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	if err := e.cat.RevokeKey(ctx, "u-owner", k.ID, now); err != nil {
		t.Fatal(err)
	}
	e.keys["key-revoked"] = secret
	e.lecID = e.upload("owner")
	e.shares["share"] = e.share(e.lecID, now.Add(time.Hour), false)
	e.shares["share-expired"] = e.share(e.lecID, now.Add(-time.Second), false)
	e.shares["share-revoked"] = e.share(e.lecID, now.Add(time.Hour), true)
	return e
}

// upload stores a transcript as who and waits until it is ready.
func (e *authEnv) upload(who string) string {
	e.t.Helper()
	code, m, body := e.call(who, "POST", "/lectures?name=l.srt", "text/plain", strings.NewReader(lectureSRT))
	if code != http.StatusAccepted {
		e.t.Fatalf("upload as %s: %d %s", who, code, body)
	}
	id := m["id"].(string)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, m, _ := e.call(who, "GET", "/lectures/"+id, "", nil)
		if m["status"] == "ready" {
			return id
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("lecture %s not ready", id)
	return ""
}

func (e *authEnv) share(id string, exp time.Time, revoked bool) string {
	e.t.Helper()
	now := time.Now().UTC()
	token, sh := auth.NewShare(id, "u-owner", exp, now.Add(-2*time.Second))
	if err := e.cat.CreateShare(context.Background(), sh); err != nil {
		e.t.Fatal(err)
	}
	if revoked {
		if err := e.cat.RevokeShare(context.Background(), id, sh.ID, now); err != nil {
			e.t.Fatal(err)
		}
	}
	return token
}

// call sends a request as a principal kind: "anonymous", an account
// ("owner", "other", "admin": its API key), "key-expired", "key-revoked",
// or a share link ("share", "share-expired", "share-revoked").
func (e *authEnv) call(who, method, path, ctype string, body io.Reader) (int, map[string]any, string) {
	e.t.Helper()
	if tok, ok := e.shares[who]; ok {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "share=" + url.QueryEscape(tok)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, body)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if k, ok := e.keys[who]; ok {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m, string(b)
}

// The principals of the matrix, in column order.
var kinds = []string{"anonymous", "other", "owner", "admin", "share", "share-expired", "share-revoked", "key-expired", "key-revoked"}

// A matrix row: a request per route and the status each principal gets.
// prepare (optional) makes what a destructive request consumes, per cell.
type matrixRow struct {
	pattern string
	method  string
	path    string // {id}: the owner's lecture; {fresh}: a new lecture of the owner's per cell
	ctype   string
	body    string
	want    [9]int // in the order of kinds
}

const (
	lecID  = "{id}"
	fresh  = "{fresh}"
	keyID  = "{key}"
	shrID  = "{share}"
	uplReq = `{"name":"talk.mp3","size":1000,"content_type":"audio/mpeg"}`
)

// Expected statuses for classes of routes. Unknown, expired and revoked
// credentials are 401 everywhere they are read; a share link opens its
// lecture's reads and nothing else (403 elsewhere, and on any method but
// GET, valid or not: share tokens are only read on GET); other users'
// lectures are 404, for admins too.
var (
	//                     anon other owner admin share sh-exp sh-rev k-exp k-rev
	readLecture  = [9]int{401, 404, 200, 404, 200, 401, 401, 401, 401}
	ownLecture   = [9]int{401, 404, 200, 404, 403, 401, 401, 401, 401}
	account      = [9]int{401, 200, 200, 200, 403, 401, 401, 401, 401}
	adminOnlyRow = [9]int{401, 403, 403, 200, 403, 401, 401, 401, 401}
	publicRow    = [9]int{200, 200, 200, 200, 200, 200, 200, 200, 200}
)

var matrix = []matrixRow{
	{"POST /summarize", "POST", "/summarize", "application/json", `{"text":"Entropy never decreases in an isolated system. Heat flows from hot to cold."}`, [9]int{401, 200, 200, 200, 403, 403, 403, 401, 401}},
	{"POST /qa", "POST", "/qa", "application/json", `{"lecture_id":"{id}","question":"What does the second law say?"}`, [9]int{401, 404, 200, 404, 403, 403, 403, 401, 401}},
	{"POST /lectures", "POST", "/lectures?name=x.txt", "text/plain", "Entropy is a measure of disorder in a system.", [9]int{401, 202, 202, 202, 403, 403, 403, 401, 401}},
	{"GET /lectures", "GET", "/lectures", "", "", [9]int{401, 200, 200, 200, 403, 401, 401, 401, 401}},
	{"POST /lectures/uploads", "POST", "/lectures/uploads", "application/json", uplReq, [9]int{401, 501, 501, 501, 403, 403, 403, 401, 401}},
	{"POST /transcribe", "POST", "/transcribe", "text/plain", "x", [9]int{401, 503, 503, 503, 403, 403, 403, 401, 401}},
	{"POST /v1/audio/transcriptions", "POST", "/v1/audio/transcriptions", "text/plain", "x", [9]int{401, 503, 503, 503, 403, 403, 403, 401, 401}},
	{"GET /lectures/{id}", "GET", "/lectures/{id}", "", "", readLecture},
	{"DELETE /lectures/{id}", "DELETE", "/lectures/{fresh}", "", "", [9]int{401, 404, 204, 404, 403, 403, 403, 401, 401}},
	{"GET /lectures/{id}/summary", "GET", "/lectures/{id}/summary", "", "", readLecture},
	{"GET /lectures/{id}/transcript", "GET", "/lectures/{id}/transcript?format=srt", "", "", readLecture},
	{"GET /lectures/{id}/media", "GET", "/lectures/{id}/media", "", "", [9]int{401, 404, 404, 404, 404, 401, 401, 401, 401}}, // a transcript: no recording
	{"GET /lectures/{id}/events", "GET", "/lectures/{id}/events", "", "", readLecture},
	{"GET /lectures/{id}/qa", "GET", "/lectures/{id}/qa?q=entropy", "", "", readLecture},
	{"GET /lectures/{id}/shares", "GET", "/lectures/{id}/shares", "", "", ownLecture},
	{"POST /lectures/{id}/shares", "POST", "/lectures/{id}/shares", "application/json", `{"expires_in":"1h"}`, [9]int{401, 404, 201, 404, 403, 403, 403, 401, 401}},
	{"DELETE /lectures/{id}/shares/{share}", "DELETE", "/lectures/{id}/shares/{share}", "", "", [9]int{401, 404, 204, 404, 403, 403, 403, 401, 401}},
	{"GET /keys", "GET", "/keys", "", "", account},
	{"POST /keys", "POST", "/keys", "application/json", `{"name":"laptop"}`, [9]int{401, 201, 201, 201, 403, 403, 403, 401, 401}},
	{"DELETE /keys/{key}", "DELETE", "/keys/{key}", "", "", [9]int{401, 404, 204, 404, 403, 403, 403, 401, 401}},
	{"GET /usage", "GET", "/usage", "", "", account},
	{"GET /admin/users", "GET", "/admin/users", "", "", adminOnlyRow},
	{"GET /admin/audit", "GET", "/admin/audit", "", "", adminOnlyRow},
	{"POST /auth/signin", "POST", "/auth/signin", "application/json", `{"email":"owner@example.edu","password":"wrong password"}`, [9]int{401, 401, 401, 401, 401, 401, 401, 401, 401}},
	{"POST /auth/signout", "POST", "/auth/signout", "", "", [9]int{204, 204, 204, 204, 403, 403, 403, 401, 401}},
	{"GET /auth/me", "GET", "/auth/me", "", "", account},
	{"GET /auth/oidc/start", "GET", "/auth/oidc/start", "", "", [9]int{501, 501, 501, 501, 501, 501, 501, 501, 501}},
	{"GET /auth/oidc/callback", "GET", "/auth/oidc/callback", "", "", [9]int{501, 501, 501, 501, 501, 501, 501, 501, 501}},
	{"GET /healthz", "GET", "/healthz", "", "", publicRow},
	{"GET /readyz", "GET", "/readyz", "", "", publicRow},
	// The web app's pages and assets are public shells; their data comes
	// from the routes above.
	{"GET /{$}", "GET", "/", "", "", [9]int{404, 404, 404, 404, 404, 404, 404, 404, 404}}, // the library page only for Accept: text/html
	{"GET /upload", "GET", "/upload", "", "", publicRow},
	{"GET /l/{id}", "GET", "/l/{id}", "", "", publicRow},
	{"GET /signin", "GET", "/signin", "", "", publicRow},
	{"GET /account", "GET", "/account", "", "", publicRow},
	{"GET /admin", "GET", "/admin", "", "", publicRow},
	{"GET /static/{name}", "GET", web.AssetURL("app.css"), "", "", publicRow},
}

// TestAuthorizationMatrix: every route × every kind of caller gets the
// status of its row; a route without a row fails the test.
func TestAuthorizationMatrix(t *testing.T) {
	e := newAuthEnv(t, map[string]string{"TRANSCEPT_QUOTA_UPLOADS": "0", "TRANSCEPT_QUOTA_QA": "0", "TRANSCEPT_QUOTA_JOBS": "0"})
	rows := map[string]bool{}
	for _, r := range matrix {
		rows[r.pattern] = true
	}
	for _, p := range e.api.Routes() {
		if !rows[p] {
			t.Errorf("route %q has no row in the authorisation matrix: add one", p)
		}
	}
	// The owner's lectures for destructive cells, made up front.
	freshIDs := map[string]string{}
	for _, who := range kinds {
		freshIDs[who] = e.upload("owner")
	}
	for _, r := range matrix {
		for i, who := range kinds {
			path := strings.ReplaceAll(r.path, lecID, e.lecID)
			path = strings.ReplaceAll(path, fresh, freshIDs[who])
			body := strings.ReplaceAll(r.body, lecID, e.lecID)
			if strings.Contains(path, keyID) {
				now := time.Now().UTC()
				_, k := auth.NewAPIKey("u-owner", "to revoke", now.Add(time.Hour), now)
				if err := e.cat.CreateKey(context.Background(), k); err != nil {
					t.Fatal(err)
				}
				path = strings.ReplaceAll(path, keyID, k.ID)
			}
			if strings.Contains(path, shrID) {
				now := time.Now().UTC()
				_, sh := auth.NewShare(e.lecID, "u-owner", now.Add(time.Hour), now)
				if err := e.cat.CreateShare(context.Background(), sh); err != nil {
					t.Fatal(err)
				}
				path = strings.ReplaceAll(path, shrID, sh.ID)
			}
			var rd io.Reader
			if body != "" {
				rd = strings.NewReader(body)
			}
			code, _, resp := e.call(who, r.method, path, r.ctype, rd)
			if code != r.want[i] {
				t.Errorf("%s as %s: status %d, want %d: %s", r.pattern, who, code, r.want[i], clip(resp))
			}
		}
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// TestOwnershipAndListing: each member lists and searches only their own
// lectures; deleting leaves nothing behind.
func TestOwnershipAndListing(t *testing.T) {
	e := newAuthEnv(t, nil)
	other := e.upload("other")
	code, m, body := e.call("owner", "GET", "/lectures", "", nil)
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	ids := listIDs(m)
	if len(ids) != 1 || ids[0] != e.lecID {
		t.Errorf("owner lists %v, want only %s", ids, e.lecID)
	}
	_, m, _ = e.call("other", "GET", "/lectures?q=entropy", "", nil)
	if ids := listIDs(m); len(ids) != 1 || ids[0] != other {
		t.Errorf("other searching entropy gets %v, want only %s", ids, other)
	}
	_, m, _ = e.call("admin", "GET", "/lectures", "", nil)
	if ids := listIDs(m); len(ids) != 0 {
		t.Errorf("admin lists others' lectures: %v", ids)
	}
	_, m, _ = e.call("owner", "GET", "/lectures?q=carnot+efficiency", "", nil)
	if ids := listIDs(m); len(ids) != 1 {
		t.Errorf("full-text search over the transcript: %v", ids)
	}
	_, m, _ = e.call("owner", "GET", "/lectures?q=photosynthesis", "", nil)
	if ids := listIDs(m); len(ids) != 0 {
		t.Errorf("search for a word not in any transcript: %v", ids)
	}
}

func listIDs(m map[string]any) []string {
	var out []string
	ls, _ := m["lectures"].([]any)
	for _, l := range ls {
		out = append(out, l.(map[string]any)["id"].(string))
	}
	return out
}

// TestSessionSignInCSRF: a browser signs in with a password, gets an
// HttpOnly SameSite=Lax cookie, and state-changing requests need the CSRF
// token; the cookie dies with sign-out and cannot be replayed.
func TestSessionSignInCSRF(t *testing.T) {
	e := newAuthEnv(t, nil)
	b, _ := json.Marshal(map[string]string{"email": "Owner@Example.edu", "password": "correct horse owner"})
	resp, err := http.Post(e.srv.URL+"/auth/signin", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var sign map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&sign)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("sign-in: %d %v", resp.StatusCode, sign)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.CookieName {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Fatalf("session cookie %+v", cookie)
	}
	csrf, _ := sign["csrf_token"].(string)
	do := func(method, path, token string, body string) int {
		req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		req.AddCookie(cookie)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := do("GET", "/lectures/"+e.lecID, "", ""); c != 200 {
		t.Errorf("GET with the cookie: %d", c)
	}
	if c := do("POST", "/keys", "", `{"name":"x"}`); c != 403 {
		t.Errorf("POST without the CSRF token: %d, want 403", c)
	}
	if c := do("POST", "/keys", "not-the-token", `{"name":"x"}`); c != 403 {
		t.Errorf("POST with a wrong CSRF token: %d, want 403", c)
	}
	if c := do("POST", "/keys?csrf_token="+url.QueryEscape(csrf)+"&token="+url.QueryEscape(csrf), "", `{"name":"x"}`); c != 403 {
		t.Errorf("POST with the token in the query string: %d, want 403", c)
	}
	if c := do("POST", "/keys", csrf, `{"name":"x"}`); c != 201 {
		t.Errorf("POST with the CSRF token: %d, want 201", c)
	}
	if c := do("POST", "/auth/signout", csrf, ""); c != 204 {
		t.Errorf("sign-out: %d", c)
	}
	if c := do("GET", "/lectures/"+e.lecID, "", ""); c != 401 {
		t.Errorf("the cookie replayed after sign-out: %d, want 401", c)
	}
	// Wrong passwords: one message, no hint which part was wrong.
	_, m1, _ := e.call("anonymous", "POST", "/auth/signin", "application/json", strings.NewReader(`{"email":"owner@example.edu","password":"wrong password"}`))
	_, m2, _ := e.call("anonymous", "POST", "/auth/signin", "application/json", strings.NewReader(`{"email":"nobody@example.edu","password":"wrong password"}`))
	if fmt.Sprint(m1["error"]) != fmt.Sprint(m2["error"]) {
		t.Errorf("sign-in errors tell accounts apart: %v vs %v", m1, m2)
	}
	// A form post redirects only to a local path.
	for next, want := range map[string]string{"/lectures": "/lectures", "https://evil.example/": "/", "//evil.example": "/", "/\\evil.example": "/"} {
		form := url.Values{"email": {"owner@example.edu"}, "password": {"correct horse owner"}, "next": {next}}
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := cl.PostForm(e.srv.URL+"/auth/signin", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != want {
			t.Errorf("sign-in form with next=%q: %d to %q, want 303 to %q", next, resp.StatusCode, loc, want)
		}
	}
}
