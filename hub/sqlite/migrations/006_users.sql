-- Dashboard users: argon2id hashes in PHC format, never passwords.
CREATE TABLE users (
	login      TEXT PRIMARY KEY,
	hash       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	last_login TEXT
) STRICT;

-- Dashboard sessions: id is the SHA-256 of the cookie's secret, so a copy
-- of the database signs nobody in. Expiry (idle and absolute) is decided
-- from created_at and seen_at.
CREATE TABLE sessions (
	id         TEXT PRIMARY KEY,
	login      TEXT NOT NULL REFERENCES users (login) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	seen_at    TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_login ON sessions (login);

-- Failed sign-ins per key ('login:<name>' or 'addr:<ip>'), for throttling.
-- In the database, not in memory, so every hub instance sees the same count.
CREATE TABLE login_throttle (
	key      TEXT PRIMARY KEY,
	failures INTEGER NOT NULL,
	last     TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- The dashboard's chart counts captures per day: read them by time.
CREATE INDEX events_corrected ON events (corrected_at);
