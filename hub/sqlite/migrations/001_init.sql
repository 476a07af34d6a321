-- The hub's own keys: one row, made on first start.
CREATE TABLE hub_keys (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	seal_pub   BLOB NOT NULL,
	seal_priv  BLOB NOT NULL,
	sign_pub   BLOB NOT NULL,
	sign_priv  BLOB NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

-- Configuration as a sequenced log of catalog snapshots; the newest is current.
CREATE TABLE config_log (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	catalog    TEXT NOT NULL,
	created_at TEXT NOT NULL
) STRICT;

-- One-time enrollment codes (only their hashes).
CREATE TABLE enrollments (
	code_hash  TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	touchpoint TEXT NOT NULL,
	created_at TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	used_at    TEXT,
	device_id  TEXT
) STRICT;

CREATE TABLE devices (
	id               TEXT PRIMARY KEY,
	name             TEXT NOT NULL,
	touchpoint       TEXT NOT NULL,
	sign_key         BLOB NOT NULL,
	token_hash       TEXT NOT NULL UNIQUE,
	enrollment       TEXT NOT NULL, -- JSON: the enrollment record, for proof bundles
	enrolled_at      TEXT NOT NULL,
	revoked_at       TEXT,
	last_seen        TEXT,
	clock_offset_ms  INTEGER NOT NULL DEFAULT 0,
	pending_reported INTEGER NOT NULL DEFAULT 0,
	config_seq       INTEGER NOT NULL DEFAULT 0,
	app_version      TEXT NOT NULL DEFAULT ''
) STRICT;

-- API bearer tokens (only their hashes).
CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	hash       TEXT NOT NULL UNIQUE,
	scope      TEXT NOT NULL CHECK (scope IN ('admin', 'read', 'check')),
	created_at TEXT NOT NULL,
	revoked_at TEXT
) STRICT;

-- Every accepted record, exactly once per id. cursor orders the events feed.
CREATE TABLE events (
	cursor          INTEGER PRIMARY KEY AUTOINCREMENT,
	id              TEXT NOT NULL UNIQUE,
	collector       TEXT NOT NULL,
	epoch           TEXT NOT NULL,
	seq             INTEGER NOT NULL,
	kind            TEXT NOT NULL,
	envelope        BLOB NOT NULL,
	sig             BLOB NOT NULL,
	hash            TEXT NOT NULL,
	payload         BLOB,
	captured_at     TEXT NOT NULL,
	hlc             TEXT NOT NULL,
	received_at     TEXT NOT NULL,
	corrected_at    TEXT NOT NULL,
	clock_offset_ms INTEGER NOT NULL,
	flags           TEXT NOT NULL DEFAULT '',
	countersig      BLOB NOT NULL
) STRICT;
CREATE INDEX events_stream ON events (collector, epoch, seq);

-- The per-device chains: one record per (collector, epoch, seq). A second
-- record claiming a taken position is a fork: it is kept in events and
-- listed in forks, never overwriting the first.
CREATE TABLE chain (
	collector TEXT NOT NULL,
	epoch     TEXT NOT NULL,
	seq       INTEGER NOT NULL,
	event_id  TEXT NOT NULL,
	hash      TEXT NOT NULL,
	PRIMARY KEY (collector, epoch, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE forks (
	id          INTEGER PRIMARY KEY,
	collector   TEXT NOT NULL,
	epoch       TEXT NOT NULL,
	seq         INTEGER NOT NULL,
	event_id    TEXT NOT NULL UNIQUE,
	first_id    TEXT NOT NULL,
	detected_at TEXT NOT NULL
) STRICT;

-- A known id arriving with different content: evidence, never applied.
CREATE TABLE conflicts (
	id          INTEGER PRIMARY KEY,
	event_id    TEXT NOT NULL,
	collector   TEXT NOT NULL,
	envelope    BLOB NOT NULL,
	sig         BLOB NOT NULL,
	hash        TEXT NOT NULL,
	received_at TEXT NOT NULL,
	UNIQUE (event_id, hash)
) STRICT;

-- Records refused, with the reason; they never block the rest.
CREATE TABLE quarantine (
	id          INTEGER PRIMARY KEY,
	collector   TEXT NOT NULL,
	epoch       TEXT,
	seq         INTEGER,
	record_id   TEXT,
	hash        TEXT NOT NULL,
	code        TEXT NOT NULL,
	reason      TEXT NOT NULL,
	envelope    BLOB NOT NULL,
	sig         BLOB NOT NULL,
	received_at TEXT NOT NULL,
	UNIQUE (collector, hash)
) STRICT;

-- Per device and epoch: how far the hub has committed, and chain health.
CREATE TABLE streams (
	collector TEXT NOT NULL,
	epoch     TEXT NOT NULL,
	through   INTEGER NOT NULL DEFAULT 0,
	hash      TEXT NOT NULL DEFAULT '',
	received  INTEGER NOT NULL DEFAULT 0,
	gaps      TEXT NOT NULL DEFAULT '[]',
	forks     INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (collector, epoch)
) STRICT;
