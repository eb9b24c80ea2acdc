// Package catalogue is the lecture catalogue and the accounts database:
// lectures (owner, title, status, durations), users, API keys, sessions,
// share links, usage counters and the audit log, behind one interface.
// Objects (media, transcripts, artifacts) stay in the object store; the
// catalogue holds what is listed, searched and checked on every request.
//
// Two adapters implement it: catalogue/sqlite (the embedded default, pure
// Go) and catalogue/postgres (the cluster's database). Both pass the one
// contract test in tests/testkit/catalogtest. Errors are lecture errors:
// ENOTFOUND for a missing row, ECONFLICT for a duplicate (e-mail, id),
// EQUOTA (catalogue.ErrQuota) when AddUsage would pass its limit.
package catalogue

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/transcept/transcept/shared/lecture"
)

// Role is what a user may do: members own their lectures; admins also
// manage users and see usage (not content, unless it is shared with them).
type Role string

const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// User is an account. PasswordHash is a PHC string (argon2id); empty for
// OIDC-only users, who sign in through the identity provider.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"` // lower-cased, unique
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	OIDCSubject  string    `json:"oidc_subject,omitempty"` // issuer's "sub", unique when set
	Disabled     bool      `json:"disabled,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// APIKey is a user's named key. Only the SHA-256 of the secret is kept;
// Prefix is the key's public, non-secret start shown in lists.
type APIKey struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Name       string    `json:"name"`
	Prefix     string    `json:"prefix"`
	Hash       string    `json:"-"` // hex SHA-256 of the whole key
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"` // zero: never
	RevokedAt  time.Time `json:"revoked_at,omitzero"` // zero: live
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Session is a signed-in browser. ID is the hex SHA-256 of the cookie's
// token; CSRF is the token state-changing form posts must echo.
type Session struct {
	ID        string    `json:"-"`
	UserID    string    `json:"user_id"`
	CSRF      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Remote    string    `json:"remote,omitempty"`
}

