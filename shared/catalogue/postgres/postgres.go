// Package postgres is the catalogue on PostgreSQL (the cluster's
// database), through a pgx connection pool.
//
// Migrations (migrations/*.sql, embedded) are applied at Open under a
// session advisory lock, so replicas starting at once apply each exactly
// once; each is recorded in schema_migrations with its time.
//
// Full-text search: lectures.tsv is the title (weight A) and the
// transcript in the 'simple' text-search configuration (lower-cased words,
// no stemming, no stop words: lectures come in any language, and it finds
// what SQLite's FTS5 unicode61 finds), with a GIN index. A query is read
// with plainto_tsquery('simple', q): every word must occur. A search reads
// the matches from the GIN index only (see ListLectures). PutLecture
// recomputes tsv only when the title changes, SetTranscript when the text
// does, so status updates do not re-parse transcripts.
//
// AddUsage is one INSERT … ON CONFLICT DO UPDATE … WHERE statement: the row
// lock serialises concurrent calls and the limit is checked on the value
// the lock holder sees.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/transcept/transcept/shared/catalogue"
	"github.com/transcept/transcept/shared/lecture"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key held while migrating.
const migrationLock = 0x7472616e73636570 // "transcep"

// DB is the PostgreSQL catalogue.
type DB struct {
	pool *pgxpool.Pool
}

var _ catalogue.Catalogue = (*DB)(nil)

// Open connects to the database at url (postgres://…; pgxpool's settings
// such as pool_max_conns may be added as URL parameters) and applies the
// migrations it lacks.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, lecture.Wrap(lecture.EINVALID, err, "postgres catalogue: invalid database URL")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, lecture.Wrap(lecture.EUNAVAILABLE, err, "postgres catalogue: connecting to %s", cfg.ConnConfig.Host)
	}
	db := &DB{pool: pool}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

func (db *DB) migrate(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "postgres catalogue: connecting")
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLock)); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "postgres catalogue: taking the migration lock")
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "postgres catalogue: schema_migrations")
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return lecture.Wrap(lecture.EINTERNAL, err, "postgres catalogue: migrations")
	}
	sort.Strings(names)
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return lecture.Errorf(lecture.EINTERNAL, "postgres catalogue: migration %s: no version number", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return lecture.Wrap(lecture.EINTERNAL, err, "postgres catalogue: migration %s", base)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, v).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, v)
			return err
		})
		if err != nil {
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "postgres catalogue: applying migration %s", base)
		}
	}
	return nil
}

// Migrations returns the versions recorded in schema_migrations, in order.
func (db *DB) Migrations(ctx context.Context) ([]int, error) {
	rows, err := db.pool.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fail(err, "listing migrations")
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	return vs, fail(err, "listing migrations")
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
	msg := "postgres catalogue: " + fmt.Sprintf(format, args...)
	if errors.Is(err, pgx.ErrNoRows) {
		return lecture.Wrap(lecture.ENOTFOUND, err, "%s: not found", msg)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return lecture.Wrap(lecture.ECONFLICT, err, "%s: already exists", msg)
		case "23503": // foreign_key_violation
			return lecture.Wrap(lecture.ENOTFOUND, err, "%s: no such user", msg)
		case "57P01", "57P02", "57P03", "53300", "40001", "40P01": // shutdown, too many connections, serialization, deadlock
			return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s", msg)
		}
		return lecture.Wrap(lecture.EINTERNAL, err, "%s", msg)
	}
	// The connection: down, refused, reset, timed out, cancelled.
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return lecture.Wrap(lecture.EUNAVAILABLE, err, "%s", msg)
	}
	return lecture.Wrap(lecture.EINTERNAL, err, "%s", msg)
}

func notFound(what, id string) error {
	return lecture.Errorf(lecture.ENOTFOUND, "%s %q not found", what, id)
}

// Times: timestamptz at microsecond precision, NULL for the zero time.

func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Truncate(time.Microsecond)
}

