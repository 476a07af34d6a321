-- Consent checks are answered from an in-memory index of identifiers and
-- consent states (checkindex.go). It stays in step with what is committed
-- through this log: every change to either table, by the hub or by any
-- other program using the database (the CLI), appends the root subject it
-- touched. Before answering, the hub applies whatever the log holds past
-- its position; it trims what it has applied. The log holds no identifier,
-- so an erasure leaves nothing personal here.
CREATE TABLE check_changes (
	seq     INTEGER PRIMARY KEY,
	subject TEXT NOT NULL,
	removed INTEGER NOT NULL DEFAULT 0 -- 1: an identifier left this subject
) STRICT;

CREATE TRIGGER check_identifier_added AFTER INSERT ON identifiers BEGIN
	INSERT INTO check_changes (subject) VALUES (NEW.root);
END;
CREATE TRIGGER check_identifier_changed AFTER UPDATE ON identifiers
	WHEN OLD.root IS NOT NEW.root OR OLD.kind IS NOT NEW.kind OR OLD.value IS NOT NEW.value BEGIN
	INSERT INTO check_changes (subject, removed) VALUES (OLD.root, 1), (NEW.root, 0);
END;
CREATE TRIGGER check_identifier_removed AFTER DELETE ON identifiers BEGIN
	INSERT INTO check_changes (subject, removed) VALUES (OLD.root, 1);
END;
CREATE TRIGGER check_state_added AFTER INSERT ON consent_state BEGIN
	INSERT INTO check_changes (subject) VALUES (NEW.subject_id);
END;
CREATE TRIGGER check_state_changed AFTER UPDATE ON consent_state
	WHEN OLD.subject_id IS NOT NEW.subject_id OR OLD.effect IS NOT NEW.effect OR OLD.event_id IS NOT NEW.event_id
		OR OLD.at IS NOT NEW.at OR OLD.retention_days IS NOT NEW.retention_days BEGIN
	INSERT INTO check_changes (subject) VALUES (OLD.subject_id), (NEW.subject_id);
END;
CREATE TRIGGER check_state_removed AFTER DELETE ON consent_state BEGIN
	INSERT INTO check_changes (subject) VALUES (OLD.subject_id);
END;
