-- Each identifier carries the root subject it currently leads to, kept in
-- step with subjects.root wherever merges move a group (regroup). A check
-- then reads identifier → consent state in two index searches instead of
-- four, and ingest matches people without visiting subjects.
ALTER TABLE identifiers ADD COLUMN root TEXT NOT NULL DEFAULT '';
UPDATE identifiers SET root = (SELECT s.root FROM subjects s WHERE s.id = identifiers.subject_id);
