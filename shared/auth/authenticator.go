package auth

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

// CookieName is the session cookie's name.
const CookieName = "transcept_session"

// ShareParam is the query parameter share links carry their token in.
const ShareParam = "share"

// Defaults of the Authenticator's optional fields.
const (
	DefaultCacheTTL   = 10 * time.Second
	DefaultCacheSize  = 4096
	DefaultSessionTTL = 7 * 24 * time.Hour
	touchEvery        = time.Minute // LastUsedAt is written at most this often per key
	maxTouches        = 64          // LastUsedAt writes in flight at once; more are skipped
)

// Authenticator turns requests into Principals and signs people in and
// out. Set Cat (and usually Now); the other fields have defaults. It is
// safe for concurrent use; do not copy it after first use.
//
// Live API keys are cached in process for CacheTTL (10 s) so that a
// request with a key costs no database round trip. Revoke and Forget
// drop cached entries at once on this replica; other replicas notice a
// revoked key, or a disabled user, within CacheTTL.
type Authenticator struct {
	Cat catalogue.Catalogue
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// SessionTTL is how long a sign-in lasts (DefaultSessionTTL when 0).
	SessionTTL time.Duration
	// PasswordDisabled turns password sign-in off (OIDC-only): SignIn
	// fails with EFORBIDDEN.
	PasswordDisabled bool
	// CacheTTL is how long a live API key is trusted without asking the
	// catalogue again (DefaultCacheTTL when 0; negative: no cache).
	CacheTTL time.Duration
	// CacheSize is the most keys cached (DefaultCacheSize when 0).
	CacheSize int

	once    sync.Once
	cache   *keyCache
	limiter *limiter
	touches atomic.Int32
	wg      sync.WaitGroup // LastUsedAt writes in flight (tests wait on it)
}

func (a *Authenticator) init() {
	a.once.Do(func() {
		ttl, size := a.CacheTTL, a.CacheSize
		if ttl == 0 {
			ttl = DefaultCacheTTL
		}
		if size == 0 {
			size = DefaultCacheSize
		}
		a.cache = newKeyCache(size, ttl)
		a.limiter = newLimiter(signInFailures, signInWindow)
		go dummyPHC() // so the first unknown e-mail does not take two hashes
	})
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Authenticate returns who the request acts for:
//
//   - an Authorization header: only "Bearer <API key>"; when present it
//     decides alone (a cookie beside it is not looked at, and a bad key is
//     an error, not a fall-back to the cookie);
//   - else the query parameter "share" on GET and HEAD: a share link's
//     Principal (on other methods: EFORBIDDEN);
//   - else the transcept_session cookie;
//   - else the anonymous Principal.
//
// Credentials in any other place (?token=, ?access_token=, ?api_key=, a
// share token in a cookie, a key in a cookie) are never read. A missing,
// malformed, unknown, expired or revoked credential, or one of a disabled
// account, is an EUNAUTHENTICATED error saying which; a failing catalogue
// is EUNAVAILABLE. After an EUNAUTHENTICATED error about the session the
// API should clear the cookie (ClearCookie).
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	a.init()
	ctx := r.Context()
	if hs := r.Header.Values("Authorization"); len(hs) > 0 {
		if len(hs) > 1 {
			return Principal{}, unauthenticated("more than one Authorization header")
		}
		tok, err := ParseBearer(hs[0])
		if err != nil {
			return Principal{}, err
		}
		return a.AuthenticateKey(ctx, tok)
	}
	if vs, ok := r.URL.Query()[ShareParam]; ok {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return Principal{}, forbidden("share links only allow reading (GET), not %s", r.Method)
		}
		if len(vs) != 1 {
			return Principal{}, unauthenticated("more than one share token")
		}
		return a.AuthenticateShare(ctx, vs[0])
	}
	var cookie string
	n := 0
	for _, c := range r.Cookies() {
		if c.Name == CookieName {
			cookie = c.Value
			n++
		}
	}
	switch {
	case n > 1:
		return Principal{}, unauthenticated("more than one session cookie; sign in again")
	case n == 1:
		return a.AuthenticateSession(ctx, cookie)
	}
	return Anonymous(), nil
}

// AuthenticateKey returns the Principal of an API key (the whole secret,
// "tk_..."); see Authenticate for the errors.
func (a *Authenticator) AuthenticateKey(ctx context.Context, secret string) (Principal, error) {
	a.init()
	if _, err := ParseAPIKey(secret); err != nil {
		return Principal{}, err
	}
	now := a.now()
	hash := HashToken(secret)
	e, ok := a.cache.get(hash, now)
	if !ok {
		k, u, err := a.Cat.KeyByHash(ctx, hash)
		if err != nil {
			if lecture.ErrorCode(err) == lecture.ENOTFOUND {
				return Principal{}, unauthenticated("unknown API key")
			}
			return Principal{}, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot check the API key")
		}
		if k.Hash != hash || k.UserID != u.ID || u.ID == "" {
			return Principal{}, unauthenticated("unknown API key")
		}
		e = keyEntry{hash: hash, key: k, user: u, loaded: now, touched: k.LastUsedAt}
		if err := checkKey(e, now); err != nil {
			return Principal{}, err
		}
		a.cache.put(e)
	} else if err := checkKey(e, now); err != nil {
		return Principal{}, err
	}
	a.touch(e, now)
	u := e.user
	return Principal{User: &u, Via: ViaKey, KeyID: e.key.ID}, nil
}

