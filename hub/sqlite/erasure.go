package sqlite

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/record"
)

// tombstoneKey derives the key of identifier hashes from the hub's signing
// key: nobody without the hub's database can test an address against them.
func tombstoneKey(k *hub.Keys) []byte {
	h := sha256.New()
	h.Write([]byte("attesta/tombstone-identifiers/v1\x00"))
	h.Write(k.SignPriv.Seed())
	return h.Sum(nil)
}

func identHashWith(key []byte, id hub.Identifier) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id.Kind + ":" + id.Value))
	return hex.EncodeToString(m.Sum(nil))
}

// identHash is the keyed hash of an identifier kept in tombstones.
func (s *Store) identHash(ctx context.Context, id hub.Identifier) (string, error) {
	key, err := s.tombstoneKey(ctx)
	if err != nil {
		return "", err
	}
	return identHashWith(key, id), nil
}

// tombstoneKey is the key of identifier hashes, read once.
func (s *Store) tombstoneKey(ctx context.Context) ([]byte, error) {
	if key := s.tombKey.Load(); key != nil {
		return *key, nil
	}
	k, err := s.Keys(ctx)
	if err != nil {
		return nil, err
	}
	b := tombstoneKey(k)
	s.tombKey.Store(&b)
	return b, nil
}

// erasure returns the tombstone of a root subject, nil when it was not erased.
func (s *Store) erasure(ctx context.Context, q querier, root string) (*hub.Erasure, error) {
	var e hub.Erasure
	var at string
	err := q.QueryRowContext(ctx, `SELECT subject_id, erased_at, reason, request_id, events FROM erasures WHERE subject_id = ?`, root).
		Scan(&e.SubjectID, &at, &e.Reason, &e.RequestID, &e.Events)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read erasure: %w", err)
	}
	e.ErasedAt = parseTime(at)
	rows, err := q.QueryContext(ctx, `SELECT hash FROM erased_identifiers WHERE subject_id = ? ORDER BY hash`, root)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	e.IdentifierHashes = []string{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		e.IdentifierHashes = append(e.IdentifierHashes, h)
	}
	return &e, rows.Err()
}

