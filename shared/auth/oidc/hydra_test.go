package oidc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// The redirect URI is never contacted: the test browser stops there and the
// test calls Callback itself.
const redirectURI = "http://127.0.0.1:9/auth/oidc/callback"

// rig is a Hydra, a client registered with it, and a Provider for it.
type rig struct {
	h      *svctest.HydraServer
	client svctest.Client
	p      *Provider
	cat    *fakeCatalogue
}

func newRig(t *testing.T, h *svctest.HydraServer, client svctest.Client, domains ...string) *rig {
	t.Helper()
	cat := newFakeCatalogue()
	p, err := New(context.Background(), config.OIDC{
		Issuer:         strings.TrimRight(h.Issuer, "/"), // as config.Load leaves it
		ClientID:       client.ID,
		ClientSecret:   client.Secret,
		RedirectURL:    client.RedirectURI,
		AllowedDomains: domains,
	}, cat)
	if err != nil {
		t.Fatalf("New: %v\n%s", err, h.Output())
	}
	return &rig{h: h, client: client, p: p, cat: cat}
}

// start runs Start and returns the state cookie and the authorization URL.
func (r *rig) start(t *testing.T, next string) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.p.Start(rec, httptest.NewRequest("GET", "/auth/oidc/start", nil), next)
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Start set cookies %v", cookies)
	}
	return cookies[0], rec.Header().Get("Location")
}

func callbackRequest(cb *url.URL, c *http.Cookie) *http.Request {
	req := httptest.NewRequest("GET", "/auth/oidc/callback?"+cb.RawQuery, nil)
	req.RemoteAddr = "192.0.2.7:5555"
	if c != nil {
		req.AddCookie(c)
	}
	return req
}

// signIn runs the whole flow as id and returns what Callback returned.
func (r *rig) signIn(t *testing.T, next string, id svctest.Identity) (catalogue.User, string, error) {
	t.Helper()
	c, auth := r.start(t, next)
	cb := r.h.Authorize(t, auth, r.client.RedirectURI, id)
	return r.p.Callback(context.Background(), callbackRequest(cb, c))
}

func person(sub, email string, verified any) svctest.Identity {
	claims := map[string]any{"email": email}
	if verified != nil {
		claims["email_verified"] = verified
	}
	return svctest.Identity{Subject: sub, IDToken: claims}
}

func wantRefused(t *testing.T, what string, r *rig, u catalogue.User, next string, err error, code string) {
	t.Helper()
	t.Logf("%s: refused: %v", what, err)
	if err == nil || lecture.ErrorCode(err) != code || u.ID != "" || next != "" {
		t.Errorf("%s: got user %+v next %q err %v (code %s), want code %s", what, u, next, err, lecture.ErrorCode(err), code)
		return
	}
	if a := r.cat.lastAudit(); a.Action != ActionSigninFailed || a.Detail == "" || a.Remote != "192.0.2.7" {
		t.Errorf("%s: last audit %+v", what, a)
	}
}

