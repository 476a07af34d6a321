-- The change feed (a transactional outbox): every change head office
-- systems hear about is written here in the same transaction as the change.
-- Webhook deliveries read from it in seq order.
CREATE TABLE notifications (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	type       TEXT NOT NULL,
	subject_id TEXT,
	created_at TEXT NOT NULL,
	data       TEXT NOT NULL
) STRICT;
