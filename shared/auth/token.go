package auth

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/catalogue"
)

// Shapes of the secrets. All are unpadded base64url of crypto/rand bytes.
const (
	// KeyPrefix starts every API key, so leaked keys are easy to scan for.
	KeyPrefix = "tk_"
	// KeyLen is an API key's length: "tk_" and 32 random bytes (43 chars).
	KeyLen = len(KeyPrefix) + 43
	// KeyShownLen is the length of APIKey.Prefix, the public start of a
	// key shown in lists ("tk_" and 8 characters, 48 bits).
	KeyShownLen = 11
	// SessionTokenLen is a session cookie's length: 32 random bytes.
	SessionTokenLen = 43
	// ShareTokenLen is a share token's length: 16 random bytes (128 bits).
	ShareTokenLen = 22
	// CSRFTokenLen is a session's CSRF token length: 32 random bytes.
	CSRFTokenLen = 43
	// maxBearerLen bounds what ParseBearer accepts at all.
	maxBearerLen = 1024
)

// NewAPIKey makes a key for the user: the secret to show once, and the row
// to store (CreateKey) with its SHA-256, its public prefix and a random id.
// A zero expiresAt never expires.
func NewAPIKey(userID, name string, expiresAt, now time.Time) (secret string, key catalogue.APIKey) {
	secret = KeyPrefix + randomToken(32)
	return secret, catalogue.APIKey{
		ID:        newID(),
		UserID:    userID,
		Name:      name,
		Prefix:    secret[:KeyShownLen],
		Hash:      HashToken(secret),
		CreatedAt: now.UTC(),
		ExpiresAt: utc(expiresAt),
	}
}

// NewShare makes a view-only link to a lecture: the token to put in the
// link (?share=...) and the row to store (CreateShare). A zero expiresAt
// never expires.
func NewShare(lectureID, createdBy string, expiresAt, now time.Time) (token string, s catalogue.Share) {
	token = randomToken(16)
	return token, catalogue.Share{
		ID:        newID(),
		LectureID: lectureID,
		CreatedBy: createdBy,
		Hash:      HashToken(token),
		CreatedAt: now.UTC(),
		ExpiresAt: utc(expiresAt),
	}
}

// NewSession makes a browser session that lasts ttl: the token for the
// cookie (SessionCookie) and the row to store (CreateSession), whose ID is
// the token's SHA-256 and whose CSRF is a fresh random token.
func NewSession(userID, remote string, ttl time.Duration, now time.Time) (token string, s catalogue.Session) {
	token = randomToken(32)
	return token, catalogue.Session{
		ID:        HashToken(token),
		UserID:    userID,
		CSRF:      randomToken(32),
		CreatedAt: now.UTC(),
		ExpiresAt: now.Add(ttl).UTC(),
		Remote:    remote,
	}
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// isB64URL reports whether s is exactly n characters of unpadded base64url
// that decode canonically (unused trailing bits zero).
func isB64URL(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	_, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil
}

// ParseBearer returns the token of an Authorization header value of the
// form "Bearer <token>" (RFC 6750: the scheme in any case, one or more
// spaces, a b64token of at most 1024 characters). Other schemes, missing
// or extra parts, tabs, control bytes and trailing text are EUNAUTHENTICATED.
func ParseBearer(header string) (string, error) {
	const scheme = "bearer"
	if len(header) > len(scheme)+maxBearerLen+8 || len(header) < len(scheme)+2 {
		return "", unauthenticated("malformed Authorization header: want \"Bearer <API key>\"")
	}
	if !strings.EqualFold(header[:len(scheme)], scheme) || header[len(scheme)] != ' ' {
		return "", unauthenticated("unsupported Authorization scheme: only \"Bearer <API key>\" is accepted")
	}
	tok := strings.TrimLeft(header[len(scheme):], " ")
	if tok == "" || len(tok) > maxBearerLen || len(header)-len(scheme)-len(tok) > 8 {
		return "", unauthenticated("malformed Authorization header: want \"Bearer <API key>\"")
	}
	// b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
	i := 0
	for ; i < len(tok); i++ {
		c := tok[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return "", unauthenticated("malformed bearer token")
	}
	for ; i < len(tok); i++ {
		if tok[i] != '=' {
			return "", unauthenticated("malformed bearer token")
		}
	}
	return tok, nil
}

// ParseAPIKey checks that s has an API key's shape ("tk_" and 43
// base64url characters) and returns it; anything else is EUNAUTHENTICATED.
func ParseAPIKey(s string) (string, error) {
	if !strings.HasPrefix(s, KeyPrefix) || !isB64URL(s[len(KeyPrefix):], KeyLen-len(KeyPrefix)) {
		return "", unauthenticated("malformed API key: want %q and 43 base64url characters", KeyPrefix)
	}
	return s, nil
}

// ParseShareToken checks that s has a share token's shape (22 base64url
// characters) and returns it; anything else is EUNAUTHENTICATED.
func ParseShareToken(s string) (string, error) {
	if !isB64URL(s, ShareTokenLen) {
		return "", unauthenticated("malformed share link")
	}
	return s, nil
}

// ParseSessionCookie checks that a session cookie's value has a session
// token's shape (43 base64url characters) and returns it; anything else
// is EUNAUTHENTICATED.
func ParseSessionCookie(value string) (string, error) {
	if !isB64URL(value, SessionTokenLen) {
		return "", unauthenticated("malformed session cookie; sign in again")
	}
	return value, nil
}
