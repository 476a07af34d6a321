-- Receipt tokens (hashed) of consents, for the visitor's receipt page.
CREATE TABLE receipts (
	token_hash TEXT PRIMARY KEY,
	event_id   TEXT NOT NULL UNIQUE
) STRICT;

-- Events that reference another (a withdrawal of a consent, a notice view of it).
CREATE INDEX events_ref ON events (json_extract(envelope, '$.ref')) WHERE json_extract(envelope, '$.ref') IS NOT NULL;
