-- Rights requests (GDPR Art. 15-21) and their audit trail. ident_value and
-- details go when the subject is erased; ident_hash (a keyed hash) stays.
CREATE TABLE requests (
	id          TEXT PRIMARY KEY,
	kind        TEXT NOT NULL CHECK (kind IN ('access', 'erasure', 'portability', 'objection', 'rectification')),
	state       TEXT NOT NULL CHECK (state IN ('open', 'in_progress', 'done', 'refused')),
	ident_kind  TEXT NOT NULL DEFAULT '',
	ident_value TEXT NOT NULL DEFAULT '',
	ident_hash  TEXT NOT NULL DEFAULT '',
	subject_id  TEXT NOT NULL DEFAULT '',
	channel     TEXT NOT NULL,
	details     TEXT NOT NULL DEFAULT '',
	received_at TEXT NOT NULL,
	due_on      TEXT NOT NULL, -- YYYY-MM-DD in the controller's time zone
	extended    TEXT NOT NULL DEFAULT '',
	closed_at   TEXT,
	outcome     TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX requests_queue ON requests (due_on, received_at, id);
CREATE INDEX requests_subject ON requests (subject_id);

CREATE TABLE request_steps (
	id         INTEGER PRIMARY KEY,
	request_id TEXT NOT NULL,
	at         TEXT NOT NULL,
	by         TEXT NOT NULL,
	action     TEXT NOT NULL,
	state      TEXT NOT NULL,
	note       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX request_steps_request ON request_steps (request_id, id);

-- Corrections a rectification recorded: an overlay with provenance; the
-- signed records are never rewritten.
CREATE TABLE corrections (
	id         INTEGER PRIMARY KEY,
	subject_id TEXT NOT NULL,
	request_id TEXT NOT NULL,
	correction TEXT NOT NULL,
	by         TEXT NOT NULL,
	at         TEXT NOT NULL
) STRICT;
CREATE INDEX corrections_subject ON corrections (subject_id);

-- Tombstones: a subject whose personal data was erased. What stays about
-- them is pseudonymous: ids, hashes, times, purposes and decisions.
CREATE TABLE erasures (
	subject_id TEXT PRIMARY KEY,
	erased_at  TEXT NOT NULL,
	reason     TEXT NOT NULL, -- "request" or "retention"
	request_id TEXT NOT NULL DEFAULT '',
	events     INTEGER NOT NULL
) STRICT;

-- Keyed hashes (HMAC-SHA256 with a hub secret) of erased identifiers, so
-- the hub can answer "erased on …" when asked with the same address, while
-- the table is no rainbow-table lookup for anyone without the key.
CREATE TABLE erased_identifiers (
	hash       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	subject_id TEXT NOT NULL,
	PRIMARY KEY (hash, subject_id)
) STRICT, WITHOUT ROWID;

-- An erased record keeps its signatures, hash and countersignature; its
-- envelope loses the sealed payload (payload_sha256 moves here).
ALTER TABLE events ADD COLUMN erased_at TEXT;
ALTER TABLE events ADD COLUMN erased_payload_sha256 TEXT;

-- Consents the retention sweep found past their purpose's retention.
CREATE TABLE expiries (
	subject_id TEXT NOT NULL,
	purpose    TEXT NOT NULL,
	event_id   TEXT NOT NULL,
	expired_at TEXT NOT NULL,
	recorded_at TEXT NOT NULL,
	PRIMARY KEY (subject_id, purpose, event_id)
) STRICT, WITHOUT ROWID;

-- Each retention sweep that changed (or could have changed) something.
CREATE TABLE retention_runs (
	id          INTEGER PRIMARY KEY,
	started_at  TEXT NOT NULL,
	finished_at TEXT NOT NULL,
	by          TEXT NOT NULL,
	expired     INTEGER NOT NULL,
	anonymised  INTEGER NOT NULL
) STRICT;
