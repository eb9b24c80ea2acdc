-- The catalogue's first schema. Times are INTEGER microseconds since the
-- Unix epoch (UTC); NULL is the zero time.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	email         TEXT NOT NULL UNIQUE,
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	oidc_subject  TEXT UNIQUE, -- NULL when not set
	disabled      INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER
);

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL DEFAULT '',
	prefix       TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL UNIQUE,
	created_at   INTEGER,
	expires_at   INTEGER,
	revoked_at   INTEGER,
	last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf       TEXT NOT NULL DEFAULT '',
	created_at INTEGER,
	expires_at INTEGER,
	remote     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

-- seq is the stable rowid the full-text index refers to.
CREATE TABLE lectures (
	seq           INTEGER PRIMARY KEY,
	id            TEXT NOT NULL UNIQUE,
	owner         TEXT NOT NULL DEFAULT '',
	title         TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL DEFAULT '',
	stage         TEXT NOT NULL DEFAULT '',
	error         TEXT NOT NULL DEFAULT '',
	media_type    TEXT NOT NULL DEFAULT '',
	bytes         INTEGER NOT NULL DEFAULT 0,
	seconds       REAL NOT NULL DEFAULT 0,
	media_seconds REAL NOT NULL DEFAULT 0,
	words         INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER
);
CREATE INDEX lectures_owner_created ON lectures (owner, created_at DESC, id DESC);
CREATE INDEX lectures_created ON lectures (created_at DESC, id DESC);
CREATE INDEX lectures_owner_status ON lectures (owner, status);

-- Title and transcript text, rowid = lectures.seq. The unicode61 tokenizer
-- folds case and keeps diacritics, like PostgreSQL's 'simple' configuration.
CREATE VIRTUAL TABLE lecture_fts USING fts5 (title, body, tokenize = 'unicode61 remove_diacritics 0');

CREATE TABLE shares (
	id         TEXT PRIMARY KEY,
	lecture_id TEXT NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	hash       TEXT NOT NULL UNIQUE,
	created_at INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
);
CREATE INDEX shares_lecture ON shares (lecture_id);

CREATE TABLE usage (
	user_id      TEXT NOT NULL,
	counter      TEXT NOT NULL,
	window_start INTEGER NOT NULL,
	value        REAL NOT NULL,
	PRIMARY KEY (user_id, counter, window_start)
) WITHOUT ROWID;
CREATE INDEX usage_user_window ON usage (user_id, window_start);

CREATE TABLE audit (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	at     INTEGER NOT NULL,
	actor  TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL DEFAULT '',
	target TEXT NOT NULL DEFAULT '',
	remote TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at DESC, id DESC);
CREATE INDEX audit_actor ON audit (actor, at DESC, id DESC);
CREATE INDEX audit_action ON audit (action, at DESC, id DESC);
