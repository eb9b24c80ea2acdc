// Package oidc signs users in with an OpenID Connect provider: the
// authorization code flow with PKCE (S256), state and nonce.
//
// It keeps no server-side state between the redirect to the provider and the
// callback: Start puts state, nonce, the PKCE verifier and the page to return
// to in a short-lived (10 min), HttpOnly, SameSite=Lax cookie authenticated
// with HMAC-SHA256, and Callback checks it. The MAC key is derived from the
// client secret (HKDF-SHA256), so every replica sharing the secret accepts
// every other replica's cookie. A public client (no secret) gets a random key
// per process instead: then a sign-in started on one replica and finished on
// another, or across a restart, fails with "sign-in state invalid" — run one
// replica, use sticky sessions, or configure a client secret.
//
// The package knows nothing of routing; the API mounts
//
//	GET /auth/oidc/start?next=   → (*Provider).Start
//	GET /auth/oidc/callback      → (*Provider).Callback, ClearStateCookie,
//	                               then a session for the user and a
//	                               redirect to next
//
// Errors are lecture errors with the codes EUNAUTHENTICATED (the sign-in did
// not verify: HTTP 401) and EFORBIDDEN (a verified identity that may not sign
// in: unverified e-mail, domain not allowed, disabled account: HTTP 403);
// catalogue failures keep their own codes.
package oidc

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/config"
	"github.com/transcept/transcept/shared/lecture"
)

// Error codes of sign-in refusals; the API maps them to 401 and 403.
const (
	EUNAUTHENTICATED = "unauthenticated"
	EFORBIDDEN       = "forbidden"
)

// Audit actions.
const (
	ActionSignin       = "signin.oidc"
	ActionSigninFailed = "signin.oidc.failed"
)

// StateTTL is how long a started sign-in may take before its state cookie
// expires.
const StateTTL = 10 * time.Minute

// StateCookieName is the name of the state cookie.
const StateCookieName = "transcept_oidc"

// scopes requested from the provider.
var scopes = []string{gooidc.ScopeOpenID, "email", "profile"}

// httpTimeout bounds each request to the provider (discovery, token, JWKS).
const httpTimeout = 15 * time.Second

// Provider is a configured OpenID Connect provider. It is safe for
// concurrent use once New has returned; set the optional fields before use.
type Provider struct {
	// NewID returns the id of a user created at first sign-in (default:
	// 32 random hex digits).
	NewID func() string
	// Remote returns the client address recorded in the audit log
	// (default: the host of r.RemoteAddr).
	Remote func(r *http.Request) string
	// Now is the clock (default time.Now).
	Now func() time.Time

	cfg      config.OIDC
	cat      catalogue.Catalogue
	issuer   string
	oauth    oauth2.Config
	verifier *gooidc.IDTokenVerifier
	client   *http.Client
	key      []byte
	allowed  map[string]bool
	secure   bool   // the redirect URL is https: the cookie is Secure
	path     string // the cookie's path: the redirect URL's path
}

