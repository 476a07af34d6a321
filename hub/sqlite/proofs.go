package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/proof"
	"github.com/attesta/attesta/shared/record"
)

// proofChainMax bounds the chain in a bundle; tests lower it.
var proofChainMax = proof.MaxChain

// maxRelated bounds the records gathered as related to one record: a
// consent has one notice view and at most a withdrawal per purpose.
const maxRelated = 100

// Proof gathers the proof bundle of an accepted record. The record the hub
// accepted under this id is the one proved; copies that arrived later with
// other content are listed as conflicts. A quarantined record has no proof.
func (s *Store) Proof(ctx context.Context, eventID string) (*proof.Bundle, error) {
	return s.proof(ctx, eventID, proofChainMax)
}

// proofColumns are read for every record in a bundle.
const proofColumns = `envelope, sig, payload, received_at, corrected_at, clock_offset_ms, flags, countersig`

func scanProofRecord(row interface{ Scan(...any) error }) (proof.Record, error) {
	var r proof.Record
	var env, sig, payload []byte
	var flags string
	if err := row.Scan(&env, &sig, &payload, &r.ReceivedAt, &r.CorrectedAt, &r.ClockOffsetMS, &flags, &r.Countersig); err != nil {
		return r, err
	}
	r.Signed = record.Signed{Envelope: env, Sig: sig}
	r.Payload = payload
	if flags != "" {
		r.Flags = strings.Split(flags, ",")
	}
	return r, nil
}

