package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	cat   *fakeCat
	clk   *clock
	a     *Authenticator
	alice catalogue.User
	bob   catalogue.User
	admin catalogue.User
}

var ctx = context.Background()

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{cat: newFakeCat(), clk: &clock{t: t0}}
	f.a = &Authenticator{Cat: f.cat, Now: f.clk.now}
	f.alice = catalogue.User{ID: "u-alice", Email: "alice@example.org", Role: catalogue.RoleMember, CreatedAt: t0}
	f.bob = catalogue.User{ID: "u-bob", Email: "bob@example.org", Role: catalogue.RoleMember, CreatedAt: t0}
	f.admin = catalogue.User{ID: "u-admin", Email: "admin@example.org", Role: catalogue.RoleAdmin, CreatedAt: t0}
	for _, u := range []catalogue.User{f.alice, f.bob, f.admin} {
		if err := f.cat.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(f.a.wg.Wait)
	return f
}

func (f *fixture) key(t *testing.T, userID string, expires time.Time) (string, catalogue.APIKey) {
	t.Helper()
	secret, k := NewAPIKey(userID, "test", expires, f.clk.now())
	if err := f.cat.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	return secret, k
}

func (f *fixture) session(t *testing.T, userID string) (string, catalogue.Session) {
	t.Helper()
	tok, s := NewSession(userID, "10.0.0.1", time.Hour, f.clk.now())
	if err := f.cat.CreateSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	return tok, s
}

func (f *fixture) share(t *testing.T, lectureID, by string, expires time.Time) (string, catalogue.Share) {
	t.Helper()
	tok, s := NewShare(lectureID, by, expires, f.clk.now())
	if err := f.cat.CreateShare(ctx, s); err != nil {
		t.Fatal(err)
	}
	return tok, s
}

func request(method, target string, hdr ...string) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	return r
}

func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	if lecture.ErrorCode(err) != code || !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %v (code %q), want code %q with %q", err, lecture.ErrorCode(err), code, msg)
	}
}