func checkKey(e keyEntry, now time.Time) error {
	switch {
	case !e.key.RevokedAt.IsZero():
		return unauthenticated("API key revoked")
	case !e.key.ExpiresAt.IsZero() && !now.Before(e.key.ExpiresAt):
		return unauthenticated("API key expired")
	case e.user.Disabled:
		return unauthenticated("the API key's account is disabled")
	}
	return nil
}

// touch writes the key's LastUsedAt in the background, at most once a
// minute per key and never more than maxTouches writes at once.
func (a *Authenticator) touch(e keyEntry, now time.Time) {
	due := a.cache.touch(e.hash, now)
	if a.cache.ttl <= 0 || a.cache.max <= 0 { // no cache: trust the row
		due = now.Sub(e.key.LastUsedAt) >= touchEvery
	}
	if !due {
		return
	}
	if a.touches.Add(1) > maxTouches {
		a.touches.Add(-1)
		return
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer a.touches.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Cat.TouchKey(ctx, e.key.ID, now) // best effort: LastUsedAt is informative
	}()
}

// AuthenticateSession returns the Principal of a session cookie's value;
// see Authenticate for the errors.
func (a *Authenticator) AuthenticateSession(ctx context.Context, cookie string) (Principal, error) {
	a.init()
	tok, err := ParseSessionCookie(cookie)
	if err != nil {
		return Principal{}, err
	}
	id := HashToken(tok)
	s, u, err := a.Cat.SessionByID(ctx, id)
	if err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return Principal{}, unauthenticated("signed out or unknown session; sign in again")
		}
		return Principal{}, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot check the session")
	}
	switch {
	case s.ID != id || s.UserID != u.ID || u.ID == "":
		return Principal{}, unauthenticated("signed out or unknown session; sign in again")
	case !a.now().Before(s.ExpiresAt):
		return Principal{}, unauthenticated("session expired; sign in again")
	case u.Disabled:
		return Principal{}, unauthenticated("this account is disabled")
	}
	return Principal{User: &u, Via: ViaSession, Session: &s}, nil
}

// AuthenticateShare returns the view-only Principal of a share token, for
// the API to call when a route carries the token in its path. Only use it
// for GET and HEAD requests. A revoked or expired link, or one whose
// creator's account is disabled, is EUNAUTHENTICATED.
func (a *Authenticator) AuthenticateShare(ctx context.Context, token string) (Principal, error) {
	a.init()
	tok, err := ParseShareToken(token)
	if err != nil {
		return Principal{}, err
	}
	s, err := a.Cat.ShareByHash(ctx, HashToken(tok))
	if err != nil {
		if lecture.ErrorCode(err) == lecture.ENOTFOUND {
			return Principal{}, unauthenticated("unknown share link")
		}
		return Principal{}, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot check the share link")
	}
	switch {
	case s.Hash != HashToken(tok) || s.LectureID == "":
		return Principal{}, unauthenticated("unknown share link")
	case !s.RevokedAt.IsZero():
		return Principal{}, unauthenticated("share link revoked")
	case !s.ExpiresAt.IsZero() && !a.now().Before(s.ExpiresAt):
		return Principal{}, unauthenticated("share link expired")
	}
	if s.CreatedBy != "" {
		u, err := a.Cat.UserByID(ctx, s.CreatedBy)
		if err != nil && lecture.ErrorCode(err) != lecture.ENOTFOUND {
			return Principal{}, lecture.Wrap(lecture.EUNAVAILABLE, err, "cannot check the share link")
		}
		if err != nil || u.Disabled {
			return Principal{}, unauthenticated("share link disabled")
		}
	}
	return Principal{Via: ViaShare, ShareLectureID: s.LectureID}, nil
}

// Revoke revokes one of the principal's own API keys and drops it from
// this replica's cache at once (other replicas: within CacheTTL). Another
// user's key, or an unknown one, is ENOTFOUND; a principal without an
// account is EUNAUTHENTICATED.
func (a *Authenticator) Revoke(ctx context.Context, p Principal, keyID string) error {
	a.init()
	if !p.signedIn() {
		return unauthenticated("sign in to revoke an API key")
	}
	if keyID == "" {
		return lecture.Errorf(lecture.ENOTFOUND, "no such API key")
	}
	uid := p.User.ID
	if err := a.Cat.RevokeKey(ctx, uid, keyID, a.now()); err != nil {
		return err
	}
	a.cache.remove(func(e *keyEntry) bool { return e.key.ID == keyID && e.key.UserID == uid })
	return nil
}

// Forget drops the user's cached keys, for when the user is disabled or
// removed (UpdateUser) or all the user's keys are revoked by an admin.
func (a *Authenticator) Forget(userID string) {
	a.init()
	a.cache.remove(func(e *keyEntry) bool { return e.key.UserID == userID })
}

func (a *Authenticator) sessionTTL() time.Duration {
	if a.SessionTTL > 0 {
		return a.SessionTTL
	}
	return DefaultSessionTTL
}

// SessionCookie returns the cookie that carries a session token for ttl:
// HttpOnly, SameSite=Lax, Path=/, and Secure when the site is served over
// TLS (secure).
func SessionCookie(token string, ttl time.Duration, secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    token,
		Path:     "/",
		MaxAge:   int(ttl / time.Second),
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// ClearCookie returns the cookie that removes the session cookie (on sign
// out, or after a session was refused).
func ClearCookie(secure bool) *http.Cookie {
	return &http.Cookie{
		Name:     CookieName,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
}

// normEmail is how e-mail addresses are compared: trimmed and lower-cased.
func normEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