func (s *Store) proof(ctx context.Context, eventID string, chainMax int) (*proof.Bundle, error) {
	keys, err := s.Keys(ctx)
	if err != nil {
		return nil, err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	// One read transaction: the chain and the stream's head come from the
	// same snapshot.
	tx, err := s.db.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var erased sql.NullString
	switch err := tx.QueryRowContext(ctx, `SELECT erased_at FROM events WHERE id = ?`, eventID).Scan(&erased); {
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("read event: %w", err)
	case erased.Valid:
		var sid string
		tx.QueryRowContext(ctx, `SELECT s.root FROM subject_events se JOIN subjects s ON s.id = se.subject_id WHERE se.event_id = ?`, eventID).Scan(&sid)
		return nil, apperr.Errorf(apperr.EGONE, "record %s: its personal data was erased on %s (subject %s); the pseudonymous tombstone "+
			"(hashes, times, purposes, signatures) is at GET /api/v1/subjects/%s", eventID, erased.String, sid, sid)
	}
	rec, err := scanProofRecord(tx.QueryRowContext(ctx, `SELECT `+proofColumns+` FROM events WHERE id = ?`, eventID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notProvable(ctx, tx, eventID)
	}
	if err != nil {
		return nil, fmt.Errorf("read event: %w", err)
	}
	env, err := rec.Signed.Decode()
	if err != nil {
		return nil, fmt.Errorf("stored event %s: %w", eventID, err)
	}
	b := &proof.Bundle{GeneratedAt: s.now(), Generator: "attesta-hub " + hub.Version, Record: rec, HubKey: keys.SignPub}

	rows, err := tx.QueryContext(ctx, `SELECT hash, received_at FROM conflicts WHERE event_id = ? ORDER BY id`, eventID)
	if err != nil {
		return nil, fmt.Errorf("read conflicts: %w", err)
	}
	for rows.Next() {
		var c proof.Conflict
		if err := rows.Scan(&c.SHA256, &c.ReceivedAt); err != nil {
			rows.Close()
			return nil, err
		}
		b.Conflicts = append(b.Conflicts, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	if b.Related, err = related(ctx, tx, env); err != nil {
		return nil, err
	}
	if b.Chain, err = chain(ctx, tx, env, rec.Signed.HashHex(), chainMax); err != nil {
		return nil, err
	}

	// Devices, notices and touchpoints of the record and its related records.
	envs := []*record.Envelope{env}
	for _, r := range b.Related {
		e, err := r.Signed.Decode()
		if err != nil {
			return nil, fmt.Errorf("stored related event: %w", err)
		}
		envs = append(envs, e)
	}
	seen := map[string]bool{}
	for _, e := range envs {
		if e.Collector != proof.HubCollector && !seen["d "+e.Collector] {
			seen["d "+e.Collector] = true
			d := proof.Device{ID: e.Collector}
			var key, enrollment []byte
			var revoked sql.NullString
			err := tx.QueryRowContext(ctx, `SELECT sign_key, enrollment, revoked_at FROM devices WHERE id = ?`, e.Collector).Scan(&key, &enrollment, &revoked)
			switch {
			case errors.Is(err, sql.ErrNoRows): // the verifier will say the enrollment record is missing
			case err != nil:
				return nil, fmt.Errorf("read device: %w", err)
			default:
				d.SignKey, d.Enrollment, d.RevokedAt = key, enrollment, revoked.String
				b.Devices = append(b.Devices, d)
			}
		}
		n := e.Notice
		if key := fmt.Sprintf("n %s %d %s", n.ID, n.Version, n.SHA256); n.SHA256 != "" && !seen[key] {
			seen[key] = true
			text, err := noticeText(ctx, tx, n)
			if err != nil {
				return nil, err
			}
			if text != nil {
				b.Notices = append(b.Notices, *text)
			}
		}
		if t, ok := cat.Touchpoint(e.Touchpoint); ok && !seen["t "+t.ID] {
			seen["t "+t.ID] = true
			b.Touchpoints = append(b.Touchpoints, proof.Touchpoint{ID: t.ID, Name: t.Name, Location: t.Location})
		}
	}
	return b, tx.Commit()
}

// notProvable explains why an id has no proof.
func notProvable(ctx context.Context, tx *sql.Tx, id string) error {
	var code, reason, at string
	err := tx.QueryRowContext(ctx, `SELECT code, reason, received_at FROM quarantine WHERE record_id = ? ORDER BY id LIMIT 1`, id).Scan(&code, &reason, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return apperr.Errorf(apperr.ENOTFOUND, "no record %s at the hub (it may not have synced yet)", id)
	case err != nil:
		return fmt.Errorf("read quarantine: %w", err)
	}
	return apperr.Errorf(apperr.ENOTFOUND, "record %s was refused by the hub on %s and quarantined (%s: %s); only accepted records have proofs", id, at, code, reason)
}

// related returns the records that belong with env: the record it refers
// to and every record referring to that one (or to env itself), so a
// consent comes with its notice view and withdrawals, and a withdrawal with
// its consent and the consent's notice view.
func related(ctx context.Context, tx *sql.Tx, env *record.Envelope) ([]proof.Record, error) {
	root := env.ID
	var out []proof.Record
	if env.Ref != "" {
		r, err := scanProofRecord(tx.QueryRowContext(ctx, `SELECT `+proofColumns+` FROM events WHERE id = ? AND erased_at IS NULL`, env.Ref))
		switch {
		case errors.Is(err, sql.ErrNoRows): // the referenced record has not arrived: nothing to add
		case err != nil:
			return nil, fmt.Errorf("read referenced event: %w", err)
		default:
			root = env.Ref
			out = append(out, r)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+proofColumns+` FROM events WHERE json_extract(envelope, '$.ref') = ? AND id != ?
		AND erased_at IS NULL ORDER BY cursor LIMIT ?`, root, env.ID, maxRelated)
	if err != nil {
		return nil, fmt.Errorf("read related events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanProofRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// chain walks env's stream forward from env by prev hash, through the
// records the hub holds, up to the stream's acknowledged head or max
// records. A fork is followed along env's own branch.
func chain(ctx context.Context, tx *sql.Tx, env *record.Envelope, hash string, max int) (proof.Chain, error) {
	var c proof.Chain
	var err error
	if env.Collector == proof.HubCollector {
		err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM chain WHERE collector = ? AND epoch = ? ORDER BY seq DESC LIMIT 1`,
			env.Collector, env.Epoch).Scan(&c.HeadSeq, &c.HeadSHA256)
	} else {
		err = tx.QueryRowContext(ctx, `SELECT through, hash FROM streams WHERE collector = ? AND epoch = ?`,
			env.Collector, env.Epoch).Scan(&c.HeadSeq, &c.HeadSHA256)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("read stream head: %w", err)
	}
	// The payload stays out: chain records are other visitors' consents.
	rows, err := tx.QueryContext(ctx, `SELECT envelope, sig, NULL, received_at, corrected_at, clock_offset_ms, flags, countersig
		FROM events WHERE collector = ? AND epoch = ? AND seq > ? AND seq <= ? AND erased_at IS NULL ORDER BY seq, cursor`,
		env.Collector, env.Epoch, env.Seq, env.Seq+uint64(max))
	if err != nil {
		return c, fmt.Errorf("read chain: %w", err)
	}
	defer rows.Close()
	last, lastHash := env.Seq, hash
	for rows.Next() {
		r, err := scanProofRecord(rows)
		if err != nil {
			return c, err
		}
		var link struct {
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
		}
		if err := json.Unmarshal(r.Signed.Envelope, &link); err != nil {
			return c, fmt.Errorf("stored chain event: %w", err)
		}
		if link.Seq > last+1 {
			break // a gap
		}
		if link.Seq != last+1 || link.Prev != lastHash {
			continue // another branch at this position
		}
		c.Records = append(c.Records, r)
		last, lastHash = link.Seq, r.Signed.HashHex()
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	if last == c.HeadSeq && lastHash == c.HeadSHA256 {
		return c, nil
	}
	c.Note, err = chainStop(ctx, tx, env, last, c.HeadSeq, len(c.Records), max)
	return c, err
}

// chainStop says why a chain ends at seq last before the head.
func chainStop(ctx context.Context, tx *sql.Tx, env *record.Envelope, last, head uint64, n, max int) (string, error) {
	next := last + 1
	if n == max {
		return fmt.Sprintf("the bundle holds at most %d later records; the chain goes on at the hub", max), nil
	}
	if last >= head {
		return fmt.Sprintf("the hub's head at seq %d is another record: the stream forked", head), nil
	}
	var erased string
	err := tx.QueryRowContext(ctx, `SELECT erased_at FROM events WHERE collector = ? AND epoch = ? AND seq = ? AND erased_at IS NOT NULL LIMIT 1`,
		env.Collector, env.Epoch, next).Scan(&erased)
	if err == nil {
		return fmt.Sprintf("the record at seq %d had its personal data erased on %s; its envelope no longer matches its hash, so the bundle "+
			"stops here (the hub still checks the chain by the hashes it kept)", next, erased), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	var code, reason string
	err = tx.QueryRowContext(ctx, `SELECT code, reason FROM quarantine WHERE collector = ? AND epoch = ? AND seq = ? ORDER BY id LIMIT 1`,
		env.Collector, env.Epoch, next).Scan(&code, &reason)
	if err == nil {
		return fmt.Sprintf("the record at seq %d was refused by the hub (quarantined, %s: %s)", next, code, reason), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	var there int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE collector = ? AND epoch = ? AND seq = ?`,
		env.Collector, env.Epoch, next).Scan(&there); err != nil {
		return "", err
	}
	if there > 0 {
		return fmt.Sprintf("the record at seq %d does not name this branch's hash: the stream forked or its chain broke there", next), nil
	}
	return fmt.Sprintf("seq %d has not reached the hub (a gap in the stream)", next), nil
}

// noticeText finds the text of a notice version whose SHA-256 is the one
// the record pins, searching every published configuration newest first,
// so a version republished with other text cannot stand in for it. It
// returns nil when the hub has no such text; the bundle then says so.
func noticeText(ctx context.Context, tx *sql.Tx, ref record.NoticeRef) (*proof.Notice, error) {
	rows, err := tx.QueryContext(ctx, `SELECT catalog FROM config_log ORDER BY seq DESC`)
	if err != nil {
		return nil, fmt.Errorf("read config log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		var c catalog.Catalog
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("decode config log: %w", err)
		}
		if n, ok := c.Notice(ref.ID, ref.Version); ok && catalog.Hash(n.Text) == ref.SHA256 {
			return &proof.Notice{ID: n.ID, Version: n.Version, Language: n.Language, Title: n.Title, Summary: n.Summary, Text: []byte(n.Text)}, nil
		}
	}
	return nil, rows.Err()
}
