package svctest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hydra binary lookup and install hints. `go install` of Hydra fails (its
// go.mod replaces a module with a directory that the module zip lacks), so
// .ci/tools.sh builds it from the downloaded module source instead.
const (
	HydraBinEnv  = "TRANSCEPT_HYDRA_BIN"
	HydraVersion = "v2.3.0"
	HydraHint    = "run .ci/tools.sh (it builds github.com/ory/hydra/v2@" + HydraVersion +
		" from the Go module proxy into $TRANSCEPT_TOOLS_DIR, default ~/.cache/transcept-bin; about 3 minutes, once) " +
		"(or set " + HydraBinEnv + " to the binary)"
)

// HydraServer is an Ory Hydra v2 OpenID Connect provider on 127.0.0.1 for
// one test ("hydra serve all --dev", in-memory database). It comes with its
// own login and consent app, which accepts every login as the Identity
// given to Authorize.
type HydraServer struct {
	Bin    string // the hydra binary
	Issuer string // http://127.0.0.1:PORT (the public listener)
	Public string // host:port of the public API (authorize, token, JWKS, discovery)
	Admin  string // host:port of the admin API
	App    string // URL of the built-in login and consent app

	t    testing.TB
	proc *proc
	app  *httptest.Server
	http *http.Client

	flow     sync.Mutex // one Authorize at a time
	mu       sync.Mutex
	identity Identity
	appErr   error
}

// Identity is who the login app signs in and what the consent app puts in
// the ID token.
type Identity struct {
	Subject string
	// IDToken holds extra ID-token claims, such as "email" and
	// "email_verified"; leave a claim out to test its absence.
	IDToken map[string]any
	// RejectLogin, when set, makes the login app reject the login with
	// this error ("access_denied"); the callback then carries it.
	RejectLogin string
}

// FindHydra returns the hydra binary: $TRANSCEPT_HYDRA_BIN, then hydra on
// PATH, then $TRANSCEPT_TOOLS_DIR/hydra, ~/.cache/transcept-bin/hydra and
// $(go env GOPATH)/bin/hydra. It returns "" when there is none.
func FindHydra() string {
	if p := os.Getenv(HydraBinEnv); p != "" {
		if isExecutable(p) {
			return p
		}
		return ""
	}
	if p, err := exec.LookPath("hydra"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("TRANSCEPT_TOOLS_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "transcept-bin"))
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		for _, d := range filepath.SplitList(gp) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	} else if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "hydra"); d != "" && isExecutable(p) {
			return p
		}
	}
	return ""
}

// StartHydra starts Hydra for t with an in-memory database, waits until
// /health/ready answers on both listeners (60 s at most) and registers its
// cleanup. A missing binary skips t (fails it with
// TRANSCEPT_REQUIRE_SERVICES=1).
func StartHydra(t testing.TB) *HydraServer {
	t.Helper()
	bin := FindHydra()
	if bin == "" {
		where := "hydra binary"
		if p := os.Getenv(HydraBinEnv); p != "" {
			where = fmt.Sprintf("hydra binary %s (from %s)", p, HydraBinEnv)
		}
		missing(t, where, HydraHint)
	}
	h := &HydraServer{Bin: bin, t: t, http: &http.Client{Timeout: 10 * time.Second}}
	h.app = httptest.NewServer(http.HandlerFunc(h.serveApp))
	t.Cleanup(h.app.Close)
	h.App = h.app.URL
	var err error
	for try := 0; try < 3; try++ {
		h.Public, h.Admin = FreeAddr(t), FreeAddr(t) // two different ports
		h.Issuer = "http://" + h.Public
		if err = h.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("svctest: hydra: %v", err)
	}
	t.Cleanup(h.Stop)
	return h
}

func (h *HydraServer) start() error {
	_, pub, _ := strings.Cut(h.Public, ":")
	_, adm, _ := strings.Cut(h.Admin, ":")
	p, err := startProc(h.Bin, []string{"serve", "all", "--dev", "--sqa-opt-out"}, []string{
		"DSN=memory",
		"SECRETS_SYSTEM=transcept-test-hydra-system-secret",
		"URLS_SELF_ISSUER=" + h.Issuer,
		"URLS_SELF_PUBLIC=" + h.Issuer,
		"URLS_LOGIN=" + h.App + "/login",
		"URLS_CONSENT=" + h.App + "/consent",
		"URLS_ERROR=" + h.App + "/error",
		"SERVE_PUBLIC_HOST=127.0.0.1",
		"SERVE_PUBLIC_PORT=" + pub,
		"SERVE_ADMIN_HOST=127.0.0.1",
		"SERVE_ADMIN_PORT=" + adm,
		"SQA_OPT_OUT=true",
		"LOG_LEVEL=warn",
		"LOG_LEAK_SENSITIVE_VALUES=true",
		"TTL_LOGIN_CONSENT_REQUEST=5m",
	})
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: time.Second}
	err = p.waitReady(60*time.Second, func() error {
		for _, u := range []string{"http://" + h.Admin + "/health/ready", h.Issuer + "/health/ready", h.Issuer + "/.well-known/openid-configuration"} {
			resp, err := client.Get(u)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: %s", u, resp.Status)
			}
		}
		return nil
	})
	if err != nil {
		p.kill(time.Second)
		return err
	}
	h.mu.Lock()
	h.proc = p
	h.mu.Unlock()
	return nil
}

// Output returns the end of Hydra's log, for diagnosing a test.
func (h *HydraServer) Output() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.proc == nil {
		return ""
	}
	return h.proc.tail()
}