func ft(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
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

// affected returns ENOTFOUND when tag changed no row.
func affected(tag pgconn.CommandTag, err error, what, id string) error {
	if err != nil {
		return fail(err, "%s %q", what, id)
	}
	if tag.RowsAffected() == 0 {
		return notFound(what, id)
	}
	return nil
}

// ---- users

const userCols = `u.id, u.email, u.role, u.password_hash, coalesce(u.oidc_subject, ''), u.disabled, u.created_at`

func scanUser(s pgx.Row, u *catalogue.User, extra ...any) error {
	var created pgtype.Timestamptz
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
	_, err := db.pool.Exec(ctx, `INSERT INTO users (id, email, role, password_hash, oidc_subject, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		u.ID, strings.ToLower(u.Email), string(u.Role), u.PasswordHash, nullStr(u.OIDCSubject), u.Disabled, tv(orNow(u.CreatedAt)))
	return fail(err, "creating user %q", u.Email)
}

func (db *DB) userBy(ctx context.Context, col, v string) (catalogue.User, error) {
	var u catalogue.User
	err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.`+col+` = $1`, v), &u)
	if errors.Is(err, pgx.ErrNoRows) {
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
	tag, err := db.pool.Exec(ctx, `UPDATE users SET email = $1, role = $2, password_hash = $3, oidc_subject = $4, disabled = $5 WHERE id = $6`,
		strings.ToLower(u.Email), string(u.Role), u.PasswordHash, nullStr(u.OIDCSubject), u.Disabled, u.ID)
	return affected(tag, err, "user", u.ID)
}

// ListUsers returns every user, oldest first.
func (db *DB) ListUsers(ctx context.Context) ([]catalogue.User, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+userCols+` FROM users u ORDER BY u.created_at, u.id`)
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
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n)
	return n, fail(err, "counting users")
}

// ---- API keys

const keyCols = `k.id, k.user_id, k.name, k.prefix, k.hash, k.created_at, k.expires_at, k.revoked_at, k.last_used_at`

func keyDest(k *catalogue.APIKey, ts *[4]pgtype.Timestamptz) []any {
	return []any{&k.ID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, &ts[0], &ts[1], &ts[2], &ts[3]}
}

func keyTimes(k *catalogue.APIKey, ts *[4]pgtype.Timestamptz) {
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt = ft(ts[0]), ft(ts[1]), ft(ts[2]), ft(ts[3])
}

func (db *DB) CreateKey(ctx context.Context, k catalogue.APIKey) error {
	if k.ID == "" || k.UserID == "" || k.Hash == "" {
		return lecture.Errorf(lecture.EINVALID, "key: id, user and hash are required")
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at, expires_at, revoked_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		k.ID, k.UserID, k.Name, k.Prefix, k.Hash, tv(orNow(k.CreatedAt)), tv(k.ExpiresAt), tv(k.RevokedAt), tv(k.LastUsedAt))
	return fail(err, "creating key %q of user %q", k.ID, k.UserID)
}

func (db *DB) KeyByHash(ctx context.Context, hash string) (catalogue.APIKey, catalogue.User, error) {
	var k catalogue.APIKey
	var u catalogue.User
	var ts [4]pgtype.Timestamptz
	err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+`, `+keyCols+` FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.hash = $1`, hash), &u, keyDest(&k, &ts)...)
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := db.pool.Query(ctx, `SELECT `+keyCols+` FROM api_keys k WHERE k.user_id = $1 ORDER BY k.created_at DESC, k.id DESC`, userID)
	if err != nil {
		return nil, fail(err, "listing keys")
	}
	defer rows.Close()
	ks := []catalogue.APIKey{}
	for rows.Next() {
		var k catalogue.APIKey
		var ts [4]pgtype.Timestamptz
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
	tag, err := db.pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 AND user_id = $3`, tv(orNow(at)), keyID, userID)
	return affected(tag, err, "key", keyID)
}

func (db *DB) TouchKey(ctx context.Context, keyID string, at time.Time) error {
	tag, err := db.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2`, tv(orNow(at)), keyID)
	return affected(tag, err, "key", keyID)
}

