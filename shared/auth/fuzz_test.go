package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

func b64URLOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// FuzzParseBearer: an Authorization header never panics the parser; a
// refusal is EUNAUTHENTICATED; an accepted token is the header less
// "Bearer" (any case) and 1-8 spaces, a b64token of at most 1024 bytes,
// and parses back from "Bearer <token>"; an API key is accepted only when
// ParseAPIKey accepts the same token.
func FuzzParseBearer(f *testing.F) {
	key, _ := NewAPIKey("u1", "k", time.Time{}, t0)
	for _, s := range []string{
		"Bearer " + key, "bearer " + key, "Bearer   " + key, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ",
		"Bearer\t" + key, "Bearer " + key + " ", "Bearer a==", "Bearer =", "Bearer a=b", "Bearer tk_\x00",
		"BEARER " + key[:20], "Bearer " + strings.Repeat("a", 1100), "Bearér x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := ParseBearer(h)
		if err != nil {
			if lecture.ErrorCode(err) != EUNAUTHENTICATED || tok != "" {
				t.Fatalf("ParseBearer(%q) = %q, %v", h, tok, err)
			}
			return
		}
		if tok == "" || len(tok) > maxBearerLen || !strings.HasSuffix(h, tok) || !strings.EqualFold(h[:6], "bearer") {
			t.Fatalf("ParseBearer(%q) = %q", h, tok)
		}
		if sp := h[6 : len(h)-len(tok)]; sp == "" || len(sp) > 8 || strings.Trim(sp, " ") != "" {
			t.Fatalf("ParseBearer(%q): separator %q", h, sp)
		}
		body := strings.TrimRight(tok, "=")
		if body == "" || strings.ContainsFunc(body, func(r rune) bool {
			return !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~+/", r))
		}) {
			t.Fatalf("ParseBearer(%q) = %q: not a b64token", h, tok)
		}
		if again, err := ParseBearer("Bearer " + tok); err != nil || again != tok {
			t.Fatalf("ParseBearer(Bearer %q) = %q, %v", tok, again, err)
		}
		if k, err := ParseAPIKey(tok); err == nil && (k != tok || len(k) != KeyLen || !strings.HasPrefix(k, KeyPrefix) || !b64URLOnly(k[3:])) {
			t.Fatalf("ParseAPIKey(%q) = %q", tok, k)
		}
	})
}

// fuzzToken checks a token parser: never panics, refuses with
// EUNAUTHENTICATED, and accepts exactly n canonical base64url characters.
func fuzzToken(t *testing.T, parse func(string) (string, error), s string, n int) {
	got, err := parse(s)
	if err != nil {
		if lecture.ErrorCode(err) != EUNAUTHENTICATED || got != "" {
			t.Fatalf("parse(%q) = %q, %v", s, got, err)
		}
		return
	}
	if got != s || len(s) != n || !b64URLOnly(s) {
		t.Fatalf("parse(%q) = %q, accepted", s, got)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
		t.Fatalf("parse accepted non-canonical %q", s)
	}
}

// FuzzParseSessionCookie: a cookie value is accepted only when it is a
// canonical 43-character base64url token (32 bytes); refusals are
// EUNAUTHENTICATED and nothing panics.
func FuzzParseSessionCookie(f *testing.F) {
	tok, _ := NewSession("u1", "", time.Hour, t0)
	for _, s := range []string{tok, tok[:42], tok + "A", tok[:42] + "=", strings.Repeat("A", 42) + "B", "", "\"" + tok + "\"", "tk_" + tok} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { fuzzToken(t, ParseSessionCookie, s, SessionTokenLen) })
}

// FuzzParseShareToken: a share token is accepted only when it is a
// canonical 22-character base64url token (16 bytes); refusals are
// EUNAUTHENTICATED and nothing panics.
func FuzzParseShareToken(f *testing.F) {
	tok, _ := NewShare("lec-1", "u1", time.Time{}, t0)
	for _, s := range []string{tok, tok[:21], tok + "A", tok[:21] + "=", strings.Repeat("A", 21) + "B", "", "../" + tok, "%2F" + tok} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { fuzzToken(t, ParseShareToken, s, ShareTokenLen) })
}