// New discovers the provider at cfg.Issuer and returns it. The catalogue
// holds the users it signs in.
func New(ctx context.Context, cfg config.OIDC, cat catalogue.Catalogue) (*Provider, error) {
	switch {
	case cfg.Issuer == "":
		return nil, lecture.Errorf(lecture.EINVALID, "oidc: TRANSCEPT_OIDC_ISSUER is not set")
	case cfg.ClientID == "":
		return nil, lecture.Errorf(lecture.EINVALID, "oidc: TRANSCEPT_OIDC_CLIENT_ID is not set")
	case cfg.RedirectURL == "":
		return nil, lecture.Errorf(lecture.EINVALID, "oidc: TRANSCEPT_OIDC_REDIRECT_URL is not set")
	case cat == nil:
		return nil, lecture.Errorf(lecture.EINVALID, "oidc: no catalogue")
	}
	redirect, err := url.Parse(cfg.RedirectURL)
	if err != nil || (redirect.Scheme != "https" && redirect.Scheme != "http") || redirect.Host == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "oidc: TRANSCEPT_OIDC_REDIRECT_URL=%q: want an absolute http(s) URL", cfg.RedirectURL)
	}
	client := &http.Client{Timeout: httpTimeout}
	cctx := gooidc.ClientContext(ctx, client)
	op, err := gooidc.NewProvider(cctx, cfg.Issuer)
	var mismatch *gooidc.IssuerMismatchError
	if errors.As(err, &mismatch) && mismatch.Discovered == strings.TrimRight(cfg.Issuer, "/")+"/" {
		// The configuration trims a trailing slash that some providers
		// keep in their issuer; the token's iss must match it exactly.
		op, err = gooidc.NewProvider(cctx, mismatch.Discovered)
	}
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err,
			"oidc: discovery of TRANSCEPT_OIDC_ISSUER=%q failed (is the issuer URL right and the provider reachable?)", cfg.Issuer)
	}
	var meta struct {
		Issuer        string `json:"issuer"`
		AuthzEndpoint string `json:"authorization_endpoint"`
		TokenEndpoint string `json:"token_endpoint"`
		JWKSEndpoint  string `json:"jwks_uri"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "oidc: discovery document of TRANSCEPT_OIDC_ISSUER=%q", cfg.Issuer)
	}
	if meta.AuthzEndpoint == "" || meta.TokenEndpoint == "" || meta.JWKSEndpoint == "" {
		return nil, lecture.Errorf(lecture.EUNAVAILABLE,
			"oidc: discovery document of TRANSCEPT_OIDC_ISSUER=%q lacks authorization_endpoint, token_endpoint or jwks_uri", cfg.Issuer)
	}
	p := &Provider{
		cfg:    cfg,
		cat:    cat,
		issuer: meta.Issuer,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			RedirectURL:  cfg.RedirectURL,
			Endpoint:     op.Endpoint(),
			Scopes:       scopes,
		},
		verifier: op.Verifier(&gooidc.Config{ClientID: cfg.ClientID}),
		client:   client,
		allowed:  map[string]bool{},
		secure:   redirect.Scheme == "https",
		path:     redirect.EscapedPath(),
	}
	if p.path == "" {
		p.path = "/"
	}
	if cfg.ClientSecret != "" {
		p.key, err = hkdf.Key(sha256.New, []byte(cfg.ClientSecret), []byte(cfg.Issuer+"\x00"+cfg.ClientID), "transcept oidc state cookie v1", 32)
		if err != nil {
			return nil, lecture.Wrap(lecture.EINTERNAL, err, "oidc: deriving the state cookie key")
		}
	} else {
		p.key = make([]byte, 32)
		_, _ = rand.Read(p.key) // crypto/rand.Read never fails
	}
	for _, d := range cfg.AllowedDomains {
		d = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "@")
		if d != "" {
			p.allowed[d] = true
		}
	}
	return p, nil
}

// Issuer returns the provider's issuer as it appears in ID tokens.
func (p *Provider) Issuer() string { return p.issuer }

// state is what the state cookie carries between Start and Callback.
type state struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"r"`
	Expires  int64  `json:"e"` // Unix seconds
}

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Start redirects the browser to the provider's authorization endpoint and
// sets the state cookie. next is the local path to return to after sign-in
// (the caller has already checked it; a non-local one is replaced by "/").
func (p *Provider) Start(w http.ResponseWriter, r *http.Request, next string) {
	if !IsLocalPath(next) {
		next = "/"
	}
	st := state{
		State:    rand.Text(),
		Nonce:    rand.Text(),
		Verifier: oauth2.GenerateVerifier(),
		Next:     next,
		Expires:  p.now().Add(StateTTL).Unix(),
	}
	http.SetCookie(w, &http.Cookie{
		Name:     StateCookieName,
		Value:    p.seal(st),
		Path:     p.path,
		MaxAge:   int(StateTTL / time.Second),
		Secure:   p.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.oauth.AuthCodeURL(st.State, gooidc.Nonce(st.Nonce), oauth2.S256ChallengeOption(st.Verifier)), http.StatusFound)
}

// ClearStateCookie removes the state cookie; call it on every callback,
// whether Callback succeeded or not.
func (p *Provider) ClearStateCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     StateCookieName,
		Value:    "",
		Path:     p.path,
		MaxAge:   -1,
		Secure:   p.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// seal encodes st as base64url(JSON) "." base64url(HMAC-SHA256).
func (p *Provider) seal(st state) string {
	b, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(p.mac(payload))
}

func (p *Provider) mac(payload string) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte("oidc-state\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// open checks and decodes a sealed state.
func (p *Provider) open(v string) (state, error) {
	var st state
	payload, sig, ok := strings.Cut(v, ".")
	if !ok {
		return st, errors.New("malformed")
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, p.mac(payload)) {
		return st, errors.New("bad signature")
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return st, errors.New("malformed")
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, errors.New("malformed")
	}
	if p.now().Unix() >= st.Expires {
		return st, errors.New("expired")
	}
	if st.State == "" || st.Nonce == "" || st.Verifier == "" {
		return st, errors.New("incomplete")
	}
	return st, nil
}

// Callback finishes a sign-in: it checks the state cookie against the
// request's state, exchanges the code (with the PKCE verifier), verifies the
// ID token (signature, issuer, audience, expiry, nonce), requires a verified
// e-mail in an allowed domain, and returns the user — found by subject, else
// by e-mail (and linked to the subject), else created as a member — and the
// local path to go to next ("/" unless a local path was kept). The caller
// clears the state cookie (ClearStateCookie) and creates the session.
func (p *Provider) Callback(ctx context.Context, r *http.Request) (user catalogue.User, next string, err error) {
	remote := p.remote(r)
	var email, subject string
	defer func() {
		if err == nil {
			return
		}
		detail := clip(err.Error(), 500)
		target := email
		if target == "" {
			target = subject
		}
		_ = p.cat.Audit(context.WithoutCancel(ctx), catalogue.AuditEntry{
			At: p.now().UTC(), Actor: user.ID, Action: ActionSigninFailed, Target: target, Remote: remote, Detail: detail,
		})
		user = catalogue.User{}
		next = ""
	}()

	q := r.URL.Query()
	c, cerr := r.Cookie(StateCookieName)
	if cerr != nil || c.Value == "" {
		return user, "", refuse(EUNAUTHENTICATED, nil, "sign-in state missing or expired; start again")
	}
	st, serr := p.open(c.Value)
	if serr != nil {
		return user, "", refuse(EUNAUTHENTICATED, serr, "sign-in state invalid; start again")
	}
	if got := q.Get("state"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(st.State)) != 1 {
		return user, "", refuse(EUNAUTHENTICATED, nil, "sign-in state does not match; start again")
	}
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		return user, "", refuse(EUNAUTHENTICATED, errors.New(clip(msg, 200)), "the identity provider refused the sign-in")
	}
	code := q.Get("code")
	if code == "" {
		return user, "", refuse(EUNAUTHENTICATED, nil, "no authorization code in the callback")
	}

	hctx := context.WithValue(ctx, oauth2.HTTPClient, p.client)
	tok, xerr := p.oauth.Exchange(hctx, code, oauth2.VerifierOption(st.Verifier))
	if xerr != nil {
		return user, "", refuse(EUNAUTHENTICATED, xerr, "the authorization code was not accepted")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return user, "", refuse(EUNAUTHENTICATED, nil, "the provider returned no ID token")
	}
	idt, verr := p.verifier.Verify(gooidc.ClientContext(ctx, p.client), raw)
	if verr != nil {
		return user, "", refuse(EUNAUTHENTICATED, verr, "the ID token did not verify")
	}
	subject = idt.Issuer + "|" + idt.Subject
	if idt.Subject == "" {
		return user, "", refuse(EUNAUTHENTICATED, nil, "the ID token has no subject")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
		return user, "", refuse(EUNAUTHENTICATED, nil, "the ID token's nonce does not match")
	}
	if idt.AccessTokenHash != "" {
		if aerr := idt.VerifyAccessToken(tok.AccessToken); aerr != nil {
			return user, "", refuse(EUNAUTHENTICATED, aerr, "the ID token's at_hash does not match")
		}
	}
	var claims struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
	}
	if cerr := idt.Claims(&claims); cerr != nil {
		return user, "", refuse(EUNAUTHENTICATED, cerr, "the ID token's claims could not be read")
	}
	email = strings.ToLower(strings.TrimSpace(claims.Email))
	if email == "" {
		return user, "", refuse(EFORBIDDEN, nil, "the identity provider shared no e-mail address (scope email)")
	}
	if !emailVerified(claims.EmailVerified) {
		return user, "", refuse(EFORBIDDEN, nil, "the identity provider has not verified the e-mail address %s", email)
	}
	domain, ok := EmailDomain(email)
	if !ok {
		return user, "", refuse(EFORBIDDEN, nil, "the e-mail address %q is not valid", email)
	}
	if len(p.allowed) > 0 && !p.allowed[domain] {
		return user, "", refuse(EFORBIDDEN, nil, "e-mail addresses of %s may not sign in here", domain)
	}

	user, how, err := p.account(ctx, subject, email)
	if err != nil {
		return user, "", err
	}
	if user.Disabled {
		return user, "", refuse(EFORBIDDEN, nil, "the account %s is disabled", user.Email)
	}
	_ = p.cat.Audit(context.WithoutCancel(ctx), catalogue.AuditEntry{
		At: p.now().UTC(), Actor: user.ID, Action: ActionSignin, Target: subject, Remote: remote, Detail: how,
	})
	next = st.Next
	if !IsLocalPath(next) {
		next = "/"
	}
	return user, next, nil
}

