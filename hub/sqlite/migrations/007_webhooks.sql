-- Webhooks: receivers of the change feed (notifications), each with its own
-- durable cursor, and a log of every delivery attempt.
CREATE TABLE webhooks (
	id            TEXT PRIMARY KEY,
	url           TEXT NOT NULL,
	events        TEXT NOT NULL, -- comma-separated notification types
	description   TEXT NOT NULL DEFAULT '',
	secret        TEXT NOT NULL, -- the HMAC key; needed in clear to sign
	old_secret    TEXT,          -- the key before the last rotation, also signing until old_until
	old_until     TEXT,
	created_at    TEXT NOT NULL,
	cursor        INTEGER NOT NULL, -- last notification seq delivered or passed
	paused_at     TEXT,
	paused_seq    INTEGER,
	paused_reason TEXT
) STRICT;

CREATE TABLE webhook_deliveries (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	webhook_id   TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
	seq          INTEGER NOT NULL,
	type         TEXT NOT NULL,
	attempt      INTEGER NOT NULL,
	attempted_at TEXT NOT NULL,
	status_code  INTEGER NOT NULL, -- 0: no answer
	error        TEXT NOT NULL,
	duration_ms  INTEGER NOT NULL,
	outcome      TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed', 'skipped'))
) STRICT;

CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (attempted_at);
