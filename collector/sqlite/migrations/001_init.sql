-- The device's identity after enrollment: one row.
CREATE TABLE identity (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	collector_id TEXT NOT NULL,
	name         TEXT NOT NULL,
	touchpoint   TEXT NOT NULL,
	sign_key     BLOB NOT NULL,
	token        TEXT NOT NULL,
	hub_url      TEXT NOT NULL,
	hub_seal_key BLOB NOT NULL,
	hub_sign_key BLOB NOT NULL,
	pin_hash     TEXT NOT NULL DEFAULT '',
	enrolled_at  TEXT NOT NULL
) STRICT;

-- Epochs of the outbox. The first is made with the database; a new one
-- starts whenever seq could otherwise repeat (a restored copy was detected).
CREATE TABLE epochs (
	ord        INTEGER PRIMARY KEY AUTOINCREMENT,
	epoch      TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL
) STRICT;
INSERT INTO epochs (epoch, created_at) VALUES (lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

-- Every record the device made, signed, in chain order. Personal data is
-- only inside the sealed blob of the envelope.
CREATE TABLE outbox (
	epoch_ord  INTEGER NOT NULL REFERENCES epochs (ord),
	seq        INTEGER NOT NULL,
	id         TEXT NOT NULL UNIQUE,
	kind       TEXT NOT NULL,
	envelope   BLOB NOT NULL,
	sig        BLOB NOT NULL,
	hash       TEXT NOT NULL,
	hlc        TEXT NOT NULL,
	created_at TEXT NOT NULL,
	acked_at   TEXT,
	rejected   TEXT,
	PRIMARY KEY (epoch_ord, seq)
) STRICT;
CREATE INDEX outbox_pending ON outbox (epoch_ord, seq) WHERE acked_at IS NULL;
CREATE INDEX outbox_created ON outbox (created_at);

-- The catalog applied from the hub: one row, replaced atomically.
CREATE TABLE config (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	seq        INTEGER NOT NULL,
	catalog    TEXT NOT NULL,
	applied_at TEXT NOT NULL
) STRICT;