// Share is a view-only link to one lecture. Hash is the hex SHA-256 of the
// link's 128-bit token.
type Share struct {
	ID        string    `json:"id"`
	LectureID string    `json:"lecture_id"`
	CreatedBy string    `json:"created_by"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Lecture is a lecture's catalogue row: what the library lists and
// searches. The pipeline writes it on every status change.
type Lecture struct {
	ID        string         `json:"id"`
	Owner     string         `json:"owner,omitempty"` // user id; "" in single-user mode
	Title     string         `json:"title"`
	Status    lecture.Status `json:"status"`
	Stage     string         `json:"stage,omitempty"` // the stage running or failed
	Error     string         `json:"error,omitempty"`
	MediaType string         `json:"media_type,omitempty"` // the recording's content type; "" for transcripts
	Bytes     int64          `json:"bytes,omitempty"`      // input size
	// Seconds is the lecture's length (recording or last timestamp);
	// MediaSeconds the recording's length counted against quotas.
	Seconds      float64   `json:"seconds,omitempty"`
	MediaSeconds float64   `json:"media_seconds,omitempty"`
	Words        int       `json:"words,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// ListQuery selects a page of lectures, newest first.
type ListQuery struct {
	Owner  string // only this owner's lectures ("" with All: everyone's)
	All    bool   // every owner (admin tools, rebuild checks)
	Q      string // full-text query over titles and transcripts; "" lists all
	Limit  int    // page size (default 50, at most 200)
	Cursor string // opaque, from the previous Page.Next
}

// Page is one page of lectures; Next is "" on the last page.
type Page struct {
	Lectures []Lecture `json:"lectures"`
	Next     string    `json:"next,omitempty"`
}

// Counters a quota is kept on; windows are calendar day / hour / minute in UTC.
const (
	CounterMediaSeconds = "media_seconds" // per day
	CounterUploads      = "uploads"       // per hour
	CounterQA           = "qa"            // per minute
)

// Usage is one counter's value in one window.
type Usage struct {
	UserID  string    `json:"user_id"`
	Counter string    `json:"counter"`
	Window  time.Time `json:"window"` // the window's start (UTC)
	Value   float64   `json:"value"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`  // user id, "" for anonymous, "system", "cli"
	Action string    `json:"action"` // e.g. "signin", "signin.failed", "key.create", "key.revoke", "share.create", "share.revoke", "lecture.delete", "user.create"
	Target string    `json:"target,omitempty"`
	Remote string    `json:"remote,omitempty"` // client address
	Detail string    `json:"detail,omitempty"`
}

// AuditQuery filters the audit log, newest first.
type AuditQuery struct {
	Actor  string
	Action string
	Since  time.Time
	Limit  int // default 100
}

// Catalogue is the database. Every method is safe for concurrent use.
type Catalogue interface {
	// Users.
	CreateUser(ctx context.Context, u User) error
	UserByID(ctx context.Context, id string) (User, error)
	UserByEmail(ctx context.Context, email string) (User, error)
	UserBySubject(ctx context.Context, subject string) (User, error)
	UpdateUser(ctx context.Context, u User) error // email, role, password hash, subject, disabled
	ListUsers(ctx context.Context) ([]User, error)
	CountUsers(ctx context.Context) (int, error)

	// API keys.
	CreateKey(ctx context.Context, k APIKey) error
	// KeyByHash returns a key (live or not: the caller checks expiry and
	// revocation) and its user.
	KeyByHash(ctx context.Context, hash string) (APIKey, User, error)
	ListKeys(ctx context.Context, userID string) ([]APIKey, error)
	// RevokeKey revokes the user's key; another user's key is ENOTFOUND.
	RevokeKey(ctx context.Context, userID, keyID string, at time.Time) error
	TouchKey(ctx context.Context, keyID string, at time.Time) error

	// Sessions.
	CreateSession(ctx context.Context, s Session) error
	SessionByID(ctx context.Context, id string) (Session, User, error)
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID string) error

	// Share links.
	CreateShare(ctx context.Context, s Share) error
	ShareByHash(ctx context.Context, hash string) (Share, error)
	ListShares(ctx context.Context, lectureID string) ([]Share, error)
	RevokeShare(ctx context.Context, lectureID, shareID string, at time.Time) error

	// Lectures. PutLecture inserts or updates the row (an update keeps
	// Owner and CreatedAt when the new row leaves them empty);
	// SetTranscript replaces the text full-text search looks in.
	PutLecture(ctx context.Context, l Lecture) error
	GetLecture(ctx context.Context, id string) (Lecture, error)
	ListLectures(ctx context.Context, q ListQuery) (Page, error)
	SetTranscript(ctx context.Context, id, text string) error
	// DeleteLecture removes the row, its transcript text and its shares.
	DeleteLecture(ctx context.Context, id string) error
	// CountActive counts the owner's lectures still processing (uploaded
	// or processing), for the concurrent-jobs quota.
	CountActive(ctx context.Context, owner string) (int, error)

	// Usage. AddUsage adds delta to the counter's window atomically and
	// returns the new value; when limit > 0 and the new value would pass
	// it, nothing is added and the error is ErrQuota (code EQUOTA).
	AddUsage(ctx context.Context, userID, counter string, window time.Time, delta, limit float64) (float64, error)
	UsageSince(ctx context.Context, userID string, since time.Time) ([]Usage, error)

	// Audit log.
	Audit(ctx context.Context, e AuditEntry) error
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)

	Close() error
}

// EQUOTA is the code of an error for a limit that was reached (HTTP 429).
const EQUOTA = "quota_exceeded"

// ErrQuota is AddUsage's error when the limit would be passed.
var ErrQuota = lecture.Errorf(EQUOTA, "quota exceeded")

// Window returns the start of the counter's window holding t.
func Window(counter string, t time.Time) time.Time {
	t = t.UTC()
	switch counter {
	case CounterMediaSeconds:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case CounterUploads:
		return t.Truncate(time.Hour)
	default:
		return t.Truncate(time.Minute)
	}
}

// EncodeCursor is the opaque Page.Next of a page ending at a lecture
// created at at (kept to the microsecond) with id: both adapters page by
// (created_at, id), so a cursor from one reads in the other.
func EncodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + id))
}

// DecodeCursor reads a cursor of EncodeCursor; anything else is EINVALID.
func DecodeCursor(c string) (time.Time, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if at, id, ok := strings.Cut(string(b), ":"); ok {
			if n, err := strconv.ParseInt(at, 10, 64); err == nil {
				return time.UnixMicro(n).UTC(), id, nil
			}
		}
	}
	return time.Time{}, "", lecture.Errorf(lecture.EINVALID, "invalid cursor")
}
