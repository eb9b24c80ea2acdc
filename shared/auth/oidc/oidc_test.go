package oidc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

func TestIsLocalPath(t *testing.T) {
	for next, want := range map[string]bool{
		"/":                             true,
		"/lectures/abc?tab=qa#t=3":      true,
		"/a/b/../c":                     false,
		"/./x":                          false,
		"/caf\u00e9":                    false,
		"/a b":                          false,
		"":                              false,
		"lectures":                      false,
		"//evil.example":                false,
		"//evil.example/x":              false,
		"/\\evil.example":               false,
		"/x\\y":                         false,
		"https://evil.example/":         false,
		"http:/evil":                    false,
		"javascript:alert(1)":           false,
		"/x\r\nSet-Cookie: a=b":         false,
		"/x\ty":                         false,
		"\\\\evil.example":              false,
		"/" + strings.Repeat("a", 3000): false,
	} {
		if got := IsLocalPath(next); got != want {
			t.Errorf("IsLocalPath(%q) = %v, want %v", next, got, want)
		}
	}
}

func TestEmailDomain(t *testing.T) {
	for email, want := range map[string]string{
		"ann@example.edu":         "example.edu",
		"Ann@Example.EDU":         "example.edu",
		"a@evil-example.edu":      "evil-example.edu",
		"a@example.edu.evil.com":  "example.edu.evil.com",
		"a@b@example.edu":         "",
		"@example.edu":            "",
		"ann@":                    "",
		"ann":                     "",
		"ann @example.edu":        "",
		"ann@example.edu\n":       "",
		"ann@example.edu\x00.com": "",
	} {
		got, ok := EmailDomain(email)
		if got != want || ok != (want != "") {
			t.Errorf("EmailDomain(%q) = %q, %v; want %q", email, got, ok, want)
		}
	}
}

func TestEmailVerified(t *testing.T) {
	for raw, want := range map[string]bool{
		`true`: true, `"true"`: true,
		``: false, `null`: false, `false`: false, `"false"`: false, `1`: false, `"yes"`: false, `{}`: false,
	} {
		if got := emailVerified([]byte(raw)); got != want {
			t.Errorf("emailVerified(%s) = %v, want %v", raw, got, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	cat := newFakeCatalogue()
	// Nothing listens on port 1: discovery fails and says which setting.
	_, err := New(context.Background(), config.OIDC{Issuer: "http://127.0.0.1:1", ClientID: "c", RedirectURL: "http://127.0.0.1/cb"}, cat)
	if err == nil || lecture.ErrorCode(err) != lecture.EUNAVAILABLE || !strings.Contains(err.Error(), "TRANSCEPT_OIDC_ISSUER") {
		t.Errorf("unreachable issuer: %v (code %s)", err, lecture.ErrorCode(err))
	}
	// A discovery document for another issuer is refused.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"https://other.example","authorization_endpoint":"https://other.example/a","token_endpoint":"https://other.example/t","jwks_uri":"https://other.example/k"}`))
	}))
	defer srv.Close()
	_, err = New(context.Background(), config.OIDC{Issuer: srv.URL, ClientID: "c", RedirectURL: "http://127.0.0.1/cb"}, cat)
	if err == nil || !strings.Contains(err.Error(), "TRANSCEPT_OIDC_ISSUER") || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("issuer mismatch: %v", err)
	}
	for _, c := range []struct {
		cfg  config.OIDC
		want string
	}{
		{config.OIDC{ClientID: "c", RedirectURL: "http://x/cb"}, "TRANSCEPT_OIDC_ISSUER"},
		{config.OIDC{Issuer: srv.URL, RedirectURL: "http://x/cb"}, "TRANSCEPT_OIDC_CLIENT_ID"},
		{config.OIDC{Issuer: srv.URL, ClientID: "c"}, "TRANSCEPT_OIDC_REDIRECT_URL"},
		{config.OIDC{Issuer: srv.URL, ClientID: "c", RedirectURL: "/cb"}, "TRANSCEPT_OIDC_REDIRECT_URL"},
	} {
		_, err := New(context.Background(), c.cfg, cat)
		if lecture.ErrorCode(err) != lecture.EINVALID || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want an invalid error naming %s", c.cfg, err, c.want)
		}
	}
}