// Stop kills Hydra; stopping it twice does nothing. Clients and keys are
// lost (the database is in memory).
func (h *HydraServer) Stop() {
	h.mu.Lock()
	p := h.proc
	h.proc = nil
	h.mu.Unlock()
	if p != nil {
		p.kill(5 * time.Second)
	}
}

// Client is an OAuth 2.0 client registered with Hydra.
type Client struct {
	ID, Secret  string // Secret is "" for a public client
	RedirectURI string
}

// CreateClient registers an OAuth 2.0 client for the authorization code
// flow with the redirect URI and scopes openid, email, profile and offline.
// A confidential client (public false) authenticates with
// client_secret_basic; a public one with none (and must use PKCE).
func (h *HydraServer) CreateClient(t testing.TB, redirectURI string, public bool) Client {
	t.Helper()
	body := map[string]any{
		"client_name":                "transcept-test",
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"scope":                      "openid email profile offline offline_access",
		"redirect_uris":              []string{redirectURI},
		"token_endpoint_auth_method": "client_secret_basic",
	}
	if public {
		body["token_endpoint_auth_method"] = "none"
	}
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := h.admin(http.MethodPost, "/admin/clients", nil, body, &out); err != nil {
		t.Fatalf("svctest: hydra: creating a client: %v", err)
	}
	if out.ClientID == "" || (!public && out.ClientSecret == "") {
		t.Fatalf("svctest: hydra: created client has no id or secret: %+v", out)
	}
	if public {
		out.ClientSecret = ""
	}
	return Client{ID: out.ClientID, Secret: out.ClientSecret, RedirectURI: redirectURI}
}

// Authorize plays the browser: it follows authURL (the provider's
// authorization URL, as a relying party's start redirect names it) through
// Hydra and the login and consent app, which sign in id, until Hydra
// redirects to redirectURI, and returns that URL (with code and state, or
// error). A fresh cookie jar is used, so no earlier login is remembered.
func (h *HydraServer) Authorize(t testing.TB, authURL, redirectURI string, id Identity) *url.URL {
	t.Helper()
	h.flow.Lock()
	defer h.flow.Unlock()
	h.mu.Lock()
	h.identity, h.appErr = id, nil
	h.mu.Unlock()

	jar, _ := cookiejar.New(nil)
	var callback *url.URL
	browser := &http.Client{
		Jar:     jar,
		Timeout: 20 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), redirectURI) {
				callback = req.URL
				return http.ErrUseLastResponse
			}
			if len(via) > 20 {
				return fmt.Errorf("more than 20 redirects")
			}
			return nil
		},
	}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatalf("svctest: hydra: authorization flow: %v\n%s", err, h.Output())
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	h.mu.Lock()
	appErr := h.appErr
	h.mu.Unlock()
	if appErr != nil {
		t.Fatalf("svctest: hydra: login/consent app: %v", appErr)
	}
	if callback == nil {
		t.Fatalf("svctest: hydra: the flow ended at %s (%s) without reaching %s: %s", resp.Request.URL, resp.Status, redirectURI, body)
	}
	return callback
}

// serveApp is the login and consent app Hydra sends the browser to.
func (h *HydraServer) serveApp(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	id := h.identity
	h.mu.Unlock()
	fail := func(err error) {
		h.mu.Lock()
		h.appErr = err
		h.mu.Unlock()
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	var redirect struct {
		RedirectTo string `json:"redirect_to"`
	}
	switch r.URL.Path {
	case "/login":
		ch := url.Values{"login_challenge": {r.URL.Query().Get("login_challenge")}}
		var err error
		if id.RejectLogin != "" {
			err = h.admin(http.MethodPut, "/admin/oauth2/auth/requests/login/reject", ch,
				map[string]any{"error": id.RejectLogin, "error_description": "rejected by the test"}, &redirect)
		} else {
			err = h.admin(http.MethodPut, "/admin/oauth2/auth/requests/login/accept", ch,
				map[string]any{"subject": id.Subject, "remember": false}, &redirect)
		}
		if err != nil {
			fail(fmt.Errorf("login: %w", err))
			return
		}
	case "/consent":
		ch := url.Values{"consent_challenge": {r.URL.Query().Get("consent_challenge")}}
		var req struct {
			RequestedScope    []string `json:"requested_scope"`
			RequestedAudience []string `json:"requested_access_token_audience"`
		}
		if err := h.admin(http.MethodGet, "/admin/oauth2/auth/requests/consent", ch, nil, &req); err != nil {
			fail(fmt.Errorf("consent: %w", err))
			return
		}
		claims := id.IDToken
		if claims == nil {
			claims = map[string]any{}
		}
		if err := h.admin(http.MethodPut, "/admin/oauth2/auth/requests/consent/accept", ch, map[string]any{
			"grant_scope":                 req.RequestedScope,
			"grant_access_token_audience": req.RequestedAudience,
			"remember":                    false,
			"session":                     map[string]any{"id_token": claims},
		}, &redirect); err != nil {
			fail(fmt.Errorf("consent: %w", err))
			return
		}
	case "/error":
		fail(fmt.Errorf("hydra error page: %s: %s", r.URL.Query().Get("error"), r.URL.Query().Get("error_description")))
		return
	default:
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, redirect.RedirectTo, http.StatusFound)
}

// admin calls Hydra's admin API and decodes its JSON answer into out.
func (h *HydraServer) admin(method, path string, query url.Values, in, out any) error {
	u := "http://" + h.Admin + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}
