package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

// tokenProvider is an in-process provider whose token endpoint answers any
// code with the ID token the test chose, to check what the verification
// refuses (expired, wrong issuer or audience, foreign key, alg none).
type tokenProvider struct {
	srv *httptest.Server
	key *rsa.PrivateKey

	mu      sync.Mutex
	idToken string
}

func newTokenProvider(t *testing.T) *tokenProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tp := &tokenProvider{key: key}
	tp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]any{
				"issuer": base, "authorization_endpoint": base + "/auth", "token_endpoint": base + "/token", "jwks_uri": base + "/jwks",
				"id_token_signing_alg_values_supported": []string{"RS256"},
			})
		case "/jwks":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
		case "/token":
			tp.mu.Lock()
			idt := tp.idToken
			tp.mu.Unlock()
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": idt})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(tp.srv.Close)
	return tp
}

func (tp *tokenProvider) sign(t *testing.T, key *rsa.PrivateKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIDTokenVerification(t *testing.T) {
	tp := newTokenProvider(t)
	cat := newFakeCatalogue()
	p, err := New(context.Background(), config.OIDC{Issuer: tp.srv.URL, ClientID: "cid", ClientSecret: "sec", RedirectURL: "http://127.0.0.1:9/cb"}, cat)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)

	// run starts a sign-in and calls back with a code; the token endpoint
	// answers with idToken built from the nonce Start chose.
	run := func(idToken func(nonce string) string) error {
		rec := httptest.NewRecorder()
		p.Start(rec, httptest.NewRequest("GET", "/", nil), "/")
		c := rec.Result().Cookies()[0]
		loc, _ := url.Parse(rec.Header().Get("Location"))
		tp.mu.Lock()
		tp.idToken = idToken(loc.Query().Get("nonce"))
		tp.mu.Unlock()
		req := httptest.NewRequest("GET", "/cb?code=abc&state="+url.QueryEscape(loc.Query().Get("state")), nil)
		req.AddCookie(c)
		_, _, err := p.Callback(context.Background(), req)
		return err
	}
	claims := func(nonce string, edit func(map[string]any)) map[string]any {
		now := time.Now()
		m := map[string]any{
			"iss": tp.srv.URL, "sub": "s1", "aud": "cid", "nonce": nonce,
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
			"email": "ann@example.edu", "email_verified": true,
		}
		if edit != nil {
			edit(m)
		}
		return m
	}

	if err := run(func(n string) string { return tp.sign(t, tp.key, claims(n, nil)) }); err != nil {
		t.Fatalf("a good token is refused: %v", err)
	}
	for name, tok := range map[string]func(string) string{
		"expired": func(n string) string {
			return tp.sign(t, tp.key, claims(n, func(m map[string]any) { m["exp"] = time.Now().Add(-time.Hour).Unix() }))
		},
		"wrong issuer": func(n string) string {
			return tp.sign(t, tp.key, claims(n, func(m map[string]any) { m["iss"] = "https://evil.example" }))
		},
		"wrong audience": func(n string) string {
			return tp.sign(t, tp.key, claims(n, func(m map[string]any) { m["aud"] = "another-client" }))
		},
		"no nonce": func(n string) string {
			return tp.sign(t, tp.key, claims(n, func(m map[string]any) { delete(m, "nonce") }))
		},
		"foreign key": func(n string) string { return tp.sign(t, otherKey, claims(n, nil)) },
		"alg none": func(n string) string {
			b, _ := json.Marshal(claims(n, nil))
			return b64(`{"alg":"none"}`) + "." + b64(string(b)) + "."
		},
		"not a JWT": func(string) string { return "garbage" },
		"no token":  func(string) string { return "" },
	} {
		err := run(tok)
		if lecture.ErrorCode(err) != EUNAUTHENTICATED {
			t.Errorf("%s: %v (code %s), want %s", name, err, lecture.ErrorCode(err), EUNAUTHENTICATED)
		} else {
			t.Logf("%s: refused: %v", name, err)
		}
	}
	if n, _ := cat.CountUsers(context.Background()); n != 1 {
		t.Errorf("%d users, want the one good sign-in", n)
	}
	if !strings.HasPrefix(cat.lastAudit().Action, ActionSigninFailed) {
		t.Errorf("last audit %+v", cat.lastAudit())
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
