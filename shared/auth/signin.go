package auth

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// The sign-in limiter: after signInFailures failed attempts for one
// e-mail address or one client address within signInWindow, further
// attempts are refused (EQUOTA) until the oldest failure leaves the window.
const (
	signInFailures = 10
	signInWindow   = 15 * time.Minute
	maxLimiterKeys = 100_000
	maxEmailLen    = 254
)

// errSignIn is the one message for an unknown e-mail and a wrong password.
const errSignIn = "wrong e-mail or password"

// SignIn checks an e-mail address and password and opens a session: the
// token for SessionCookie and the stored row. An unknown address and a
// wrong password fail alike, in the same time, with EUNAUTHENTICATED
// "wrong e-mail or password"; a disabled account (after a right password)
// and password sign-in turned off (PasswordDisabled) are EFORBIDDEN. After
// 10 failures within 15 minutes for one address or from one remote
// (IPv6: one /64), attempts are refused with a *QuotaError (EQUOTA, see
// RetryAfter). Each attempt is audited as "signin" or "signin.failed"
// (never with the password).
func (a *Authenticator) SignIn(ctx context.Context, email, password, remote string) (token string, s catalogue.Session, err error) {
	a.init()
	if a.PasswordDisabled {
		return "", s, forbidden("password sign-in is off: sign in with the identity provider")
	}
	email = normEmail(email)
	keys := []string{"e:" + email}
	if len(email) > maxEmailLen {
		keys[0] = "e:" + email[:maxEmailLen]
	}
	if rk := remoteKey(remote); rk != "" {
		keys = append(keys, "r:"+rk)
	}
	now := a.now()
	release, wait := a.limiter.attempt(keys, now)
	if wait > 0 {
		return "", s, &QuotaError{Limit: "failed sign-ins per 15 minutes", Max: signInFailures, RetryAfter: wait}
	}
	fail := func(why string) (string, catalogue.Session, error) {
		target := email
		if len(target) > maxEmailLen {
			target = target[:maxEmailLen]
		}
		a.audit(ctx, catalogue.AuditEntry{At: now, Action: "signin.failed", Target: target, Remote: remote, Detail: why})
		return "", catalogue.Session{}, unauthenticated(errSignIn)
	}
	if email == "" || len(email) > maxEmailLen || len(password) > MaxPasswordLen {
		VerifyDummy(password)
		return fail("malformed")
	}
	u, err := a.Cat.UserByEmail(ctx, email)
	if err != nil {
		if lecture.ErrorCode(err) != lecture.ENOTFOUND {
			release(true) // not the caller's fault: do not count it
			return "", s, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot sign in now")
		}
		VerifyDummy(password)
		return fail("unknown e-mail")
	}
	if u.PasswordHash == "" {
		VerifyDummy(password)
		return fail("no password (identity provider sign-in only)")
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil {
		release(true)
		return "", s, err
	}
	if !ok {
		a.audit(ctx, catalogue.AuditEntry{At: now, Action: "signin.failed", Target: u.ID, Remote: remote, Detail: "wrong password"})
		return "", s, unauthenticated(errSignIn)
	}
	release(true)
	a.limiter.reset(keys[0])
	if u.Disabled {
		a.audit(ctx, catalogue.AuditEntry{At: now, Action: "signin.failed", Target: u.ID, Remote: remote, Detail: "account disabled"})
		return "", s, forbidden("this account is disabled")
	}
	return a.OpenSession(ctx, u, remote, "password")
}

// OpenSession opens a session for a user whose identity was proven some
// other way (how: e.g. "oidc"; "password" is SignIn's), audits "signin"
// and returns the token for SessionCookie and the stored row. A disabled
// user is EFORBIDDEN. Callers must have checked the identity themselves;
// an OIDC caller must only match users by verified e-mail or subject.
func (a *Authenticator) OpenSession(ctx context.Context, u catalogue.User, remote, how string) (token string, s catalogue.Session, err error) {
	if u.ID == "" {
		return "", s, lecture.Errorf(lecture.EINVALID, "a session needs a user id")
	}
	if u.Disabled {
		return "", s, forbidden("this account is disabled")
	}
	now := a.now()
	token, s = NewSession(u.ID, remote, a.sessionTTL(), now)
	if err := a.Cat.CreateSession(ctx, s); err != nil {
		return "", catalogue.Session{}, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot sign in now")
	}
	a.audit(ctx, catalogue.AuditEntry{At: now, Actor: u.ID, Action: "signin", Target: u.ID, Remote: remote, Detail: how})
	return token, s, nil
}

// SignOut ends the principal's session: the cookie's token no longer
// authenticates anything, even if replayed. A principal that did not
// come with a session is EINVALID.
func (a *Authenticator) SignOut(ctx context.Context, p Principal) error {
	if p.Via != ViaSession || p.Session == nil || p.Session.ID == "" {
		return lecture.Errorf(lecture.EINVALID, "not signed in with a browser session")
	}
	if err := a.Cat.DeleteSession(ctx, p.Session.ID); err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot sign out now")
	}
	a.audit(ctx, catalogue.AuditEntry{At: a.now(), Actor: p.UserID(), Action: "signout", Target: p.UserID()})
	return nil
}