// account finds or creates the user of a verified identity; how says which
// ("", "linked" or "created").
func (p *Provider) account(ctx context.Context, subject, email string) (catalogue.User, string, error) {
	for try := 0; ; try++ {
		u, err := p.cat.UserBySubject(ctx, subject)
		if err == nil {
			return u, "", nil
		} else if lecture.ErrorCode(err) != lecture.ENOTFOUND {
			return catalogue.User{}, "", err
		}
		u, err = p.cat.UserByEmail(ctx, email)
		if err == nil {
			if u.OIDCSubject != "" && u.OIDCSubject != subject {
				return u, "", refuse(EFORBIDDEN, nil, "the account %s is linked to another identity", email)
			}
			if u.Disabled {
				return u, "", refuse(EFORBIDDEN, nil, "the account %s is disabled", email)
			}
			u.OIDCSubject = subject
			if err := p.cat.UpdateUser(ctx, u); err != nil {
				return catalogue.User{}, "", err
			}
			return u, "linked", nil
		} else if lecture.ErrorCode(err) != lecture.ENOTFOUND {
			return catalogue.User{}, "", err
		}
		u = catalogue.User{
			ID:          p.newID(),
			Email:       email,
			Role:        catalogue.RoleMember,
			OIDCSubject: subject,
			CreatedAt:   p.now().UTC(),
		}
		err = p.cat.CreateUser(ctx, u)
		if err == nil {
			return u, "created", nil
		}
		// A concurrent first sign-in of the same person created it: look again.
		if lecture.ErrorCode(err) != lecture.ECONFLICT || try > 0 {
			return catalogue.User{}, "", err
		}
	}
}

