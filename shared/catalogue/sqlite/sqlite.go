// Package sqlite is the embedded catalogue: one SQLite file, opened with the
// pure-Go modernc.org/sqlite driver (no cgo).
//
// The file is in WAL mode with a busy timeout and foreign keys on. Writes go
// through one connection (database/sql queues callers for it) and every
// write transaction is BEGIN IMMEDIATE, so writers serialise without
// SQLITE_BUSY upgrades, also across processes sharing the file; reads use a
// pool of read-only connections that WAL lets run beside the writer.
//
// Full-text search is an FTS5 table over title and transcript text with
// the unicode61 tokenizer (case-folded, no stemming, diacritics kept); a
// query's words must all occur, in the title or the transcript.
//
// Times are stored as INTEGER microseconds since the epoch; NULL is the
// zero time. Migrations (migrations/*.sql) are applied in order at Open and
// recorded in schema_migrations.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite catalogue.
type DB struct {
	w *sql.DB // one connection: every write
	r *sql.DB // read-only pool
}

var _ catalogue.Catalogue = (*DB)(nil)

// Open opens (creating it with mode 0600 when missing) the catalogue file
// at path and applies the migrations it lacks.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, lecture.Errorf(lecture.EINVALID, "sqlite catalogue: empty path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "sqlite catalogue: creating %s", dir)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "sqlite catalogue: opening %s", path)
	}
	f.Close()
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	w, err := openWriter(ctx, base+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "sqlite catalogue: opening %s", path)
	}
	db := &DB{w: w}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "sqlite catalogue: opening %s", path)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db.r = r
	return db, nil
}

// openWriter opens the writing connection, which sets WAL mode before any
// reader opens the file. Switching a file to WAL needs it alone for a
// moment, and SQLite answers SQLITE_BUSY at once, without its busy
// timeout, when another process is opening or migrating the same new file
// (the functions of `make run` start together); so a busy open is retried
// with backoff for up to busyWait.
func openWriter(ctx context.Context, dsn string) (*sql.DB, error) {
	deadline := time.Now().Add(busyWait)
	pause := 5 * time.Millisecond
	for {
		w, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
		w.SetConnMaxIdleTime(0)
		w.SetConnMaxLifetime(0)
		err = w.PingContext(ctx)
		if err == nil {
			return w, nil
		}
		w.Close()
		if !isBusy(err) || time.Now().Add(pause).After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// busyWait bounds openWriter's retries, as the busy timeout bounds a
// writer's wait for a lock.
const busyWait = 10 * time.Second

// isBusy tells SQLITE_BUSY and SQLITE_LOCKED (and their extended codes).
func isBusy(err error) bool {
	var se *msqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// Close closes the file.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// migrate applies the embedded migrations the file lacks, each in its own
// IMMEDIATE transaction with its schema_migrations row.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "sqlite catalogue: schema_migrations")
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "sqlite catalogue: migrations")
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return lecture.Errorf(lecture.EINTERNAL, "sqlite catalogue: migration %s: no version number", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return lecture.Wrap(lecture.EINTERNAL, err, "sqlite catalogue: migration %s", base)
		}
		err = db.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "sqlite catalogue: applying migration %s", base)
		}
	}
	return nil
}

// Migrations returns the versions recorded in schema_migrations, in order.
func (db *DB) Migrations(ctx context.Context) ([]int, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fail(err, "listing migrations")
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fail(err, "listing migrations")
		}
		vs = append(vs, v)
	}
	return vs, fail(rows.Err(), "listing migrations")
}

// tx runs f in a write (IMMEDIATE) transaction.
func (db *DB) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// fail maps a driver error to a lecture error; nil stays nil.
func fail(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var le *lecture.Error
	if errors.As(err, &le) {
		return err
	}
	msg := "sqlite catalogue: " + fmt.Sprintf(format, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return lecture.Wrap(lecture.ENOTFOUND, err, "%s: not found", msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s", msg)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return lecture.Wrap(lecture.ECONFLICT, err, "%s: already exists", msg)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return lecture.Wrap(lecture.ENOTFOUND, err, "%s: no such user", msg)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_BUSY_SNAPSHOT, sqlite3.SQLITE_BUSY_TIMEOUT:
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s", msg)
		}
	}
	return lecture.Wrap(lecture.EINTERNAL, err, "%s", msg)
}

