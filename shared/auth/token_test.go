package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

var t0 = time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)

func TestNewAPIKey(t *testing.T) {
	secret, k := NewAPIKey("u1", "laptop", time.Time{}, t0)
	if len(secret) != KeyLen || !strings.HasPrefix(secret, "tk_") {
		t.Fatalf("secret %q", secret)
	}
	if k.Hash != HashToken(secret) || len(k.Hash) != 64 || k.Prefix != secret[:11] || k.UserID != "u1" || k.Name != "laptop" ||
		k.ID == "" || strings.Contains(secret, k.ID) || !k.CreatedAt.Equal(t0) || !k.ExpiresAt.IsZero() {
		t.Fatalf("key %+v", k)
	}
	if got, err := ParseAPIKey(secret); err != nil || got != secret {
		t.Fatalf("ParseAPIKey(new key) = %q, %v", got, err)
	}
	if tok, err := ParseBearer("Bearer " + secret); err != nil || tok != secret {
		t.Fatalf("ParseBearer = %q, %v", tok, err)
	}
	s2, k2 := NewAPIKey("u1", "laptop", t0.Add(time.Hour), t0)
	if s2 == secret || k2.ID == k.ID || !k2.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatal("two keys alike")
	}
}

func TestNewSessionAndShare(t *testing.T) {
	tok, s := NewSession("u1", "10.0.0.1", time.Hour, t0)
	if len(tok) != SessionTokenLen || s.ID != HashToken(tok) || len(s.CSRF) != CSRFTokenLen || s.CSRF == tok ||
		!s.ExpiresAt.Equal(t0.Add(time.Hour)) || s.UserID != "u1" || s.Remote != "10.0.0.1" {
		t.Fatalf("session %q %+v", tok, s)
	}
	if got, err := ParseSessionCookie(tok); err != nil || got != tok {
		t.Fatalf("ParseSessionCookie = %q, %v", got, err)
	}
	st, sh := NewShare("lec-1", "u1", time.Time{}, t0)
	if len(st) != ShareTokenLen || sh.Hash != HashToken(st) || sh.LectureID != "lec-1" || sh.CreatedBy != "u1" || sh.ID == "" {
		t.Fatalf("share %q %+v", st, sh)
	}
	if got, err := ParseShareToken(st); err != nil || got != st {
		t.Fatalf("ParseShareToken = %q, %v", got, err)
	}
}

func TestParseBearer(t *testing.T) {
	key, _ := NewAPIKey("u", "n", time.Time{}, t0)
	for _, h := range []string{"Bearer " + key, "bearer " + key, "BEARER " + key, "Bearer  " + key, "Bearer abc.def~+/==", "Bearer x"} {
		if _, err := ParseBearer(h); err != nil {
			t.Errorf("ParseBearer(%q): %v", h, err)
		}
	}
	for _, h := range []string{
		"", "Bearer", "Bearer ", "Bearer  ", "Basic dXNlcjpwYXNz", "Token " + key, "Bearer\t" + key, " Bearer " + key,
		"Bearer " + key + " ", "Bearer " + key + " x", "Bearer " + key + ",", "Bearer =abc", "Bearer a=b",
		"Bearer " + strings.Repeat("a", 2000), "Bearerx " + key, "Bearer\x00" + key, "Bearer " + key + "\n",
		"Bearer " + strings.Repeat(" ", 20) + key, "Bearér " + key, "Bearer tk_é",
	} {
		if tok, err := ParseBearer(h); err == nil || lecture.ErrorCode(err) != EUNAUTHENTICATED {
			t.Errorf("ParseBearer(%q) = %q, %v; want EUNAUTHENTICATED", h, tok, err)
		}
	}
}

func TestParseTokensHostile(t *testing.T) {
	key, _ := NewAPIKey("u", "n", time.Time{}, t0)
	sess, _ := NewSession("u", "", time.Hour, t0)
	share, _ := NewShare("l", "u", time.Time{}, t0)
	cases := map[string]func(string) (string, error){}
	cases["key"] = ParseAPIKey
	cases["session"] = ParseSessionCookie
	cases["share"] = ParseShareToken
	good := map[string]string{"key": key, "session": sess, "share": share}
	for name, parse := range cases {
		g := good[name]
		bad := []string{
			"", g[:len(g)-1], g + "A", g[1:], strings.ToUpper(g[:3]) + g[3:] + "=", g[:len(g)-1] + "=",
			g[:len(g)-1] + "+", g[:len(g)-1] + "/", g[:len(g)-1] + "\x00", " " + g[1:], g[:5] + "." + g[6:],
			strings.Repeat("A", 10000), "tk_" + strings.Repeat("A", 43) + "A",
		}
		for _, other := range good {
			if other != g {
				bad = append(bad, other)
			}
		}
		for _, s := range bad {
			if got, err := parse(s); err == nil || lecture.ErrorCode(err) != EUNAUTHENTICATED {
				t.Errorf("%s: parse(%q) = %q, %v; want EUNAUTHENTICATED", name, s, got, err)
			}
		}
	}
	// Non-canonical last characters: 43 chars carry 258 bits for 256.
	if _, err := ParseSessionCookie(strings.Repeat("A", 42) + "B"); err == nil {
		t.Error("non-canonical session token accepted")
	}
	if _, err := ParseShareToken(strings.Repeat("A", 21) + "B"); err == nil {
		t.Error("non-canonical share token accepted")
	}
}