func (p *Provider) newID() string {
	if p.NewID != nil {
		return p.NewID()
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (p *Provider) remote(r *http.Request) string {
	if p.Remote != nil {
		return p.Remote(r)
	}
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func refuse(code string, cause error, format string, args ...any) *lecture.Error {
	return &lecture.Error{Code: code, Message: "oidc: " + fmt.Sprintf(format, args...), Err: cause}
}

// emailVerified accepts email_verified true (or "true", as some providers
// send it); missing, false or anything else is not verified.
func emailVerified(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && s == "true"
}

// EmailDomain returns the lower-cased domain of an e-mail address: the part
// after its only "@", when both parts are non-empty and the address has no
// spaces or control characters.
func EmailDomain(email string) (string, bool) {
	local, domain, ok := strings.Cut(strings.ToLower(email), "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", false
	}
	for _, r := range email {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", false
		}
	}
	return domain, true
}

// IsLocalPath reports whether next is a path on this site that is safe to
// redirect to: it starts with one "/" (not "//" or "/\", which browsers
// read as another host), has no scheme, host or user, no backslash, no "."
// or ".." segment, no space, control or non-ASCII byte, and is at most 2048
// bytes — the paths auth.SafeRedirect keeps unchanged.
func IsLocalPath(next string) bool {
	if next == "" || next[0] != '/' || len(next) > 2048 || strings.HasPrefix(next, "//") {
		return false
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x21 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return false
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
