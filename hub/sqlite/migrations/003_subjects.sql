-- Subjects: people as matched from the records' identifiers. root is the
-- subject this one currently belongs to through merges (itself when none);
-- merges are links in the merges table, and root follows them.
CREATE TABLE subjects (
	id         TEXT PRIMARY KEY,
	root       TEXT NOT NULL,
	created_at TEXT NOT NULL,
	name_gk    TEXT NOT NULL DEFAULT '', -- blocking keys for similar-name suggestions
	name_fk    TEXT NOT NULL DEFAULT '',
	full_name  TEXT NOT NULL DEFAULT ''  -- folded "given family"
) STRICT;
CREATE INDEX subjects_root ON subjects (root);
CREATE INDEX subjects_gk ON subjects (name_gk);
CREATE INDEX subjects_fk ON subjects (name_fk);

-- Normalised identifiers (email, E.164 phone); one subject each. Equal
-- identifiers are the same person; folded emails only suggest it.
CREATE TABLE identifiers (
	kind       TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
	value      TEXT NOT NULL,
	subject_id TEXT NOT NULL,
	folded     TEXT,
	event_id   TEXT NOT NULL, -- the record it was first seen in
	PRIMARY KEY (kind, value)
) STRICT, WITHOUT ROWID;
CREATE INDEX identifiers_subject ON identifiers (subject_id);
CREATE INDEX identifiers_folded ON identifiers (folded) WHERE folded IS NOT NULL;

-- Which subject each event is about.
CREATE TABLE subject_events (
	event_id   TEXT PRIMARY KEY,
	subject_id TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX subject_events_subject ON subject_events (subject_id);

-- The consent history: every choice, one row per event and purpose.
CREATE TABLE facts (
	subject_id     TEXT NOT NULL,
	purpose        TEXT NOT NULL,
	event_id       TEXT NOT NULL,
	kind           TEXT NOT NULL,
	effect         TEXT NOT NULL CHECK (effect IN ('grant', 'deny')),
	at             TEXT NOT NULL, -- hub-corrected time
	hlc            INTEGER NOT NULL,
	collector      TEXT NOT NULL,
	seq            INTEGER NOT NULL,
	suspect        INTEGER NOT NULL,
	retention_days INTEGER NOT NULL,
	touchpoint     TEXT NOT NULL,
	PRIMARY KEY (subject_id, purpose, event_id)
) STRICT, WITHOUT ROWID;

-- The deciding fact per root subject and purpose, derived from facts, and
-- the sort key of the latest fact (a fact sorting after it is folded in
-- directly; an earlier one makes the hub decide again from the history).
CREATE TABLE consent_state (
	subject_id     TEXT NOT NULL,
	purpose        TEXT NOT NULL,
	effect         TEXT NOT NULL,
	event_id       TEXT NOT NULL,
	at             TEXT NOT NULL,
	suspect        INTEGER NOT NULL,
	retention_days INTEGER NOT NULL,
	last_at        TEXT NOT NULL,
	last_hlc       INTEGER NOT NULL,
	last_collector TEXT NOT NULL,
	last_seq       INTEGER NOT NULL,
	last_event     TEXT NOT NULL,
	PRIMARY KEY (subject_id, purpose)
) STRICT, WITHOUT ROWID;

-- Merges: links with provenance. Undoing one sets undone_at; rows stay.
CREATE TABLE merges (
	id         INTEGER PRIMARY KEY,
	into_id    TEXT NOT NULL,
	from_id    TEXT NOT NULL,
	reason     TEXT NOT NULL,
	by         TEXT NOT NULL,
	created_at TEXT NOT NULL,
	undone_at  TEXT,
	undone_by  TEXT
) STRICT;
CREATE INDEX merges_from ON merges (from_id) WHERE undone_at IS NULL;

-- Possible matches for a person to review; never merged by themselves.
CREATE TABLE suggestions (
	id          INTEGER PRIMARY KEY,
	subject_a   TEXT NOT NULL,
	subject_b   TEXT NOT NULL,
	reason      TEXT NOT NULL,
	score       REAL NOT NULL DEFAULT 0,
	created_at  TEXT NOT NULL,
	resolved_at TEXT,
	resolution  TEXT CHECK (resolution IN ('merged', 'rejected')),
	resolved_by TEXT,
	UNIQUE (subject_a, subject_b, reason)
) STRICT;