// erasedIdentifier reports the tombstone an identifier's keyed hash points
// to, nil when it belongs to no erased subject.
func (s *Store) erasedIdentifier(ctx context.Context, id hub.Identifier) (*hub.Erasure, error) {
	h, err := s.identHash(ctx, id)
	if err != nil {
		return nil, err
	}
	var sid string
	err = s.db.R.QueryRowContext(ctx, `SELECT e.subject_id FROM erased_identifiers i JOIN erasures e ON e.subject_id = i.subject_id
		WHERE i.hash = ? ORDER BY e.erased_at DESC LIMIT 1`, h).Scan(&sid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return s.erasure(ctx, s.db.R, sid)
}

// eraseTx removes a subject's personal data everywhere the hub holds it,
// inside tx, and leaves a tombstone: the subject id and its group's ids,
// keyed hashes of its identifiers, and for every record its id, envelope
// hash, device signature, countersignature, times, purposes and decisions.
//
// Gone: the opened payloads; the sealed payload inside each stored
// envelope (the hub holds the key, so the ciphertext is personal data too)
// and in copies kept as conflict or quarantine evidence; identifiers;
// folded names; name suggestions; the identifiers and words of the
// subject's rights requests; recorded corrections.
//
// keys must be read before tx began (the store has one writer connection).
func (s *Store) eraseTx(ctx context.Context, tx *sql.Tx, keys *hub.Keys, id, reason, requestID string) (*hub.Erasure, error) {
	// Freed pages and cells are overwritten with zeros, not left in the file.
	if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		return nil, fmt.Errorf("secure delete: %w", err)
	}
	root, err := s.root(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if e, err := s.erasure(ctx, tx, root); err != nil {
		return nil, err
	} else if e != nil {
		return nil, apperr.Errorf(apperr.EGONE, "subject %s was already erased on %s", root, hub.FormatTime(e.ErasedAt))
	}
	at := s.now()
	members, err := strs(ctx, tx, `SELECT id FROM subjects WHERE root = ?`, root)
	if err != nil {
		return nil, err
	}
	mj, _ := json.Marshal(members)
	inMembers := `(SELECT value FROM json_each(?))`
	events, err := strs(ctx, tx, `WITH linked AS (SELECT event_id FROM subject_events WHERE subject_id IN `+inMembers+`)
		SELECT event_id FROM linked UNION SELECT id FROM events WHERE json_extract(envelope, '$.ref') IN (SELECT event_id FROM linked)`, string(mj))
	if err != nil {
		return nil, err
	}
	ej, _ := json.Marshal(events)
	inEvents := `(SELECT value FROM json_each(?))`

	// Records: the envelope loses its sealed payload, the payload goes.
	rows, err := tx.QueryContext(ctx, `SELECT id, envelope FROM events WHERE id IN `+inEvents, string(ej))
	if err != nil {
		return nil, err
	}
	type redacted struct {
		id, payloadHash string
		env             []byte
	}
	var red []redacted
	for rows.Next() {
		var eid string
		var env []byte
		if err := rows.Scan(&eid, &env); err != nil {
			rows.Close()
			return nil, err
		}
		out, ph := redactEnvelope(env)
		red = append(red, redacted{eid, ph, out})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, r := range red {
		if _, err := tx.ExecContext(ctx, `UPDATE events SET envelope = ?, payload = NULL, erased_at = ?, erased_payload_sha256 = ? WHERE id = ?`,
			r.env, at, r.payloadHash, r.id); err != nil {
			return nil, fmt.Errorf("erase record: %w", err)
		}
	}
	// Evidence copies of the same records.
	for _, table := range []string{"conflicts", "quarantine"} {
		col := "event_id"
		if table == "quarantine" {
			col = "record_id"
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, envelope FROM `+table+` WHERE `+col+` IN `+inEvents, string(ej))
		if err != nil {
			return nil, err
		}
		type copyRow struct {
			id  int64
			env []byte
		}
		var cs []copyRow
		for rows.Next() {
			var c copyRow
			if err := rows.Scan(&c.id, &c.env); err != nil {
				rows.Close()
				return nil, err
			}
			c.env, _ = redactEnvelope(c.env)
			cs = append(cs, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for _, c := range cs {
			if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET envelope = ? WHERE id = ?`, c.env, c.id); err != nil {
				return nil, fmt.Errorf("erase %s copy: %w", table, err)
			}
		}
	}
	// Identifiers become keyed hashes.
	key := tombstoneKey(keys)
	rows, err = tx.QueryContext(ctx, `SELECT kind, value FROM identifiers WHERE subject_id IN `+inMembers, string(mj))
	if err != nil {
		return nil, err
	}
	var ids []hub.Identifier
	for rows.Next() {
		var i hub.Identifier
		if err := rows.Scan(&i.Kind, &i.Value); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, i)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The requests' own identifiers count too (a request may have named an
	// address the records never carried).
	reqIDs, err := tx.QueryContext(ctx, `SELECT ident_kind, ident_value, ident_hash FROM requests
		WHERE subject_id IN `+inMembers+` AND ident_value != ''`, string(mj))
	if err != nil {
		return nil, err
	}
	var reqHashes []string
	for reqIDs.Next() {
		var k, v, h string
		if err := reqIDs.Scan(&k, &v, &h); err != nil {
			reqIDs.Close()
			return nil, err
		}
		reqHashes = append(reqHashes, h)
	}
	reqIDs.Close()
	hashes := map[string]string{}
	for _, i := range ids {
		hashes[identHashWith(key, i)] = i.Kind
	}
	for _, h := range reqHashes {
		if _, ok := hashes[h]; !ok && h != "" {
			hashes[h] = "request"
		}
	}
	if err := s.eraseQuarantined(ctx, tx, keys, key, hashes); err != nil {
		return nil, err
	}
	for h, kind := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO erased_identifiers (hash, kind, subject_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			h, kind, root); err != nil {
			return nil, err
		}
	}
	for _, q := range []string{
		`DELETE FROM identifiers WHERE subject_id IN ` + inMembers,
		`UPDATE subjects SET name_gk = '', name_fk = '', full_name = '' WHERE id IN ` + inMembers,
		`DELETE FROM suggestions WHERE subject_a IN ` + inMembers + ` OR subject_b IN (SELECT value FROM json_each(?1))`,
		`UPDATE requests SET ident_value = '', details = '' WHERE subject_id IN ` + inMembers,
		`DELETE FROM corrections WHERE subject_id IN ` + inMembers,
	} {
		if _, err := tx.ExecContext(ctx, q, string(mj)); err != nil {
			return nil, fmt.Errorf("erase subject: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO erasures (subject_id, erased_at, reason, request_id, events) VALUES (?, ?, ?, ?, ?)`,
		root, at, reason, requestID, len(events)); err != nil {
		return nil, fmt.Errorf("save tombstone: %w", err)
	}
	if err := notify(ctx, tx, hub.NotifySubjectErased, root, at, map[string]any{"reason": reason, "request_id": requestID,
		"records": len(events)}); err != nil {
		return nil, err
	}
	return s.erasure(ctx, tx, root)
}

// redactEnvelope removes the sealed payload from a stored envelope and
// returns it with the payload hash it named. Envelopes that are not JSON
// objects (quarantined garbage) are dropped whole.
func redactEnvelope(env []byte) ([]byte, string) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(env, &m); err != nil {
		return []byte("{}"), ""
	}
	var ph string
	json.Unmarshal(m["payload_sha256"], &ph)
	delete(m, "sealed")
	delete(m, "payload_sha256")
	out, err := json.Marshal(m)
	if err != nil {
		return []byte("{}"), ph
	}
	return out, ph
}

func strs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	return scanStrings(q.QueryContext(ctx, query, args...))
}

