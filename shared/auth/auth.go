// Package auth is the security core of the accounts: password hashing
// (argon2id), the secrets handed to people (API keys, session cookies,
// share links) and their strict parsers, the Authenticator that turns a
// request into a Principal, CSRF checks for cookie-authenticated writes,
// sign-in with a brute-force limiter, safe redirects and quotas.
//
// The package does no routing: the HTTP API calls Authenticate on every
// request, CheckCSRF before every state-changing one, and maps the error
// codes EUNAUTHENTICATED (401), EFORBIDDEN (403) and catalogue.EQUOTA
// (429, with RetryAfter) to responses.
//
// Secrets are never stored: the catalogue keeps the hex SHA-256 of API
// keys, session tokens and share tokens (HashToken), so a database leak
// yields nothing that signs in.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"

	"github.com/transcept/transcept/shared/lecture"
)

// Error codes of this package, besides catalogue.EQUOTA and the lecture
// codes (EINVALID, EUNAVAILABLE...).
const (
	// EUNAUTHENTICATED: no valid credential (HTTP 401): a malformed,
	// unknown, expired or revoked key, session or share link.
	EUNAUTHENTICATED = "unauthenticated"
	// EFORBIDDEN: a credential that may not do this (HTTP 403): a failed
	// CSRF check, a share link used to write, a disabled account.
	EFORBIDDEN = "forbidden"
)

func unauthenticated(format string, args ...any) *lecture.Error {
	return lecture.Errorf(EUNAUTHENTICATED, format, args...)
}

func forbidden(format string, args ...any) *lecture.Error {
	return lecture.Errorf(EFORBIDDEN, format, args...)
}

// HashToken returns the hex SHA-256 of a secret (an API key, a session
// token, a share token): the form the catalogue stores and looks up.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// randomBytes returns n bytes from crypto/rand (which never fails on the
// supported platforms; Go aborts the process if the system source breaks).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand: " + err.Error())
	}
	return b
}

// randomToken returns n random bytes as unpadded base64url.
func randomToken(n int) string {
	return base64.RawURLEncoding.EncodeToString(randomBytes(n))
}

// newID returns a random, non-secret row id: 24 lower-case hex digits.
func newID() string {
	return hex.EncodeToString(randomBytes(12))
}