// offline returns a Provider that never reaches a real provider, for the
// cookie and refusal paths that end before the code exchange.
func offline(t *testing.T, secret string) (*Provider, *fakeCatalogue) {
	t.Helper()
	cat := newFakeCatalogue()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"issuer":"` + base + `","authorization_endpoint":"` + base + `/auth","token_endpoint":"` + base + `/token","jwks_uri":"` + base + `/jwks"}`))
	}))
	t.Cleanup(srv.Close)
	p, err := New(context.Background(), config.OIDC{Issuer: srv.URL, ClientID: "cid", ClientSecret: secret, RedirectURL: "https://app.example/auth/oidc/callback"}, cat)
	if err != nil {
		t.Fatal(err)
	}
	return p, cat
}

func TestIssuerTrailingSlash(t *testing.T) {
	// config.Load trims the issuer's trailing slash; a provider whose
	// issuer has one (as in its ID tokens) is still found.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/openid-configuration" {
			http.NotFound(w, r)
			return
		}
		base := "http://" + r.Host
		_, _ = w.Write([]byte(`{"issuer":"` + base + `/","authorization_endpoint":"` + base + `/auth","token_endpoint":"` + base + `/token","jwks_uri":"` + base + `/jwks"}`))
	}))
	defer srv.Close()
	p, err := New(context.Background(), config.OIDC{Issuer: srv.URL, ClientID: "c", RedirectURL: "http://127.0.0.1/cb"}, newFakeCatalogue())
	if err != nil {
		t.Fatal(err)
	}
	if p.Issuer() != srv.URL+"/" {
		t.Errorf("issuer %q", p.Issuer())
	}
}

func TestStart(t *testing.T) {
	p, _ := offline(t, "s3cret")
	rec := httptest.NewRecorder()
	p.Start(rec, httptest.NewRequest("GET", "/auth/oidc/start?next=/x", nil), "/lectures/1?tab=qa")
	res := rec.Result()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("status %d", res.StatusCode)
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if !strings.HasSuffix(loc.Path, "/auth") || q.Get("response_type") != "code" || q.Get("client_id") != "cid" ||
		q.Get("redirect_uri") != "https://app.example/auth/oidc/callback" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("authorization URL %s", loc)
	}
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != StateCookieName || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge != 600 || c.Path != "/auth/oidc/callback" {
		t.Errorf("cookie %+v", c)
	}
	st, err := p.open(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != q.Get("state") || st.Nonce != q.Get("nonce") || st.Next != "/lectures/1?tab=qa" {
		t.Errorf("state %+v", st)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Error("no Cache-Control: no-store")
	}
	// The verifier is not in the URL, only its S256 challenge.
	if strings.Contains(loc.String(), st.Verifier) {
		t.Error("verifier in the authorization URL")
	}

	// A non-local next is replaced.
	rec = httptest.NewRecorder()
	p.Start(rec, httptest.NewRequest("GET", "/", nil), "//evil.example/")
	if st, _ := p.open(rec.Result().Cookies()[0].Value); st.Next != "/" {
		t.Errorf("next %q kept", st.Next)
	}

	rec = httptest.NewRecorder()
	p.ClearStateCookie(rec)
	if c := rec.Result().Cookies()[0]; c.Name != StateCookieName || c.MaxAge >= 0 || c.Path != "/auth/oidc/callback" {
		t.Errorf("clear cookie %+v", c)
	}
}

func TestStateCookie(t *testing.T) {
	p, _ := offline(t, "s3cret")
	st := state{State: "s", Nonce: "n", Verifier: "v", Next: "/", Expires: time.Now().Add(time.Minute).Unix()}
	v := p.seal(st)
	if got, err := p.open(v); err != nil || got != st {
		t.Fatalf("open(seal) = %+v, %v", got, err)
	}
	payload, sig, _ := strings.Cut(v, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[len(b)/2] == 'A' {
			b[len(b)/2] = 'B'
		} else {
			b[len(b)/2] = 'A'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"payload":   flip(payload) + "." + sig,
		"signature": payload + "." + flip(sig),
		"no dot":    payload,
		"empty":     "",
		"no sig":    payload + ".",
	} {
		if _, err := p.open(bad); err == nil {
			t.Errorf("%s: tampered cookie accepted", name)
		}
	}
	// Another secret, or no secret (a random key per process), refuses it.
	for _, secret := range []string{"other", ""} {
		r, _ := offline(t, secret)
		if _, err := r.open(v); err == nil {
			t.Errorf("secret %q: accepted a cookie sealed with another key", secret)
		}
	}
	// Expired.
	p.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, err := p.open(v); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired cookie: %v", err)
	}
}

func TestKeyDerivation(t *testing.T) {
	cat := newFakeCatalogue()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		_, _ = w.Write([]byte(`{"issuer":"` + base + `","authorization_endpoint":"` + base + `/auth","token_endpoint":"` + base + `/token","jwks_uri":"` + base + `/jwks"}`))
	}))
	defer srv.Close()
	cfg := config.OIDC{Issuer: srv.URL, ClientID: "cid", ClientSecret: "s3cret", RedirectURL: "http://127.0.0.1/cb"}
	a, err := New(context.Background(), cfg, cat)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(context.Background(), cfg, cat)
	if err != nil {
		t.Fatal(err)
	}
	if string(a.key) != string(b.key) || string(a.key) == cfg.ClientSecret || len(a.key) != 32 {
		t.Error("two replicas with one secret derive different keys (or the secret itself)")
	}
	cfg.ClientSecret = ""
	c, _ := New(context.Background(), cfg, cat)
	d, _ := New(context.Background(), cfg, cat)
	if string(c.key) == string(d.key) || len(c.key) != 32 {
		t.Error("without a secret the per-process key is not random")
	}
}

func TestCallbackRefusedBeforeExchange(t *testing.T) {
	p, cat := offline(t, "s3cret")
	rec := httptest.NewRecorder()
	p.Start(rec, httptest.NewRequest("GET", "/", nil), "/")
	cookie := rec.Result().Cookies()[0]
	loc, _ := url.Parse(rec.Header().Get("Location"))
	stateParam := loc.Query().Get("state")

	req := func(query string, c *http.Cookie) *http.Request {
		r := httptest.NewRequest("GET", "/auth/oidc/callback?"+query, nil)
		if c != nil {
			r.AddCookie(c)
		}
		return r
	}
	for name, r := range map[string]*http.Request{
		"no cookie":      req("code=c&state="+stateParam, nil),
		"tampered":       req("code=c&state="+stateParam, &http.Cookie{Name: StateCookieName, Value: cookie.Value + "x"}),
		"state mismatch": req("code=c&state=other", cookie),
		"no state":       req("code=c", cookie),
		"no code":        req("state="+stateParam, cookie),
		"provider error": req("error=access_denied&state="+stateParam, cookie),
	} {
		u, next, err := p.Callback(context.Background(), r)
		if lecture.ErrorCode(err) != EUNAUTHENTICATED || u.ID != "" || next != "" {
			t.Errorf("%s: %+v %q %v", name, u, next, err)
		}
		if a := cat.lastAudit(); a.Action != ActionSigninFailed || a.Detail == "" {
			t.Errorf("%s: audit %+v", name, a)
		}
	}
	if n, _ := cat.CountUsers(context.Background()); n != 0 {
		t.Errorf("%d users created", n)
	}
}

var _ catalogue.Catalogue = (*fakeCatalogue)(nil)