// ---- sessions

func (db *DB) CreateSession(ctx context.Context, s catalogue.Session) error {
	if s.ID == "" || s.UserID == "" {
		return lecture.Errorf(lecture.EINVALID, "session: id and user are required")
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO sessions (id, user_id, csrf, created_at, expires_at, remote) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.ID, s.UserID, s.CSRF, tv(orNow(s.CreatedAt)), tv(s.ExpiresAt), s.Remote)
	return fail(err, "creating session of user %q", s.UserID)
}

func (db *DB) SessionByID(ctx context.Context, id string) (catalogue.Session, catalogue.User, error) {
	var s catalogue.Session
	var u catalogue.User
	var created, expires pgtype.Timestamptz
	err := scanUser(db.pool.QueryRow(ctx, `SELECT `+userCols+`, s.id, s.user_id, s.csrf, s.created_at, s.expires_at, s.remote FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`, id),
		&u, &s.ID, &s.UserID, &s.CSRF, &created, &expires, &s.Remote)
	if errors.Is(err, pgx.ErrNoRows) {
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
	_, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return fail(err, "deleting session")
}

func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	_, err := db.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	return fail(err, "deleting sessions of user %q", userID)
}

// ---- shares

const shareCols = `id, lecture_id, created_by, hash, created_at, expires_at, revoked_at`

func scanShare(s pgx.Row, sh *catalogue.Share) error {
	var ts [3]pgtype.Timestamptz
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
	_, err := db.pool.Exec(ctx, `INSERT INTO shares (`+shareCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.ID, s.LectureID, s.CreatedBy, s.Hash, tv(orNow(s.CreatedAt)), tv(s.ExpiresAt), tv(s.RevokedAt))
	return fail(err, "creating share of lecture %q", s.LectureID)
}

func (db *DB) ShareByHash(ctx context.Context, hash string) (catalogue.Share, error) {
	var s catalogue.Share
	err := scanShare(db.pool.QueryRow(ctx, `SELECT `+shareCols+` FROM shares WHERE hash = $1`, hash), &s)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, lecture.Errorf(lecture.ENOTFOUND, "share not found")
	}
	return s, fail(err, "share by hash")
}

// ListShares returns the lecture's shares, newest first.
func (db *DB) ListShares(ctx context.Context, lectureID string) ([]catalogue.Share, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+shareCols+` FROM shares WHERE lecture_id = $1 ORDER BY created_at DESC, id DESC`, lectureID)
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
	tag, err := db.pool.Exec(ctx, `UPDATE shares SET revoked_at = coalesce(revoked_at, $1) WHERE id = $2 AND lecture_id = $3`, tv(orNow(at)), shareID, lectureID)
	return affected(tag, err, "share", shareID)
}

// ---- lectures

const lectureCols = `id, owner, title, status, stage, error, media_type, bytes, seconds, media_seconds, words, created_at, updated_at`

func scanLecture(s pgx.Row, l *catalogue.Lecture) error {
	var created, updated pgtype.Timestamptz
	var status string
	var words int64
	if err := s.Scan(&l.ID, &l.Owner, &l.Title, &status, &l.Stage, &l.Error, &l.MediaType, &l.Bytes, &l.Seconds, &l.MediaSeconds, &words, &created, &updated); err != nil {
		return err
	}
	l.Words = int(words)
	l.Status = lecture.Status(status)
	l.CreatedAt, l.UpdatedAt = ft(created), ft(updated)
	return nil
}

// titleTSV is a title's part of the document.
const titleTSV = `setweight(to_tsvector('simple', %s), 'A')`