// audit writes an entry; a failing audit log does not fail the sign-in.
func (a *Authenticator) audit(ctx context.Context, e catalogue.AuditEntry) {
	e.At = e.At.UTC()
	_ = a.Cat.Audit(ctx, e) // best effort
}

// remoteKey is the limiter's key of a client address: the IP without
// port; IPv6 addresses by their /64, which one client usually holds whole.
func remoteKey(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		remote = ap.Addr().String()
	}
	addr, err := netip.ParseAddr(strings.Trim(remote, "[]"))
	if err != nil {
		return remote
	}
	addr = addr.Unmap()
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// limiter counts failures per key in a sliding window.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	fails  map[string][]time.Time // oldest first, at most max kept
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, fails: make(map[string][]time.Time)}
}

// attempt counts an attempt as a failure for every key up front (so
// concurrent attempts cannot pass the limit together) and returns a
// release that takes it back (release(true): the attempt did not fail).
// When a key is already at the limit it counts nothing and returns how
// long to wait.
func (l *limiter) attempt(keys []string, now time.Time) (release func(bool), wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		ts := l.live(k, now)
		if len(ts) >= l.max {
			if w := ts[len(ts)-l.max].Add(l.window).Sub(now); w > wait {
				wait = w
			}
		}
	}
	if wait > 0 {
		return func(bool) {}, wait
	}
	if len(l.fails) >= maxLimiterKeys {
		l.prune(now)
	}
	for _, k := range keys {
		ts := append(l.fails[k], now)
		if len(ts) > l.max {
			ts = ts[len(ts)-l.max:]
		}
		l.fails[k] = ts
	}
	var once sync.Once
	return func(ok bool) {
		if !ok {
			return
		}
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, k := range keys {
				ts := l.fails[k]
				for i := len(ts) - 1; i >= 0; i-- {
					if ts[i].Equal(now) {
						ts = append(ts[:i:i], ts[i+1:]...)
						break
					}
				}
				if len(ts) == 0 {
					delete(l.fails, k)
				} else {
					l.fails[k] = ts
				}
			}
		})
	}, 0
}

// live drops the key's failures older than the window and returns the rest.
func (l *limiter) live(k string, now time.Time) []time.Time {
	ts := l.fails[k]
	i := 0
	for i < len(ts) && !now.Before(ts[i].Add(l.window)) {
		i++
	}
	if i > 0 {
		ts = ts[i:]
		if len(ts) == 0 {
			delete(l.fails, k)
		} else {
			l.fails[k] = ts
		}
	}
	return ts
}

// prune drops expired keys; when still full, it forgets arbitrary keys
// (bounded memory beats perfect memory under an address-spraying attack).
func (l *limiter) prune(now time.Time) {
	for k := range l.fails {
		l.live(k, now)
	}
	for k := range l.fails {
		if len(l.fails) < maxLimiterKeys*9/10 {
			break
		}
		delete(l.fails, k)
	}
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}
