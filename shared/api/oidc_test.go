package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/transcept/transcept/functions/wire"
	"github.com/transcept/transcept/shared/auth"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/tests/testkit/svctest"
)

// TestOIDCSignInThroughTheAPI: the browser's round trip through a real
// provider (Ory Hydra) via /auth/oidc/start and /auth/oidc/callback ends
// with a session cookie for a member created from the verified e-mail;
// an unverified e-mail or another domain gets no session.
func TestOIDCSignInThroughTheAPI(t *testing.T) {
	hy := svctest.StartHydra(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	redirect := base + "/auth/oidc/callback"
	client := hy.CreateClient(t, redirect, false)
	c, err := config.FromMap(map[string]string{"TRANSCEPT_STORE_DIR": t.TempDir(), "TRANSCEPT_AUTH": "on",
		"TRANSCEPT_OIDC_ISSUER": hy.Issuer, "TRANSCEPT_OIDC_CLIENT_ID": client.ID, "TRANSCEPT_OIDC_CLIENT_SECRET": client.Secret,
		"TRANSCEPT_OIDC_REDIRECT_URL": redirect, "TRANSCEPT_OIDC_ALLOWED_DOMAINS": "example.edu"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := wire.New(context.Background(), c, log)
	if err != nil {
		t.Fatal(err)
	}
	bus := s.StartBus()
	h, err := s.API(context.Background(), bus.Publish)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { srv.Close(); s.Close() })
	noFollow := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	signIn := func(id svctest.Identity) (*http.Response, *http.Cookie) {
		t.Helper()
		resp, err := noFollow.Get(base + "/auth/oidc/start?next=" + url.QueryEscape("/lectures"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start: %d", resp.StatusCode)
		}
		cb := hy.Authorize(t, resp.Header.Get("Location"), redirect, id)
		req, _ := http.NewRequest("GET", cb.String(), nil)
		for _, ck := range resp.Cookies() {
			req.AddCookie(ck)
		}
		out, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out.Body.Close()
		for _, ck := range out.Cookies() {
			if ck.Name == auth.CookieName && ck.Value != "" {
				return out, ck
			}
		}
		return out, nil
	}
	resp, cookie := signIn(svctest.Identity{Subject: "alice", IDToken: map[string]any{"email": "Alice@Example.edu", "email_verified": true}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/lectures" || cookie == nil || !cookie.HttpOnly {
		t.Fatalf("callback: %d to %q, session cookie %+v", resp.StatusCode, resp.Header.Get("Location"), cookie)
	}
	req, _ := http.NewRequest("GET", base+"/auth/me", nil)
	req.AddCookie(cookie)
	me, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Via  string
		User struct{ Email, Role string }
	}
	_ = json.NewDecoder(me.Body).Decode(&m)
	me.Body.Close()
	if me.StatusCode != 200 || m.Via != auth.ViaSession || m.User.Email != "alice@example.edu" || m.User.Role != "member" {
		t.Errorf("/auth/me after OIDC sign-in: %d %+v", me.StatusCode, m)
	}
	for name, id := range map[string]svctest.Identity{
		"unverified e-mail": {Subject: "mallory", IDToken: map[string]any{"email": "bob@example.edu", "email_verified": false}},
		"lookalike domain":  {Subject: "eve", IDToken: map[string]any{"email": "eve@evil-example.edu", "email_verified": true}},
	} {
		resp, cookie := signIn(id)
		if resp.StatusCode != http.StatusForbidden || cookie != nil {
			t.Errorf("%s: %d, session cookie %v; want 403 and none", name, resp.StatusCode, cookie)
		}
	}
	if n, _ := s.Catalogue.CountUsers(context.Background()); n != 1 {
		t.Errorf("%d users after one good and two refused sign-ins, want 1", n)
	}
}