// PutLecture inserts or updates the lecture's row. An update keeps the
// stored Owner and CreatedAt when l leaves them empty; a zero CreatedAt of
// a new row (or UpdatedAt of any) is now.
func (db *DB) PutLecture(ctx context.Context, l catalogue.Lecture) error {
	if l.ID == "" {
		return lecture.Errorf(lecture.EINVALID, "lecture: id is required")
	}
	keepCreated := l.CreatedAt.IsZero()
	_, err := db.pool.Exec(ctx, `INSERT INTO lectures (`+lectureCols+`, tsv)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, `+fmt.Sprintf(titleTSV, "$3::text")+`)
ON CONFLICT (id) DO UPDATE SET
	owner = CASE WHEN excluded.owner = '' THEN lectures.owner ELSE excluded.owner END,
	title = excluded.title, status = excluded.status, stage = excluded.stage, error = excluded.error,
	media_type = excluded.media_type, bytes = excluded.bytes, seconds = excluded.seconds,
	media_seconds = excluded.media_seconds, words = excluded.words,
	created_at = CASE WHEN $14::boolean THEN lectures.created_at ELSE excluded.created_at END,
	updated_at = excluded.updated_at,
	tsv = CASE WHEN lectures.title = excluded.title THEN lectures.tsv
		ELSE `+fmt.Sprintf(titleTSV, "excluded.title")+` || coalesce((SELECT to_tsvector('simple', t.text) FROM lecture_text t WHERE t.id = excluded.id), ''::tsvector) END`,
		l.ID, l.Owner, l.Title, string(l.Status), l.Stage, l.Error, l.MediaType, l.Bytes, l.Seconds, l.MediaSeconds, int64(l.Words),
		tv(orNow(l.CreatedAt)), tv(orNow(l.UpdatedAt)), keepCreated)
	return fail(err, "putting lecture %q", l.ID)
}

func (db *DB) GetLecture(ctx context.Context, id string) (catalogue.Lecture, error) {
	var l catalogue.Lecture
	err := scanLecture(db.pool.QueryRow(ctx, `SELECT `+lectureCols+` FROM lectures WHERE id = $1`, id), &l)
	if errors.Is(err, pgx.ErrNoRows) {
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.All {
		where = append(where, `owner = `+arg(q.Owner))
	}
	if q.Cursor != "" {
		at, id, err := catalogue.DecodeCursor(q.Cursor)
		if err != nil {
			return page, err
		}
		where = append(where, `(created_at, id) < (`+arg(at)+`::timestamptz, `+arg(id)+`::text)`)
	}
	query := `SELECT ` + lectureCols + ` FROM lectures`
	search := strings.TrimSpace(q.Q) != ""
	if search {
		// The matching rows come from the GIN index alone: the planner
		// does not see what reading a transcript's (TOASTed) tsvector
		// costs, and would otherwise test every row of an owner's
		// lectures (20-40 ms for 1,000 transcripts instead of 1-2 ms).
		// The CTE is materialised and, with sequential and plain index
		// scans off in this transaction, can only be a bitmap scan of
		// lectures_tsv; owner, cursor and order apply to its rows.
		query = `WITH m AS MATERIALIZED (SELECT ` + lectureCols + ` FROM lectures WHERE tsv @@ plainto_tsquery('simple', ` + arg(q.Q) + `::text))
SELECT ` + lectureCols + ` FROM m`
	}
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(limit+1)
	if !search {
		rows, err := db.pool.Query(ctx, query, args...)
		if err != nil {
			return page, fail(err, "listing lectures")
		}
		return collectPage(rows, page, limit)
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		page, err = collectPage(rows, page, limit)
		return err
	})
	return page, fail(err, "searching lectures")
}

