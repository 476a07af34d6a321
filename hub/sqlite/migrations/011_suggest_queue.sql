-- Name and folded-email suggestions are made after ingest commits, beside
-- the one writer instead of on it: ingest queues each record that made a
-- subject or added an email, and the suggestion worker (Store.Suggest)
-- works the queue off in ingest order, deleting each entry in the
-- transaction that writes its suggestions (once, crash or not).
CREATE TABLE suggest_queue (
	seq         INTEGER PRIMARY KEY, -- ingest order
	subject_id  TEXT NOT NULL,
	event_id    TEXT NOT NULL,       -- its new emails are the identifiers it was first seen in
	new_subject INTEGER NOT NULL     -- the record made the subject: suggest by name too
) STRICT;
CREATE INDEX suggest_queue_event ON suggest_queue (event_id);

-- Moves whenever roots move or people are erased (merges, undos,
-- erasures). The worker reads the queue and the candidates from a snapshot
-- beside the writer; if this moved before its write, it reads again.
CREATE TABLE suggest_epoch (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
) STRICT;
INSERT INTO suggest_epoch (id, n) VALUES (1, 0);
CREATE TRIGGER merges_move_suggest_epoch AFTER INSERT ON merges BEGIN UPDATE suggest_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER merges_undo_move_suggest_epoch AFTER UPDATE OF undone_at ON merges BEGIN UPDATE suggest_epoch SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER erasures_move_suggest_epoch AFTER INSERT ON erasures BEGIN UPDATE suggest_epoch SET n = n + 1 WHERE id = 1; END;