func TestHydra(t *testing.T) {
	h := svctest.StartHydra(t)
	conf := h.CreateClient(t, redirectURI, false)
	r := newRig(t, h, conf)
	ctx := context.Background()
	t.Logf("hydra issuer %q", r.p.Issuer())
	if !strings.HasPrefix(r.p.Issuer(), "http://127.0.0.1:") {
		t.Fatalf("issuer %q", r.p.Issuer())
	}

	var first catalogue.User
	t.Run("first sign-in creates a member", func(t *testing.T) {
		u, next, err := r.signIn(t, "/lectures/20261203-010203-abcd?tab=qa", person("ann-sub", "Ann@Example.EDU", true))
		if err != nil {
			t.Fatalf("Callback: %v\n%s", err, h.Output())
		}
		if u.ID == "" || u.Email != "ann@example.edu" || u.Role != catalogue.RoleMember || u.PasswordHash != "" ||
			u.OIDCSubject != r.p.Issuer()+"|ann-sub" || u.Disabled || u.CreatedAt.IsZero() {
			t.Errorf("user %+v", u)
		}
		if next != "/lectures/20261203-010203-abcd?tab=qa" {
			t.Errorf("next %q", next)
		}
		stored, err := r.cat.UserBySubject(ctx, u.OIDCSubject)
		if err != nil || stored.ID != u.ID {
			t.Errorf("stored %+v %v", stored, err)
		}
		if a := r.cat.lastAudit(); a.Action != ActionSignin || a.Actor != u.ID || a.Detail != "created" || a.Remote != "192.0.2.7" {
			t.Errorf("audit %+v", a)
		}
		first = u
	})

	t.Run("second sign-in finds the same user", func(t *testing.T) {
		u, next, err := r.signIn(t, "/", person("ann-sub", "ann@example.edu", true))
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != first.ID || next != "/" {
			t.Errorf("user %+v next %q, want %s", u, next, first.ID)
		}
		if n, _ := r.cat.CountUsers(ctx); n != 1 {
			t.Errorf("%d users", n)
		}
		if a := r.cat.lastAudit(); a.Action != ActionSignin || a.Detail != "" {
			t.Errorf("audit %+v", a)
		}
	})

	t.Run("password user with the same verified e-mail is linked", func(t *testing.T) {
		pw := catalogue.User{ID: "pw-bob", Email: "bob@example.edu", Role: catalogue.RoleAdmin, PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA"}
		if err := r.cat.CreateUser(ctx, pw); err != nil {
			t.Fatal(err)
		}
		u, _, err := r.signIn(t, "/", person("bob-sub", "BOB@example.edu", true))
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != pw.ID || u.Role != catalogue.RoleAdmin || u.PasswordHash != pw.PasswordHash || u.OIDCSubject != r.p.Issuer()+"|bob-sub" {
			t.Errorf("user %+v", u)
		}
		if stored, _ := r.cat.UserByID(ctx, pw.ID); stored.OIDCSubject != u.OIDCSubject {
			t.Errorf("subject not stored: %+v", stored)
		}
		if a := r.cat.lastAudit(); a.Action != ActionSignin || a.Detail != "linked" {
			t.Errorf("audit %+v", a)
		}
		// Later sign-ins find it by subject, even after an e-mail change.
		u2, _, err := r.signIn(t, "/", person("bob-sub", "robert@example.edu", true))
		if err != nil || u2.ID != pw.ID {
			t.Errorf("by subject: %+v %v", u2, err)
		}
	})

	t.Run("another identity cannot take over a linked account", func(t *testing.T) {
		u, next, err := r.signIn(t, "/", person("mallory-sub", "ann@example.edu", true))
		wantRefused(t, "linked to another subject", r, u, next, err, EFORBIDDEN)
	})

	t.Run("unverified e-mail is refused", func(t *testing.T) {
		before, _ := r.cat.CountUsers(ctx)
		for name, verified := range map[string]any{"false": false, "missing": nil, `"false"`: "false", "1": 1} {
			u, next, err := r.signIn(t, "/", person("eve-sub-"+name, "eve@example.edu", verified))
			wantRefused(t, "email_verified "+name, r, u, next, err, EFORBIDDEN)
		}
		// Nor may an unverified claim link to an existing account.
		u, next, err := r.signIn(t, "/", person("eve-sub", "carol@example.edu", false))
		wantRefused(t, "unverified link", r, u, next, err, EFORBIDDEN)
		if n, _ := r.cat.CountUsers(ctx); n != before {
			t.Errorf("%d users created", n-before)
		}
		u, next, err = r.signIn(t, "/", svctest.Identity{Subject: "noemail-sub", IDToken: map[string]any{"email_verified": true}})
		wantRefused(t, "no e-mail", r, u, next, err, EFORBIDDEN)
	})

	t.Run("disabled user is refused", func(t *testing.T) {
		if err := r.cat.CreateUser(ctx, catalogue.User{ID: "dis", Email: "dis@example.edu", Role: catalogue.RoleMember, OIDCSubject: r.p.Issuer() + "|dis-sub", Disabled: true}); err != nil {
			t.Fatal(err)
		}
		u, next, err := r.signIn(t, "/", person("dis-sub", "dis@example.edu", true))
		wantRefused(t, "disabled by subject", r, u, next, err, EFORBIDDEN)
		if err := r.cat.CreateUser(ctx, catalogue.User{ID: "dis2", Email: "dis2@example.edu", Role: catalogue.RoleMember, Disabled: true}); err != nil {
			t.Fatal(err)
		}
		u, next, err = r.signIn(t, "/", person("dis2-sub", "dis2@example.edu", true))
		wantRefused(t, "disabled by e-mail", r, u, next, err, EFORBIDDEN)
		if s, _ := r.cat.UserByID(ctx, "dis2"); s.OIDCSubject != "" {
			t.Error("a disabled account was linked")
		}
	})

	t.Run("allowed domains match exactly", func(t *testing.T) {
		ra := newRig(t, h, conf, "example.edu", "@uni.example")
		for _, email := range []string{"x@evil-example.edu", "x@example.edu.evil.com", "x@sub.example.edu", "x@example.education", "x@exampleedu", "x@example.edu.", "example.edu@evil.com"} {
			u, next, err := ra.signIn(t, "/", person("sub-"+email, email, true))
			wantRefused(t, email, ra, u, next, err, EFORBIDDEN)
		}
		if n, _ := ra.cat.CountUsers(ctx); n != 0 {
			t.Errorf("%d users created", n)
		}
		for _, email := range []string{"dan@EXAMPLE.edu", "eve@uni.example"} {
			if u, _, err := ra.signIn(t, "/", person("sub-"+email, email, true)); err != nil || u.Email != strings.ToLower(email) {
				t.Errorf("%s: %+v %v", email, u, err)
			}
		}
	})

	t.Run("tampered state cookie", func(t *testing.T) {
		c, auth := r.start(t, "/")
		cb := h.Authorize(t, auth, redirectURI, person("ann-sub", "ann@example.edu", true))
		payload, sig, _ := strings.Cut(c.Value, ".")
		st, _ := r.p.open(c.Value)
		st.Next = "/admin"
		forged := r.p.seal(st)
		fpayload, _, _ := strings.Cut(forged, ".")
		for name, v := range map[string]string{
			"payload swapped": fpayload + "." + sig,
			"signature cut":   payload + "." + sig[:len(sig)-2],
			"garbage":         "x",
		} {
			u, next, err := r.p.Callback(ctx, callbackRequest(cb, &http.Cookie{Name: StateCookieName, Value: v}))
			wantRefused(t, name, r, u, next, err, EUNAUTHENTICATED)
		}
		u, next, err := r.p.Callback(ctx, callbackRequest(cb, nil))
		wantRefused(t, "no cookie", r, u, next, err, EUNAUTHENTICATED)
		// The untouched cookie still works: the code was not spent.
		if u, _, err := r.p.Callback(ctx, callbackRequest(cb, c)); err != nil || u.ID != first.ID {
			t.Errorf("untampered: %+v %v", u, err)
		}
	})

	t.Run("mismatched state", func(t *testing.T) {
		c1, auth1 := r.start(t, "/")
		c2, _ := r.start(t, "/")
		cb := h.Authorize(t, auth1, redirectURI, person("ann-sub", "ann@example.edu", true))
		u, next, err := r.p.Callback(ctx, callbackRequest(cb, c2))
		wantRefused(t, "another sign-in's cookie", r, u, next, err, EUNAUTHENTICATED)
		q := cb.Query()
		q.Set("state", q.Get("state")+"x")
		bad := *cb
		bad.RawQuery = q.Encode()
		u, next, err = r.p.Callback(ctx, callbackRequest(&bad, c1))
		wantRefused(t, "altered state", r, u, next, err, EUNAUTHENTICATED)
	})

	t.Run("replayed code", func(t *testing.T) {
		c, auth := r.start(t, "/")
		cb := h.Authorize(t, auth, redirectURI, person("ann-sub", "ann@example.edu", true))
		if _, _, err := r.p.Callback(ctx, callbackRequest(cb, c)); err != nil {
			t.Fatal(err)
		}
		u, next, err := r.p.Callback(ctx, callbackRequest(cb, c))
		wantRefused(t, "replay", r, u, next, err, EUNAUTHENTICATED)
	})

	t.Run("wrong nonce", func(t *testing.T) {
		before, _ := r.cat.CountUsers(ctx)
		c, auth := r.start(t, "/")
		cb := h.Authorize(t, auth, redirectURI, person("nonce-sub", "nonce@example.edu", true))
		st, err := r.p.open(c.Value)
		if err != nil {
			t.Fatal(err)
		}
		st.Nonce = "another-nonce"
		forged := &http.Cookie{Name: StateCookieName, Value: r.p.seal(st)}
		u, next, err := r.p.Callback(ctx, callbackRequest(cb, forged))
		wantRefused(t, "nonce", r, u, next, err, EUNAUTHENTICATED)
		if !strings.Contains(err.Error(), "nonce") {
			t.Errorf("error %v does not name the nonce", err)
		}
		if n, _ := r.cat.CountUsers(ctx); n != before {
			t.Error("a user was created")
		}
	})

	t.Run("wrong PKCE verifier", func(t *testing.T) {
		c, auth := r.start(t, "/")
		cb := h.Authorize(t, auth, redirectURI, person("ann-sub", "ann@example.edu", true))
		st, _ := r.p.open(c.Value)
		st.Verifier = strings.Repeat("A", 43)
		u, next, err := r.p.Callback(ctx, callbackRequest(cb, &http.Cookie{Name: StateCookieName, Value: r.p.seal(st)}))
		wantRefused(t, "verifier", r, u, next, err, EUNAUTHENTICATED)
	})

	t.Run("ID token for another client", func(t *testing.T) {
		// A code issued to another client (with its own valid cookie) is
		// not redeemable by ours.
		other := newRig(t, h, h.CreateClient(t, redirectURI, false))
		c, auth := other.start(t, "/")
		cb := h.Authorize(t, auth, redirectURI, person("ann-sub", "ann@example.edu", true))
		st, _ := other.p.open(c.Value)
		u, next, err := r.p.Callback(ctx, callbackRequest(cb, &http.Cookie{Name: StateCookieName, Value: r.p.seal(st)}))
		wantRefused(t, "other client's code", r, u, next, err, EUNAUTHENTICATED)

		// And its ID token does not verify for our client (audience).
		c, auth = other.start(t, "/")
		cb = h.Authorize(t, auth, redirectURI, person("ann-sub", "ann@example.edu", true))
		st, _ = other.p.open(c.Value)
		tok, err := other.p.oauth.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(st.Verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		if _, err := other.p.verifier.Verify(ctx, raw); err != nil {
			t.Fatalf("the other client's own verifier refuses its token: %v", err)
		}
		if _, err := r.p.verifier.Verify(ctx, raw); err == nil || !strings.Contains(err.Error(), "audience") {
			t.Errorf("another client's ID token: %v", err)
		}
	})

	t.Run("login rejected at the provider", func(t *testing.T) {
		c, auth := r.start(t, "/")
		cb := h.Authorize(t, auth, redirectURI, svctest.Identity{RejectLogin: "access_denied"})
		if cb.Query().Get("error") == "" {
			t.Fatalf("callback %s has no error", cb)
		}
		u, next, err := r.p.Callback(ctx, callbackRequest(cb, c))
		wantRefused(t, "rejected", r, u, next, err, EUNAUTHENTICATED)
	})

	t.Run("next is returned only when local", func(t *testing.T) {
		for next, want := range map[string]string{
			"/library?q=a%20b#top": "/library?q=a%20b#top",
			"//evil.example/":      "/",
			"https://evil.example": "/",
			"":                     "/",
		} {
			_, got, err := r.signIn(t, next, person("ann-sub", "ann@example.edu", true))
			if err != nil || got != want {
				t.Errorf("next %q: got %q, %v; want %q", next, got, err, want)
			}
		}
		// A cookie carrying a non-local next (say, sealed by a buggy
		// caller) still sends the user home.
		c, auth := r.start(t, "/")
		cb := h.Authorize(t, auth, redirectURI, person("ann-sub", "ann@example.edu", true))
		st, _ := r.p.open(c.Value)
		st.Next = "https://evil.example/x"
		_, got, err := r.p.Callback(ctx, callbackRequest(cb, &http.Cookie{Name: StateCookieName, Value: r.p.seal(st)}))
		if err != nil || got != "/" {
			t.Errorf("forged next: %q %v", got, err)
		}
	})

	t.Run("public client with PKCE only", func(t *testing.T) {
		rp := newRig(t, h, h.CreateClient(t, redirectURI, true))
		u, _, err := rp.signIn(t, "/", person("pub-sub", "pub@example.edu", true))
		if err != nil || u.Email != "pub@example.edu" {
			t.Errorf("%+v %v", u, err)
		}
	})
}