// collectPage reads up to limit lectures into page; a further row means
// a next page.
func collectPage(rows pgx.Rows, page catalogue.Page, limit int) (catalogue.Page, error) {
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

// SetTranscript replaces the lecture's searchable transcript text.
func (db *DB) SetTranscript(ctx context.Context, id, text string) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE lectures SET tsv = `+fmt.Sprintf(titleTSV, "title")+` || to_tsvector('simple', $2::text) WHERE id = $1`, id, text)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("lecture", id)
		}
		_, err = tx.Exec(ctx, `INSERT INTO lecture_text (id, text) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET text = excluded.text`, id, text)
		return err
	})
	return fail(err, "setting the transcript of lecture %q", id)
}

// DeleteLecture removes the lecture's row, transcript text and shares.
func (db *DB) DeleteLecture(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// lecture_text goes with the row (ON DELETE CASCADE).
		tag, err := tx.Exec(ctx, `DELETE FROM lectures WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("lecture", id)
		}
		_, err = tx.Exec(ctx, `DELETE FROM shares WHERE lecture_id = $1`, id)
		return err
	})
	return fail(err, "deleting lecture %q", id)
}

func (db *DB) CountActive(ctx context.Context, owner string) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM lectures WHERE owner = $1 AND status IN ($2, $3)`,
		owner, string(lecture.StatusUploaded), string(lecture.StatusProcessing)).Scan(&n)
	return n, fail(err, "counting active lectures")
}

// ---- usage

// AddUsage adds delta to the counter's window in one statement and returns
// the new value; past a positive limit nothing is added and the error is
// catalogue.ErrQuota. A negative delta (a refund) is never refused.
func (db *DB) AddUsage(ctx context.Context, userID, counter string, window time.Time, delta, limit float64) (float64, error) {
	if limit > 0 && delta > limit {
		return 0, catalogue.ErrQuota
	}
	var v float64
	err := db.pool.QueryRow(ctx, `INSERT INTO usage (user_id, counter, window_start, value) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, counter, window_start) DO UPDATE SET value = usage.value + excluded.value
	WHERE $5::double precision <= 0 OR excluded.value <= 0 OR usage.value + excluded.value <= $5::double precision
RETURNING value`, userID, counter, window.UTC().Truncate(time.Microsecond), delta, limit).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, catalogue.ErrQuota
	}
	return v, fail(err, "adding usage")
}

// UsageSince returns the user's counters in windows starting at or after
// since, oldest window first.
func (db *DB) UsageSince(ctx context.Context, userID string, since time.Time) ([]catalogue.Usage, error) {
	rows, err := db.pool.Query(ctx, `SELECT counter, window_start, value FROM usage WHERE user_id = $1 AND window_start >= $2 ORDER BY window_start, counter`, userID, since.UTC())
	if err != nil {
		return nil, fail(err, "usage")
	}
	defer rows.Close()
	us := []catalogue.Usage{}
	for rows.Next() {
		u := catalogue.Usage{UserID: userID}
		if err := rows.Scan(&u.Counter, &u.Window, &u.Value); err != nil {
			return nil, fail(err, "usage")
		}
		u.Window = u.Window.UTC()
		us = append(us, u)
	}
	return us, fail(rows.Err(), "usage")
}

// ---- audit

// Audit appends e; a zero At is now.
func (db *DB) Audit(ctx context.Context, e catalogue.AuditEntry) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO audit (at, actor, action, target, remote, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		tv(orNow(e.At)), e.Actor, e.Action, e.Target, e.Remote, e.Detail)
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.Actor != "" {
		where = append(where, `actor = `+arg(q.Actor))
	}
	if q.Action != "" {
		where = append(where, `action = `+arg(q.Action))
	}
	if !q.Since.IsZero() {
		where = append(where, `at >= `+arg(q.Since.UTC()))
	}
	query := `SELECT id, at, actor, action, target, remote, detail FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY at DESC, id DESC LIMIT ` + arg(limit)
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fail(err, "listing audit")
	}
	defer rows.Close()
	es := []catalogue.AuditEntry{}
	for rows.Next() {
		var e catalogue.AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.Remote, &e.Detail); err != nil {
			return nil, fail(err, "listing audit")
		}
		e.At = e.At.UTC()
		es = append(es, e)
	}
	return es, fail(rows.Err(), "listing audit")
}
