package svctest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestHydra(t *testing.T) {
	h := StartHydra(t)
	if !strings.HasPrefix(h.Issuer, "http://127.0.0.1:") || h.Public == h.Admin {
		t.Fatalf("issuer %q public %q admin %q", h.Issuer, h.Public, h.Admin)
	}
	resp, err := http.Get(h.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var disc struct {
		Issuer string   `json:"issuer"`
		Auth   string   `json:"authorization_endpoint"`
		PKCE   []string `json:"code_challenge_methods_supported"`
	}
	err = json.NewDecoder(resp.Body).Decode(&disc)
	resp.Body.Close()
	if err != nil || disc.Issuer != h.Issuer || !strings.HasPrefix(disc.Auth, h.Issuer) {
		t.Fatalf("discovery %+v %v", disc, err)
	}

	const redirect = "http://127.0.0.1:9/cb"
	c := h.CreateClient(t, redirect, false)
	if c.ID == "" || c.Secret == "" || c.RedirectURI != redirect {
		t.Fatalf("client %+v", c)
	}
	auth := h.Issuer + "/oauth2/auth?" + url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "scope": {"openid email"},
		"redirect_uri": {redirect}, "state": {"state-123456"}, "nonce": {"nonce-123456"},
	}.Encode()
	cb := h.Authorize(t, auth, redirect, Identity{Subject: "ann", IDToken: map[string]any{"email": "ann@example.edu", "email_verified": true}})
	if q := cb.Query(); q.Get("code") == "" || q.Get("state") != "state-123456" {
		t.Errorf("callback %s", cb)
	}
	cb = h.Authorize(t, auth, redirect, Identity{RejectLogin: "access_denied"})
	if q := cb.Query(); q.Get("error") != "access_denied" || q.Get("code") != "" {
		t.Errorf("rejected login: callback %s", cb)
	}
	h.Stop()
	if _, err := http.Get(h.Issuer + "/health/ready"); err == nil {
		t.Error("hydra still answers after Stop")
	}
	h.Stop()
}

func TestHydraMissing(t *testing.T) {
	t.Setenv(HydraBinEnv, "/nonexistent/hydra")
	if FindHydra() != "" {
		t.Fatal("FindHydra found a missing binary")
	}
}