func notFound(what, id string) error {
	return lecture.Errorf(lecture.ENOTFOUND, "%s %q not found", what, id)
}

// Times: microseconds since the epoch, NULL for the zero time.

func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func ft(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return now()
	}
	return t
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// affected returns ENOTFOUND when res changed no row.
func affected(res sql.Result, err error, what, id string) error {
	if err != nil {
		return fail(err, "%s %q", what, id)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fail(err, "%s %q", what, id)
	} else if n == 0 {
		return notFound(what, id)
	}
	return nil
}

// ---- users

const userCols = `u.id, u.email, u.role, u.password_hash, coalesce(u.oidc_subject, ''), u.disabled, u.created_at`

func scanUser(s interface{ Scan(...any) error }, u *catalogue.User, extra ...any) error {
	var created sql.NullInt64
	var role string
	if err := s.Scan(append([]any{&u.ID, &u.Email, &role, &u.PasswordHash, &u.OIDCSubject, &u.Disabled, &created}, extra...)...); err != nil {
		return err
	}
	u.Role = catalogue.Role(role)
	u.CreatedAt = ft(created)
	return nil
}

// CreateUser adds u; its e-mail is stored lower-cased.
func (db *DB) CreateUser(ctx context.Context, u catalogue.User) error {
	if u.ID == "" || u.Email == "" {
		return lecture.Errorf(lecture.EINVALID, "user: id and e-mail are required")
	}
	if u.Role == "" {
		u.Role = catalogue.RoleMember
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO users (id, email, role, password_hash, oidc_subject, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		u.ID, strings.ToLower(u.Email), string(u.Role), u.PasswordHash, nullStr(u.OIDCSubject), u.Disabled, tv(u.CreatedAt))
	return fail(err, "creating user %q", u.Email)
}

func (db *DB) userBy(ctx context.Context, col, v string) (catalogue.User, error) {
	var u catalogue.User
	err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.`+col+` = ?`, v), &u)
	if errors.Is(err, sql.ErrNoRows) {
		return u, notFound("user", v)
	}
	return u, fail(err, "user %q", v)
}

func (db *DB) UserByID(ctx context.Context, id string) (catalogue.User, error) {
	return db.userBy(ctx, "id", id)
}

func (db *DB) UserByEmail(ctx context.Context, email string) (catalogue.User, error) {
	return db.userBy(ctx, "email", strings.ToLower(email))
}

func (db *DB) UserBySubject(ctx context.Context, subject string) (catalogue.User, error) {
	if subject == "" {
		return catalogue.User{}, notFound("user with subject", subject)
	}
	return db.userBy(ctx, "oidc_subject", subject)
}

// UpdateUser sets the user's e-mail, role, password hash, subject and
// disabled flag.
func (db *DB) UpdateUser(ctx context.Context, u catalogue.User) error {
	if u.Email == "" {
		return lecture.Errorf(lecture.EINVALID, "user: e-mail is required")
	}
	if u.Role == "" {
		u.Role = catalogue.RoleMember
	}
	res, err := db.w.ExecContext(ctx, `UPDATE users SET email = ?, role = ?, password_hash = ?, oidc_subject = ?, disabled = ? WHERE id = ?`,
		strings.ToLower(u.Email), string(u.Role), u.PasswordHash, nullStr(u.OIDCSubject), u.Disabled, u.ID)
	return affected(res, err, "user", u.ID)
}

// ListUsers returns every user, oldest first.
func (db *DB) ListUsers(ctx context.Context) ([]catalogue.User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+userCols+` FROM users u ORDER BY u.created_at, u.id`)
	if err != nil {
		return nil, fail(err, "listing users")
	}
	defer rows.Close()
	us := []catalogue.User{}
	for rows.Next() {
		var u catalogue.User
		if err := scanUser(rows, &u); err != nil {
			return nil, fail(err, "listing users")
		}
		us = append(us, u)
	}
	return us, fail(rows.Err(), "listing users")
}

func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, fail(err, "counting users")
}

// ---- API keys

const keyCols = `k.id, k.user_id, k.name, k.prefix, k.hash, k.created_at, k.expires_at, k.revoked_at, k.last_used_at`

func keyDest(k *catalogue.APIKey, ts *[4]sql.NullInt64) []any {
	return []any{&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &ts[0], &ts[1], &ts[2], &ts[3]}
}

func keyTimes(k *catalogue.APIKey, ts *[4]sql.NullInt64) {
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt = ft(ts[0]), ft(ts[1]), ft(ts[2]), ft(ts[3])
}

func (db *DB) CreateKey(ctx context.Context, k catalogue.APIKey) error {
	if k.ID == "" || k.UserID == "" || k.Hash == "" {
		return lecture.Errorf(lecture.EINVALID, "key: id, user and hash are required")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = now()
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at, expires_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.UserID, k.Name, k.Prefix, k.Hash, tv(k.CreatedAt), tv(k.ExpiresAt), tv(k.RevokedAt), tv(k.LastUsedAt))
	return fail(err, "creating key %q of user %q", k.ID, k.UserID)
}

func (db *DB) KeyByHash(ctx context.Context, hash string) (catalogue.APIKey, catalogue.User, error) {
	var k catalogue.APIKey
	var u catalogue.User
	var ts [4]sql.NullInt64
	err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+`, `+keyCols+` FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = ?`, hash), &u, keyDest(&k, &ts)...)
	if errors.Is(err, sql.ErrNoRows) {
		return k, u, lecture.Errorf(lecture.ENOTFOUND, "key not found")
	}
	if err != nil {
		return k, u, fail(err, "key by hash")
	}
	keyTimes(&k, &ts)
	return k, u, nil
}

// ListKeys returns the user's keys, newest first.
func (db *DB) ListKeys(ctx context.Context, userID string) ([]catalogue.APIKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.user_id = ? ORDER BY k.created_at DESC, k.id DESC`, userID)
	if err != nil {
		return nil, fail(err, "listing keys")
	}
	defer rows.Close()
	ks := []catalogue.APIKey{}
	for rows.Next() {
		var k catalogue.APIKey
		var ts [4]sql.NullInt64
		if err := rows.Scan(keyDest(&k, &ts)...); err != nil {
			return nil, fail(err, "listing keys")
		}
		keyTimes(&k, &ts)
		ks = append(ks, k)
	}
	return ks, fail(rows.Err(), "listing keys")
}