// scanStrings reads a query's one string column, row by row.
func scanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scrub moves the WAL into the database file and empties it, so the pages
// an erasure replaced are gone from disk, not only from the database.
func (s *Store) scrub(ctx context.Context) error {
	var busy, log, done int
	if err := s.db.W.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &log, &done); err != nil {
		return fmt.Errorf("checkpoint after erasure: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint after erasure: readers kept the log busy (%s)", strings.TrimSpace(fmt.Sprint(log, done)))
	}
	return nil
}

// Erase erases a subject outside any request (the retention sweep uses the
// same primitive).
func (s *Store) Erase(ctx context.Context, id, reason string) (*hub.Erasure, error) {
	keys, err := s.Keys(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	e, err := s.eraseTx(ctx, tx, keys, id, reason, "")
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return e, s.scrub(ctx)
}

// eraseQuarantined removes the sealed payload of refused records that name
// one of the identifiers whose keyed hashes are in hashes. A quarantined
// record belongs to no subject until it is opened, so each one still
// holding a sealed payload is opened and its identifiers compared.
func (s *Store) eraseQuarantined(ctx context.Context, tx *sql.Tx, keys *hub.Keys, key []byte, hashes map[string]string) error {
	if keys.Opener == nil || len(hashes) == 0 {
		return nil
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, envelope FROM quarantine
		WHERE json_valid(envelope) AND json_extract(envelope, '$.sealed') IS NOT NULL`)
	if err != nil {
		return fmt.Errorf("read quarantine: %w", err)
	}
	var hit []int64
	var envs [][]byte
	for rows.Next() {
		var id int64
		var env []byte
		if err := rows.Scan(&id, &env); err != nil {
			rows.Close()
			return err
		}
		var e record.Envelope
		if json.Unmarshal(env, &e) != nil || len(e.Sealed) == 0 {
			continue
		}
		plain, err := keys.Opener.Open(e.Sealed)
		if err != nil {
			continue // not sealed to this hub: nothing it can read
		}
		p, err := record.DecodePayload(plain)
		if err != nil {
			continue
		}
		region := cat.Jurisdiction
		if tp, ok := cat.Touchpoint(e.Touchpoint); ok && tp.Country != "" {
			region = tp.Country
		}
		ids, _ := hub.Identifiers(p.Subject, region)
		for _, i := range ids {
			if _, ok := hashes[identHashWith(key, i)]; ok {
				hit, envs = append(hit, id), append(envs, env)
				break
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, id := range hit {
		red, _ := redactEnvelope(envs[i])
		if _, err := tx.ExecContext(ctx, `UPDATE quarantine SET envelope = ? WHERE id = ?`, red, id); err != nil {
			return fmt.Errorf("erase quarantined copy: %w", err)
		}
	}
	return nil
}
