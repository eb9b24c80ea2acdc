package auth

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

func (f *fixture) setPassword(t *testing.T, u *catalogue.User, pw string) {
	t.Helper()
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash = h
	if err := f.cat.UpdateUser(ctx, *u); err != nil {
		t.Fatal(err)
	}
}

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	f.setPassword(t, &f.alice, "alice's password")
	tok, s, err := f.a.SignIn(ctx, "  Alice@Example.org ", "alice's password", "10.0.0.1:5555")
	if err != nil || s.UserID != f.alice.ID || s.ID != HashToken(tok) || !s.ExpiresAt.Equal(t0.Add(DefaultSessionTTL)) {
		t.Fatalf("SignIn = %q, %+v, %v", tok, s, err)
	}
	p, err := f.a.Authenticate(request("GET", "/", "Cookie", CookieName+"="+tok))
	if err != nil || p.UserID() != f.alice.ID {
		t.Fatalf("the new session does not authenticate: %v", err)
	}
	// Wrong password and unknown user: one message.
	_, _, err1 := f.a.SignIn(ctx, "alice@example.org", "wrong password", "10.0.0.2")
	_, _, err2 := f.a.SignIn(ctx, "nobody@example.org", "wrong password", "10.0.0.2")
	wantCode(t, err1, EUNAUTHENTICATED, "wrong e-mail or password")
	if err1.Error() != err2.Error() || lecture.ErrorCode(err2) != EUNAUTHENTICATED {
		t.Fatalf("unknown user %q vs wrong password %q", err2, err1)
	}
	// OIDC-only user (no hash), over-long input.
	_, _, err = f.a.SignIn(ctx, "bob@example.org", "", "10.0.0.3")
	wantCode(t, err, EUNAUTHENTICATED, "wrong e-mail or password")
	_, _, err = f.a.SignIn(ctx, "alice@example.org", strings.Repeat("x", 5000), "10.0.0.3")
	wantCode(t, err, EUNAUTHENTICATED, "wrong e-mail or password")

	var actions []string
	for _, e := range f.cat.audit {
		actions = append(actions, e.Action)
		if strings.Contains(e.Detail, "password'") || strings.Contains(e.Detail, "wrong password ") || strings.Contains(e.Target+e.Detail, "alice's") {
			t.Errorf("audit entry holds the password: %+v", e)
		}
	}
	if strings.Join(actions, ",") != "signin,signin.failed,signin.failed,signin.failed,signin.failed" {
		t.Fatalf("audit %v", actions)
	}
}

func TestSignInDisabled(t *testing.T) {
	f := newFixture(t)
	f.setPassword(t, &f.alice, "alice's password")
	f.alice.Disabled = true
	f.cat.UpdateUser(ctx, f.alice)
	_, _, err := f.a.SignIn(ctx, "alice@example.org", "alice's password", "10.0.0.1")
	wantCode(t, err, EFORBIDDEN, "disabled")
	_, _, err = f.a.SignIn(ctx, "alice@example.org", "wrong password", "10.0.0.1")
	wantCode(t, err, EUNAUTHENTICATED, "wrong e-mail or password")

	g := newFixture(t)
	g.setPassword(t, &g.alice, "alice's password")
	g.a.PasswordDisabled = true
	_, _, err = g.a.SignIn(ctx, "alice@example.org", "alice's password", "10.0.0.1")
	wantCode(t, err, EFORBIDDEN, "password sign-in is off")
	if len(g.cat.sessions) != 0 {
		t.Fatal("a session was made")
	}
}

func TestSignInLimiter(t *testing.T) {
	f := newFixture(t)
	f.setPassword(t, &f.alice, "alice's password")
	// 10 failures for one address, from many remotes.
	for i := range 10 {
		_, _, err := f.a.SignIn(ctx, "alice@example.org", "guess", "10.0.1."+string(rune('0'+i)))
		wantCode(t, err, EUNAUTHENTICATED, "wrong")
		f.clk.add(time.Minute)
	}
	_, _, err := f.a.SignIn(ctx, "ALICE@example.org", "alice's password", "10.9.9.9")
	wantCode(t, err, catalogue.EQUOTA, "failed sign-ins")
	if d, ok := RetryAfter(err); !ok || d != 5*time.Minute {
		t.Fatalf("RetryAfter = %v, %v; want 5m (the first failure leaves the window)", d, ok)
	}
	// Bob, from elsewhere, is not affected.
	f.setPassword(t, &f.bob, "bob's password")
	if _, _, err := f.a.SignIn(ctx, "bob@example.org", "bob's password", "10.9.9.9"); err != nil {
		t.Fatal(err)
	}
	f.clk.add(5 * time.Minute)
	if _, _, err := f.a.SignIn(ctx, "alice@example.org", "alice's password", "10.9.9.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}

	// 10 failures from one remote, on many addresses (IPv6: one /64).
	g := newFixture(t)
	g.setPassword(t, &g.alice, "alice's password")
	for i := range 10 {
		_, _, err := g.a.SignIn(ctx, "user"+string(rune('a'+i))+"@example.org", "guess", "[2001:db8::"+string(rune('1'+i%9))+"]:443")
		wantCode(t, err, EUNAUTHENTICATED, "wrong")
	}
	_, _, err = g.a.SignIn(ctx, "alice@example.org", "alice's password", "2001:db8::ffff")
	wantCode(t, err, catalogue.EQUOTA, "")
	if _, _, err := g.a.SignIn(ctx, "alice@example.org", "alice's password", "2001:db9::1"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
}

// TestSignInLimiterConcurrent: concurrent guesses cannot pass the limit together.
func TestSignInLimiterConcurrent(t *testing.T) {
	f := newFixture(t)
	f.setPassword(t, &f.alice, "alice's password")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := f.a.SignIn(ctx, "alice@example.org", "guess", "10.0.0.1")
			mu.Lock()
			codes[lecture.ErrorCode(err)]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[EUNAUTHENTICATED] != 10 || codes[catalogue.EQUOTA] != 20 {
		t.Fatalf("codes %v, want 10 guesses checked and 20 refused", codes)
	}
}

func TestRemoteKey(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:80": "10.0.0.1", "10.0.0.1": "10.0.0.1", "[::ffff:10.0.0.1]:80": "10.0.0.1",
		"[2001:db8::1]:443": "2001:db8::/64", "2001:db8::2": "2001:db8::/64", "": "", "junk": "junk",
	} {
		if got := remoteKey(in); got != want {
			t.Errorf("remoteKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOpenSession(t *testing.T) {
	f := newFixture(t)
	tok, s, err := f.a.OpenSession(ctx, f.bob, "10.0.0.1", "oidc")
	if err != nil || s.UserID != f.bob.ID || s.ID != HashToken(tok) {
		t.Fatalf("OpenSession = %+v, %v", s, err)
	}
	if e := f.cat.audit[len(f.cat.audit)-1]; e.Action != "signin" || e.Actor != f.bob.ID || e.Detail != "oidc" {
		t.Fatalf("audit %+v", e)
	}
	f.bob.Disabled = true
	_, _, err = f.a.OpenSession(ctx, f.bob, "", "oidc")
	wantCode(t, err, EFORBIDDEN, "disabled")
	_, _, err = f.a.OpenSession(ctx, catalogue.User{}, "", "oidc")
	wantCode(t, err, lecture.EINVALID, "")
}