// RevokeKey revokes the user's key; a key revoked before keeps its time.
func (db *DB) RevokeKey(ctx context.Context, userID, keyID string, at time.Time) error {
	at = orNow(at)
	res, err := db.w.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND user_id = ?`, tv(at), keyID, userID)
	return affected(res, err, "key", keyID)
}

func (db *DB) TouchKey(ctx context.Context, keyID string, at time.Time) error {
	at = orNow(at)
	res, err := db.w.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?`, tv(at), keyID)
	return affected(res, err, "key", keyID)
}

// ---- sessions

func (db *DB) CreateSession(ctx context.Context, s catalogue.Session) error {
	if s.ID == "" || s.UserID == "" {
		return lecture.Errorf(lecture.EINVALID, "session: id and user are required")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now()
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO sessions (id, user_id, csrf, created_at, expires_at, remote) VALUES (?, ?, ?, ?, ?, ?)`,
		s.ID, s.UserID, s.CSRF, tv(s.CreatedAt), tv(s.ExpiresAt), s.Remote)
	return fail(err, "creating session of user %q", s.UserID)
}

func (db *DB) SessionByID(ctx context.Context, id string) (catalogue.Session, catalogue.User, error) {
	var s catalogue.Session
	var u catalogue.User
	var created, expires sql.NullInt64
	err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+`, s.id, s.user_id, s.csrf, s.created_at, s.expires_at, s.remote FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?`, id),
		&u, &s.ID, &s.UserID, &s.CSRF, &created, &expires, &s.Remote)
	if errors.Is(err, sql.ErrNoRows) {
		return s, u, lecture.Errorf(lecture.ENOTFOUND, "session not found")
	}
	if err != nil {
		return s, u, fail(err, "session")
	}
	s.CreatedAt, s.ExpiresAt = ft(created), ft(expires)
	return s, u, nil
}

// DeleteSession removes the session; a missing one is no error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return fail(err, "deleting session")
}

func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	return fail(err, "deleting sessions of user %q", userID)
}

// ---- shares

const shareCols = `id, lecture_id, created_by, hash, created_at, expires_at, revoked_at`

func scanShare(s interface{ Scan(...any) error }, sh *catalogue.Share) error {
	var ts [3]sql.NullInt64
	if err := s.Scan(&sh.ID, &sh.LectureID, &sh.CreatedBy, &sh.Hash, &ts[0], &ts[1], &ts[2]); err != nil {
		return err
	}
	sh.CreatedAt, sh.ExpiresAt, sh.RevokedAt = ft(ts[0]), ft(ts[1]), ft(ts[2])
	return nil
}

func (db *DB) CreateShare(ctx context.Context, s catalogue.Share) error {
	if s.ID == "" || s.LectureID == "" || s.Hash == "" {
		return lecture.Errorf(lecture.EINVALID, "share: id, lecture and hash are required")
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now()
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO shares (`+shareCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.LectureID, s.CreatedBy, s.Hash, tv(s.CreatedAt), tv(s.ExpiresAt), tv(s.RevokedAt))
	return fail(err, "creating share of lecture %q", s.LectureID)
}

