-- The catalogue's first schema. Times are timestamptz (microseconds); NULL
-- is the zero time. Ids compare bytewise (COLLATE "C"), as in SQLite, so the
-- id tie-break of ListLectures is the same whatever the database's locale.

CREATE TABLE users (
	id            text COLLATE "C" PRIMARY KEY,
	email         text NOT NULL UNIQUE,
	role          text NOT NULL,
	password_hash text NOT NULL DEFAULT '',
	oidc_subject  text UNIQUE, -- NULL when not set
	disabled      boolean NOT NULL DEFAULT false,
	created_at    timestamptz
);

CREATE TABLE api_keys (
	id           text COLLATE "C" PRIMARY KEY,
	user_id      text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         text NOT NULL DEFAULT '',
	prefix       text NOT NULL DEFAULT '',
	hash         text NOT NULL UNIQUE,
	created_at   timestamptz,
	expires_at   timestamptz,
	revoked_at   timestamptz,
	last_used_at timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE sessions (
	id         text PRIMARY KEY,
	user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	csrf       text NOT NULL DEFAULT '',
	created_at timestamptz,
	expires_at timestamptz,
	remote     text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);

-- tsv is the full-text document: the title (weight A) and the transcript
-- (lecture_text), in the 'simple' configuration: lower-cased words, no
-- stemming and no stop words, whatever the lecture's language. PutLecture
-- recomputes it when the title changes, SetTranscript when the text does.
CREATE TABLE lectures (
	id            text COLLATE "C" PRIMARY KEY,
	owner         text COLLATE "C" NOT NULL DEFAULT '',
	title         text NOT NULL DEFAULT '',
	status        text NOT NULL DEFAULT '',
	stage         text NOT NULL DEFAULT '',
	error         text NOT NULL DEFAULT '',
	media_type    text NOT NULL DEFAULT '',
	bytes         bigint NOT NULL DEFAULT 0,
	seconds       double precision NOT NULL DEFAULT 0,
	media_seconds double precision NOT NULL DEFAULT 0,
	words         bigint NOT NULL DEFAULT 0,
	created_at    timestamptz NOT NULL,
	updated_at    timestamptz,
	tsv           tsvector NOT NULL DEFAULT ''::tsvector
);
CREATE INDEX lectures_owner_created ON lectures (owner, created_at DESC, id DESC);
CREATE INDEX lectures_created ON lectures (created_at DESC, id DESC);
CREATE INDEX lectures_owner_status ON lectures (owner, status);
CREATE INDEX lectures_tsv ON lectures USING gin (tsv);

CREATE TABLE lecture_text (
	id   text COLLATE "C" PRIMARY KEY REFERENCES lectures (id) ON DELETE CASCADE,
	text text NOT NULL
);

CREATE TABLE shares (
	id         text COLLATE "C" PRIMARY KEY,
	lecture_id text COLLATE "C" NOT NULL,
	created_by text NOT NULL DEFAULT '',
	hash       text NOT NULL UNIQUE,
	created_at timestamptz,
	expires_at timestamptz,
	revoked_at timestamptz
);
CREATE INDEX shares_lecture ON shares (lecture_id);

CREATE TABLE usage (
	user_id      text COLLATE "C" NOT NULL,
	counter      text COLLATE "C" NOT NULL,
	window_start timestamptz NOT NULL,
	value        double precision NOT NULL,
	PRIMARY KEY (user_id, counter, window_start)
);
CREATE INDEX usage_user_window ON usage (user_id, window_start);

CREATE TABLE audit (
	id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at     timestamptz NOT NULL,
	actor  text NOT NULL DEFAULT '',
	action text NOT NULL DEFAULT '',
	target text NOT NULL DEFAULT '',
	remote text NOT NULL DEFAULT '',
	detail text NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at DESC, id DESC);
CREATE INDEX audit_actor ON audit (actor, at DESC, id DESC);
CREATE INDEX audit_action ON audit (action, at DESC, id DESC);