func TestAuthenticateKey(t *testing.T) {
	f := newFixture(t)
	secret, k := f.key(t, f.alice.ID, time.Time{})
	p, err := f.a.Authenticate(request("GET", "/lectures", "Authorization", "Bearer "+secret))
	if err != nil || p.Via != ViaKey || p.UserID() != f.alice.ID || p.KeyID != k.ID || p.Session != nil {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	// Unknown, truncated, wrong scheme, two headers.
	other, _ := NewAPIKey(f.alice.ID, "x", time.Time{}, t0)
	_, err = f.a.Authenticate(request("GET", "/", "Authorization", "Bearer "+other))
	wantCode(t, err, EUNAUTHENTICATED, "unknown API key")
	_, err = f.a.Authenticate(request("GET", "/", "Authorization", "Bearer "+secret[:len(secret)-1]))
	wantCode(t, err, EUNAUTHENTICATED, "malformed API key")
	_, err = f.a.Authenticate(request("GET", "/", "Authorization", "Basic "+secret))
	wantCode(t, err, EUNAUTHENTICATED, "scheme")
	_, err = f.a.Authenticate(request("GET", "/", "Authorization", "Bearer "+secret, "Authorization", "Bearer "+secret))
	wantCode(t, err, EUNAUTHENTICATED, "more than one")
	// A session token is not an API key.
	stok, _ := f.session(t, f.alice.ID)
	_, err = f.a.Authenticate(request("GET", "/", "Authorization", "Bearer "+stok))
	wantCode(t, err, EUNAUTHENTICATED, "malformed API key")
}

func TestAuthenticateKeyExpired(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.key(t, f.alice.ID, t0.Add(time.Hour))
	if _, err := f.a.Authenticate(request("GET", "/", "Authorization", "Bearer "+secret)); err != nil {
		t.Fatal(err)
	}
	f.clk.add(time.Hour) // expires while cached
	_, err := f.a.Authenticate(request("GET", "/", "Authorization", "Bearer "+secret))
	wantCode(t, err, EUNAUTHENTICATED, "API key expired")
}

func TestAuthenticateKeyCacheAndRevoke(t *testing.T) {
	f := newFixture(t)
	secret, k := f.key(t, f.alice.ID, time.Time{})
	r := func() *http.Request { return request("GET", "/", "Authorization", "Bearer "+secret) }
	for range 5 {
		if _, err := f.a.Authenticate(r()); err != nil {
			t.Fatal(err)
		}
	}
	if f.cat.keyLookups != 1 {
		t.Fatalf("%d catalogue lookups for 5 requests, want 1 (cached)", f.cat.keyLookups)
	}
	f.clk.add(DefaultCacheTTL)
	f.a.Authenticate(r())
	if f.cat.keyLookups != 2 {
		t.Fatalf("%d lookups: the cache outlived its TTL", f.cat.keyLookups)
	}

	// Bob cannot revoke Alice's key, even knowing its id.
	pb := Principal{User: &f.bob, Via: ViaSession}
	wantCode(t, f.a.Revoke(ctx, pb, k.ID), lecture.ENOTFOUND, "")
	if _, err := f.a.Authenticate(r()); err != nil {
		t.Fatalf("Alice's key broken by Bob's revoke: %v", err)
	}
	// Nor can an admin revoke it through Revoke, nor anonymous or a share.
	wantCode(t, f.a.Revoke(ctx, Principal{User: &f.admin, Via: ViaKey}, k.ID), lecture.ENOTFOUND, "")
	wantCode(t, f.a.Revoke(ctx, Anonymous(), k.ID), EUNAUTHENTICATED, "")
	wantCode(t, f.a.Revoke(ctx, Principal{Via: ViaShare, ShareLectureID: "l"}, k.ID), EUNAUTHENTICATED, "")

	// Alice revokes: refused at once, though the entry was cached.
	pa, _ := f.a.Authenticate(r())
	if err := f.a.Revoke(ctx, pa, k.ID); err != nil {
		t.Fatal(err)
	}
	_, err := f.a.Authenticate(r())
	wantCode(t, err, EUNAUTHENTICATED, "API key revoked")
}

// TestRevokeOtherReplica: a revocation made elsewhere is seen within the TTL.
func TestRevokeOtherReplica(t *testing.T) {
	f := newFixture(t)
	secret, k := f.key(t, f.alice.ID, time.Time{})
	r := func() *http.Request { return request("GET", "/", "Authorization", "Bearer "+secret) }
	f.a.Authenticate(r())
	f.cat.RevokeKey(ctx, f.alice.ID, k.ID, t0)
	f.clk.add(DefaultCacheTTL - time.Millisecond)
	if _, err := f.a.Authenticate(r()); err != nil {
		t.Fatalf("within the TTL the cache answers: %v", err)
	}
	f.clk.add(time.Millisecond)
	_, err := f.a.Authenticate(r())
	wantCode(t, err, EUNAUTHENTICATED, "revoked")
}

func TestAuthenticateKeyDisabledUser(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.key(t, f.alice.ID, time.Time{})
	r := func() *http.Request { return request("GET", "/", "Authorization", "Bearer "+secret) }
	f.a.Authenticate(r())
	u := f.alice
	u.Disabled = true
	f.cat.UpdateUser(ctx, u)
	f.a.Forget(u.ID)
	_, err := f.a.Authenticate(r())
	wantCode(t, err, EUNAUTHENTICATED, "disabled")

	// And never cached as live.
	g := newFixture(t)
	g.alice.Disabled = true
	g.cat.UpdateUser(ctx, g.alice)
	secret, _ = g.key(t, g.alice.ID, time.Time{})
	for range 2 {
		_, err = g.a.Authenticate(request("GET", "/", "Authorization", "Bearer "+secret))
		wantCode(t, err, EUNAUTHENTICATED, "disabled")
	}
}

func TestTouchKey(t *testing.T) {
	f := newFixture(t)
	secret, k := f.key(t, f.alice.ID, time.Time{})
	r := func() *http.Request { return request("GET", "/", "Authorization", "Bearer "+secret) }
	for range 10 {
		f.a.Authenticate(r())
		f.clk.add(time.Second)
	}
	f.a.wg.Wait()
	if f.cat.touches != 1 {
		t.Fatalf("%d TouchKey calls in 10 s, want 1", f.cat.touches)
	}
	f.clk.add(time.Minute)
	f.a.Authenticate(r())
	f.a.wg.Wait()
	f.a.Authenticate(r())
	f.a.wg.Wait()
	if f.cat.touches != 2 || !f.cat.keys[k.ID].LastUsedAt.Equal(f.clk.now()) {
		t.Fatalf("%d TouchKey calls, LastUsedAt %v", f.cat.touches, f.cat.keys[k.ID].LastUsedAt)
	}
}

func TestAuthenticateSession(t *testing.T) {
	f := newFixture(t)
	tok, s := f.session(t, f.alice.ID)
	cookie := CookieName + "=" + tok
	p, err := f.a.Authenticate(request("GET", "/", "Cookie", cookie))
	if err != nil || p.Via != ViaSession || p.UserID() != f.alice.ID || p.Session == nil || p.Session.CSRF != s.CSRF {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	// Truncated, unknown, duplicated.
	_, err = f.a.Authenticate(request("GET", "/", "Cookie", CookieName+"="+tok[:40]))
	wantCode(t, err, EUNAUTHENTICATED, "malformed session")
	other, _ := NewSession(f.alice.ID, "", time.Hour, t0)
	_, err = f.a.Authenticate(request("GET", "/", "Cookie", CookieName+"="+other))
	wantCode(t, err, EUNAUTHENTICATED, "unknown session")
	_, err = f.a.Authenticate(request("GET", "/", "Cookie", CookieName+"="+other+"; "+cookie))
	wantCode(t, err, EUNAUTHENTICATED, "more than one")
	// A session cookie holding an API key is refused.
	secret, _ := f.key(t, f.alice.ID, time.Time{})
	_, err = f.a.Authenticate(request("GET", "/", "Cookie", CookieName+"="+secret))
	wantCode(t, err, EUNAUTHENTICATED, "malformed")

	// Replay after sign-out.
	if err := f.a.SignOut(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, err = f.a.Authenticate(request("GET", "/", "Cookie", cookie))
	wantCode(t, err, EUNAUTHENTICATED, "signed out")
	wantCode(t, f.a.SignOut(ctx, Principal{User: &f.alice, Via: ViaKey}), lecture.EINVALID, "")
}

func TestAuthenticateSessionExpiredDisabled(t *testing.T) {
	f := newFixture(t)
	tok, _ := f.session(t, f.alice.ID)
	f.clk.add(time.Hour)
	_, err := f.a.Authenticate(request("GET", "/", "Cookie", CookieName+"="+tok))
	wantCode(t, err, EUNAUTHENTICATED, "session expired")

	tok, _ = f.session(t, f.bob.ID)
	f.bob.Disabled = true
	f.cat.UpdateUser(ctx, f.bob)
	_, err = f.a.Authenticate(request("GET", "/", "Cookie", CookieName+"="+tok))
	wantCode(t, err, EUNAUTHENTICATED, "disabled")
}

func TestBearerWinsOverCookie(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.key(t, f.bob.ID, time.Time{})
	tok, _ := f.session(t, f.alice.ID)
	p, err := f.a.Authenticate(request("POST", "/", "Authorization", "Bearer "+secret, "Cookie", CookieName+"="+tok))
	if err != nil || p.Via != ViaKey || p.UserID() != f.bob.ID {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	// A bad key does not fall back to the cookie.
	_, err = f.a.Authenticate(request("GET", "/", "Authorization", "Bearer tk_nope", "Cookie", CookieName+"="+tok))
	wantCode(t, err, EUNAUTHENTICATED, "")
}

func TestCredentialsInQueryIgnored(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.key(t, f.alice.ID, time.Time{})
	tok, _ := f.session(t, f.alice.ID)
	for _, q := range []string{"token=" + secret, "access_token=" + secret, "api_key=" + secret, "token=" + tok, CookieName + "=" + tok, "key=" + secret} {
		for _, m := range []string{"GET", "POST"} {
			p, err := f.a.Authenticate(request(m, "/lectures?"+q))
			if err != nil || p.Via != ViaAnonymous || p.User != nil {
				t.Errorf("%s ?%s = %+v, %v; want anonymous", m, q, p, err)
			}
		}
	}
}

func TestAuthenticateShare(t *testing.T) {
	f := newFixture(t)
	tok, sh := f.share(t, "lec-1", f.alice.ID, t0.Add(time.Hour))
	for _, m := range []string{"GET", "HEAD"} {
		p, err := f.a.Authenticate(request(m, "/lectures/lec-1?share="+tok))
		if err != nil || p.Via != ViaShare || p.ShareLectureID != "lec-1" || p.User != nil || p.UserID() != "" {
			t.Fatalf("%s: Authenticate = %+v, %v", m, p, err)
		}
		if !p.CanRead(catalogue.Lecture{ID: "lec-1", Owner: f.alice.ID}) || p.CanRead(catalogue.Lecture{ID: "lec-2", Owner: f.alice.ID}) ||
			p.CanWrite(catalogue.Lecture{ID: "lec-1", Owner: f.alice.ID}) || p.IsAdmin() || p.Authenticated() {
			t.Fatalf("share principal rights wrong: %+v", p)
		}
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		_, err := f.a.Authenticate(request(m, "/lectures/lec-1?share="+tok))
		wantCode(t, err, EFORBIDDEN, "share links only allow reading")
	}
	// In a cookie, or a header, it is not read.
	for _, r := range []*http.Request{
		request("GET", "/lectures/lec-1", "Cookie", "share="+tok),
		request("GET", "/lectures/lec-1", "Cookie", CookieName+"=x; share="+tok),
		request("GET", "/lectures/lec-1?token="+tok),
	} {
		p, err := f.a.Authenticate(r)
		if err == nil && p.Via == ViaShare {
			t.Errorf("%v: share token outside ?share= accepted", r.Header)
		}
	}
	// Truncated, twice, unknown.
	_, err := f.a.Authenticate(request("GET", "/?share="+tok[:21]))
	wantCode(t, err, EUNAUTHENTICATED, "malformed share")
	_, err = f.a.Authenticate(request("GET", "/?share="+tok+"&share="+tok))
	wantCode(t, err, EUNAUTHENTICATED, "more than one")
	other, _ := NewShare("lec-1", f.alice.ID, time.Time{}, t0)
	_, err = f.a.AuthenticateShare(ctx, other)
	wantCode(t, err, EUNAUTHENTICATED, "unknown share")
	// Expired; revoked; creator disabled.
	f.clk.add(time.Hour)
	_, err = f.a.Authenticate(request("GET", "/?share="+tok))
	wantCode(t, err, EUNAUTHENTICATED, "share link expired")
	tok2, sh2 := f.share(t, "lec-1", f.alice.ID, time.Time{})
	if _, err := f.a.AuthenticateShare(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	f.cat.RevokeShare(ctx, "lec-1", sh2.ID, f.clk.now())
	_, err = f.a.AuthenticateShare(ctx, tok2)
	wantCode(t, err, EUNAUTHENTICATED, "share link revoked")
	tok3, _ := f.share(t, "lec-1", f.bob.ID, time.Time{})
	f.bob.Disabled = true
	f.cat.UpdateUser(ctx, f.bob)
	_, err = f.a.AuthenticateShare(ctx, tok3)
	wantCode(t, err, EUNAUTHENTICATED, "share link disabled")
	_ = sh
}

func TestAnonymous(t *testing.T) {
	f := newFixture(t)
	p, err := f.a.Authenticate(request("GET", "/"))
	if err != nil || p.Via != ViaAnonymous || p.User != nil || p.Authenticated() || p.IsAdmin() ||
		p.CanRead(catalogue.Lecture{ID: "l", Owner: ""}) || p.CanWrite(catalogue.Lecture{ID: "l"}) {
		t.Fatalf("anonymous = %+v, %v", p, err)
	}
}

func TestPrincipalRights(t *testing.T) {
	f := newFixture(t)
	mine := catalogue.Lecture{ID: "l1", Owner: f.alice.ID}
	bobs := catalogue.Lecture{ID: "l2", Owner: f.bob.ID}
	ownerless := catalogue.Lecture{ID: "l3"}
	alice := Principal{User: &f.alice, Via: ViaKey}
	admin := Principal{User: &f.admin, Via: ViaSession}
	if !alice.CanRead(mine) || !alice.CanWrite(mine) || alice.CanRead(bobs) || alice.CanWrite(bobs) ||
		alice.CanRead(ownerless) || alice.IsAdmin() {
		t.Error("member rights wrong")
	}
	if !admin.IsAdmin() || admin.CanRead(mine) || admin.CanWrite(mine) || admin.CanRead(ownerless) {
		t.Error("admin rights wrong: admins do not read others' lectures")
	}
	disabled := f.admin
	disabled.Disabled = true
	if p := (Principal{User: &disabled, Via: ViaSession}); p.IsAdmin() || p.CanRead(catalogue.Lecture{Owner: disabled.ID}) {
		t.Error("a disabled admin keeps rights")
	}
	if p := (Principal{User: &catalogue.User{}, Via: ViaKey}); p.CanRead(ownerless) || p.CanWrite(ownerless) {
		t.Error("a user without id owns ownerless lectures")
	}
	if p := (Principal{User: &f.alice, Via: ViaShare, ShareLectureID: ""}); p.CanRead(catalogue.Lecture{}) || p.CanWrite(mine) {
		t.Error("an empty share reads the empty lecture")
	}
	l := Local()
	if !l.CanRead(bobs) || !l.CanWrite(bobs) || !l.CanRead(ownerless) || !l.CanWrite(ownerless) || l.UserID() != "" || !l.IsAdmin() {
		t.Error("local rights wrong")
	}
}

func TestCookies(t *testing.T) {
	c := SessionCookie("tok", time.Hour, true)
	if c.Name != CookieName || c.Value != "tok" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 3600 {
		t.Fatalf("SessionCookie = %+v", c)
	}
	if c := SessionCookie("tok", time.Hour, false); c.Secure {
		t.Fatal("Secure without TLS")
	}
	if c := ClearCookie(true); c.Name != CookieName || c.MaxAge >= 0 || c.Value != "" || !c.HttpOnly || c.Path != "/" {
		t.Fatalf("ClearCookie = %+v", c)
	}
	if err := SessionCookie(strings.Repeat("A", 43), time.Hour, true).Valid(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAuthenticateKey: a cached key costs well under 50 µs.
func BenchmarkAuthenticateKey(b *testing.B) {
	cat := newFakeCat()
	cat.CreateUser(ctx, catalogue.User{ID: "u1", Email: "a@b"})
	secret, k := NewAPIKey("u1", "n", time.Time{}, time.Now())
	k.LastUsedAt = time.Now()
	cat.CreateKey(ctx, k)
	a := &Authenticator{Cat: cat}
	r := request("GET", "/", "Authorization", "Bearer "+secret)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAuthenticateKeyFast(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("timing")
	}
	res := testing.Benchmark(BenchmarkAuthenticateKey)
	if per := time.Duration(res.NsPerOp()); per > 50*time.Microsecond {
		t.Fatalf("Authenticate with a cached key: %v per request, want <= 50µs", per)
	}
}