func (db *DB) ShareByHash(ctx context.Context, hash string) (catalogue.Share, error) {
	var s catalogue.Share
	err := scanShare(db.r.QueryRowContext(ctx, `SELECT `+shareCols+` FROM shares WHERE hash = ?`, hash), &s)
	if errors.Is(err, sql.ErrNoRows) {
		return s, lecture.Errorf(lecture.ENOTFOUND, "share not found")
	}
	return s, fail(err, "share by hash")
}

// ListShares returns the lecture's shares, newest first.
func (db *DB) ListShares(ctx context.Context, lectureID string) ([]catalogue.Share, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+shareCols+` FROM shares WHERE lecture_id = ? ORDER BY created_at DESC, id DESC`, lectureID)
	if err != nil {
		return nil, fail(err, "listing shares")
	}
	defer rows.Close()
	ss := []catalogue.Share{}
	for rows.Next() {
		var s catalogue.Share
		if err := scanShare(rows, &s); err != nil {
			return nil, fail(err, "listing shares")
		}
		ss = append(ss, s)
	}
	return ss, fail(rows.Err(), "listing shares")
}

// RevokeShare revokes a share of the lecture; a share revoked before keeps
// its time.
func (db *DB) RevokeShare(ctx context.Context, lectureID, shareID string, at time.Time) error {
	at = orNow(at)
	res, err := db.w.ExecContext(ctx, `UPDATE shares SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND lecture_id = ?`, tv(at), shareID, lectureID)
	return affected(res, err, "share", shareID)
}

// ---- lectures

const lectureCols = `id, owner, title, status, stage, error, media_type, bytes, seconds, media_seconds, words, created_at, updated_at`

func scanLecture(s interface{ Scan(...any) error }, l *catalogue.Lecture) error {
	var created, updated sql.NullInt64
	var status string
	if err := s.Scan(&l.ID, &l.Owner, &l.Title, &status, &l.Stage, &l.Error, &l.MediaType, &l.Bytes, &l.Seconds, &l.MediaSeconds, &l.Words, &created, &updated); err != nil {
		return err
	}
	l.Status = lecture.Status(status)
	l.CreatedAt, l.UpdatedAt = ft(created), ft(updated)
	return nil
}

// PutLecture inserts or updates the lecture's row. An update keeps the
// stored Owner and CreatedAt when l leaves them empty; a zero CreatedAt of
// a new row (or UpdatedAt of any) is now.
func (db *DB) PutLecture(ctx context.Context, l catalogue.Lecture) error {
	if l.ID == "" {
		return lecture.Errorf(lecture.EINVALID, "lecture: id is required")
	}
	keepCreated := l.CreatedAt.IsZero()
	if keepCreated {
		l.CreatedAt = now()
	}
	if l.UpdatedAt.IsZero() {
		l.UpdatedAt = now()
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var oldTitle string
		var seq int64
		err := tx.QueryRowContext(ctx, `SELECT seq, title FROM lectures WHERE id = ?`, l.ID).Scan(&seq, &oldTitle)
		fresh := errors.Is(err, sql.ErrNoRows)
		if err != nil && !fresh {
			return err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO lectures (`+lectureCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	owner = CASE WHEN excluded.owner = '' THEN lectures.owner ELSE excluded.owner END,
	title = excluded.title, status = excluded.status, stage = excluded.stage, error = excluded.error,
	media_type = excluded.media_type, bytes = excluded.bytes, seconds = excluded.seconds,
	media_seconds = excluded.media_seconds, words = excluded.words,
	created_at = CASE WHEN ? THEN lectures.created_at ELSE excluded.created_at END,
	updated_at = excluded.updated_at
RETURNING seq`,
			l.ID, l.Owner, l.Title, string(l.Status), l.Stage, l.Error, l.MediaType, l.Bytes, l.Seconds, l.MediaSeconds, l.Words, tv(l.CreatedAt), tv(l.UpdatedAt), keepCreated).Scan(&seq)
		if err != nil {
			return err
		}
		switch {
		case fresh:
			_, err = tx.ExecContext(ctx, `INSERT INTO lecture_fts (rowid, title, body) VALUES (?, ?, '')`, seq, l.Title)
		case oldTitle != l.Title:
			_, err = tx.ExecContext(ctx, `UPDATE lecture_fts SET title = ? WHERE rowid = ?`, l.Title, seq)
		}
		return err
	})
	return fail(err, "putting lecture %q", l.ID)
}

func (db *DB) GetLecture(ctx context.Context, id string) (catalogue.Lecture, error) {
	var l catalogue.Lecture
	err := scanLecture(db.r.QueryRowContext(ctx, `SELECT `+lectureCols+` FROM lectures WHERE id = ?`, id), &l)
	if errors.Is(err, sql.ErrNoRows) {
		return l, notFound("lecture", id)
	}
	return l, fail(err, "lecture %q", id)
}

// ListLectures returns a page of lectures, newest first (created_at, then
// id, descending), after the cursor.
func (db *DB) ListLectures(ctx context.Context, q catalogue.ListQuery) (catalogue.Page, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	} else if limit > 200 {
		limit = 200
	}
	page := catalogue.Page{Lectures: []catalogue.Lecture{}}
	var where []string
	var args []any
	if !q.All {
		where = append(where, `owner = ?`)
		args = append(args, q.Owner)
	}
	if strings.TrimSpace(q.Q) != "" {
		m := matchQuery(q.Q)
		if m == "" {
			return page, nil
		}
		where = append(where, `seq IN (SELECT rowid FROM lecture_fts WHERE lecture_fts MATCH ?)`)
		args = append(args, m)
	}
	if q.Cursor != "" {
		at, id, err := catalogue.DecodeCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		us := at.UnixMicro() // created_at is stored as microseconds
		where = append(where, `(created_at < ? OR (created_at = ? AND id < ?))`)
		args = append(args, us, us, id)
	}
	query := `SELECT ` + lectureCols + ` FROM lectures`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return page, fail(err, "listing lectures")
	}
	defer rows.Close()
	for rows.Next() {
		var l catalogue.Lecture
		if err := scanLecture(rows, &l); err != nil {
			return page, fail(err, "listing lectures")
		}
		page.Lectures = append(page.Lectures, l)
	}
	if err := rows.Err(); err != nil {
		return page, fail(err, "listing lectures")
	}
	if len(page.Lectures) > limit {
		page.Lectures = page.Lectures[:limit]
		last := page.Lectures[limit-1]
		page.Next = catalogue.EncodeCursor(last.CreatedAt, last.ID)
	}
	return page, nil
}

// matchQuery turns a user's query into an FTS5 expression: every word
// must occur (as PostgreSQL's plainto_tsquery reads it); FTS5 syntax in q
// is only text. It is "" when q has no words.
func matchQuery(q string) string {
	words := strings.FieldsFunc(q, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for i, w := range words {
		words[i] = `"` + w + `"`
	}
	return strings.Join(words, " AND ")
}

// SetTranscript replaces the lecture's searchable transcript text.
func (db *DB) SetTranscript(ctx context.Context, id, text string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var seq int64
		var title string
		if err := tx.QueryRowContext(ctx, `SELECT seq, title FROM lectures WHERE id = ?`, id).Scan(&seq, &title); errors.Is(err, sql.ErrNoRows) {
			return notFound("lecture", id)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM lecture_fts WHERE rowid = ?`, seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO lecture_fts (rowid, title, body) VALUES (?, ?, ?)`, seq, title, text)
		return err
	})
	return fail(err, "setting the transcript of lecture %q", id)
}

// DeleteLecture removes the lecture's row, transcript text and shares.
func (db *DB) DeleteLecture(ctx context.Context, id string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, `DELETE FROM lectures WHERE id = ? RETURNING seq`, id).Scan(&seq); errors.Is(err, sql.ErrNoRows) {
			return notFound("lecture", id)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM lecture_fts WHERE rowid = ?`, seq); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM shares WHERE lecture_id = ?`, id)
		return err
	})
	return fail(err, "deleting lecture %q", id)
}

func (db *DB) CountActive(ctx context.Context, owner string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM lectures WHERE owner = ? AND status IN (?, ?)`,
		owner, string(lecture.StatusUploaded), string(lecture.StatusProcessing)).Scan(&n)
	return n, fail(err, "counting active lectures")
}

// ---- usage

// AddUsage adds delta to the counter's window in one statement (the single
// writer serialises them) and returns the new value; past a positive limit
// nothing is added and the error is catalogue.ErrQuota. A negative delta
// (a refund) is never refused.
func (db *DB) AddUsage(ctx context.Context, userID, counter string, window time.Time, delta, limit float64) (float64, error) {
	if limit > 0 && delta > limit {
		return 0, catalogue.ErrQuota
	}
	var v float64
	err := db.w.QueryRowContext(ctx, `INSERT INTO usage (user_id, counter, window_start, value) VALUES (?, ?, ?, ?)
ON CONFLICT (user_id, counter, window_start) DO UPDATE SET value = usage.value + excluded.value
	WHERE ? <= 0 OR excluded.value <= 0 OR usage.value + excluded.value <= ?
RETURNING value`, userID, counter, window.UnixMicro(), delta, limit, limit).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, catalogue.ErrQuota
	}
	return v, fail(err, "adding usage")
}

// UsageSince returns the user's counters in windows starting at or after
// since, oldest window first.
func (db *DB) UsageSince(ctx context.Context, userID string, since time.Time) ([]catalogue.Usage, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT counter, window_start, value FROM usage WHERE user_id = ? AND window_start >= ? ORDER BY window_start, counter`, userID, since.UnixMicro())
	if err != nil {
		return nil, fail(err, "usage")
	}
	defer rows.Close()
	us := []catalogue.Usage{}
	for rows.Next() {
		u := catalogue.Usage{UserID: userID}
		var w int64
		if err := rows.Scan(&u.Counter, &w, &u.Value); err != nil {
			return nil, fail(err, "usage")
		}
		u.Window = time.UnixMicro(w).UTC()
		us = append(us, u)
	}
	return us, fail(rows.Err(), "usage")
}

// ---- audit

// Audit appends e; a zero At is now.
func (db *DB) Audit(ctx context.Context, e catalogue.AuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO audit (at, actor, action, target, remote, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		e.At.UnixMicro(), e.Actor, e.Action, e.Target, e.Remote, e.Detail)
	return fail(err, "audit")
}

// ListAudit returns entries newest first (at, then id); Limit defaults to
// 100 and is at most 1000.
func (db *DB) ListAudit(ctx context.Context, q catalogue.AuditQuery) ([]catalogue.AuditEntry, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	var where []string
	var args []any
	if q.Actor != "" {
		where = append(where, `actor = ?`)
		args = append(args, q.Actor)
	}
	if q.Action != "" {
		where = append(where, `action = ?`)
		args = append(args, q.Action)
	}
	if !q.Since.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, q.Since.UnixMicro())
	}
	query := `SELECT id, at, actor, action, target, remote, detail FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fail(err, "listing audit")
	}
	defer rows.Close()
	es := []catalogue.AuditEntry{}
	for rows.Next() {
		var e catalogue.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Remote, &e.Detail); err != nil {
			return nil, fail(err, "listing audit")
		}
		e.At = time.UnixMicro(at).UTC()
		es = append(es, e)
	}
	return es, fail(rows.Err(), "listing audit")
}
