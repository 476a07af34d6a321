package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

// HubCollector is the collector name of records the hub itself makes
// (withdrawals from receipt pages and head office), signed with its own key.
const HubCollector = "hub"

// Notice returns a notice version, current or since replaced: every
// version ever published is kept (the notices table, and before it the
// config log).
func (s *Store) Notice(ctx context.Context, id string, version int) (catalog.Notice, error) {
	n := catalog.Notice{ID: id, Version: version}
	err := s.db.R.QueryRowContext(ctx, `SELECT language, title, summary, text, sha256 FROM notices WHERE id = ? AND version = ?`, id, version).
		Scan(&n.Language, &n.Title, &n.Summary, &n.Text, &n.SHA256)
	if err == nil {
		return n, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return catalog.Notice{}, fmt.Errorf("read notice: %w", err)
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT catalog FROM config_log ORDER BY seq DESC`)
	if err != nil {
		return catalog.Notice{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return catalog.Notice{}, err
		}
		var c catalog.Catalog
		if err := json.Unmarshal(b, &c); err != nil {
			return catalog.Notice{}, err
		}
		if n, ok := c.Notice(id, version); ok {
			return n, nil
		}
	}
	if err := rows.Err(); err != nil {
		return catalog.Notice{}, err
	}
	return catalog.Notice{}, apperr.Errorf(apperr.ENOTFOUND, "notice %s version %d does not exist", id, version)
}

// Receipt returns the consent behind a receipt token and what has become of
// each purpose. ENOTFOUND means it has not arrived (or the token is wrong);
// EGONE that its personal data was erased (with a receipt holding only the
// consent id and language).
func (s *Store) Receipt(ctx context.Context, token string) (*hub.Receipt, error) {
	var env, sig, payload []byte
	var received string
	var erased sql.NullString
	err := s.db.R.QueryRowContext(ctx, `SELECT e.envelope, e.sig, e.payload, e.received_at, e.erased_at FROM receipts r
		JOIN events e ON e.id = r.event_id WHERE r.token_hash = ?`, record.SHA256Hex([]byte(token))).Scan(&env, &sig, &payload, &received, &erased)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "this consent has not reached head office yet")
	}
	if err != nil {
		return nil, fmt.Errorf("read receipt: %w", err)
	}
	if erased.Valid {
		// The token's hash stays (it is a hash of a random secret only the
		// visitor held) so the page can say what became of the data, in
		// the language of the interaction: the receipt returned with this
		// error holds the consent id and language only.
		var lang struct {
			ID       string `json:"id"`
			Language string `json:"language"`
		}
		json.Unmarshal(env, &lang)
		return &hub.Receipt{ConsentID: lang.ID, Language: lang.Language},
			apperr.Errorf(apperr.EGONE, "the personal data of this consent was erased at head office on %s", erased.String[:10])
	}
	e, err := record.Signed{Envelope: env, Sig: sig}.Decode()
	if err != nil {
		return nil, err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	r := &hub.Receipt{ConsentID: e.ID, Language: e.Language, ReceivedAt: parseTime(received), Controller: cat.Controller}
	r.CapturedAt, _ = e.Time()
	r.Touchpoint, _ = cat.Touchpoint(e.Touchpoint)
	if r.Touchpoint.ID == "" {
		r.Touchpoint = catalog.Touchpoint{ID: e.Touchpoint, Name: e.Touchpoint}
	}
	if r.Notice, err = s.Notice(ctx, e.Notice.ID, e.Notice.Version); apperr.Code(err) == apperr.ENOTFOUND {
		r.Notice = catalog.Notice{ID: e.Notice.ID, Version: e.Notice.Version, SHA256: e.Notice.SHA256, Title: e.Notice.ID}
	} else if err != nil {
		return nil, err
	}
	if payload != nil {
		if p, err := record.DecodePayload(payload); err == nil {
			r.GivenName, r.Email = p.Subject.GivenName, maskEmail(p.Subject.Email)
		}
	}
	withdrawn := map[string]time.Time{}
	rows, err := s.db.R.QueryContext(ctx, `SELECT envelope, received_at FROM events WHERE kind = 'withdrawn' AND json_extract(envelope, '$.ref') = ?`, e.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var b []byte
		var at string
		if err := rows.Scan(&b, &at); err != nil {
			return nil, err
		}
		var w record.Envelope
		if json.Unmarshal(b, &w) == nil {
			for _, c := range w.Purposes {
				if _, ok := withdrawn[c.Purpose]; !ok {
					withdrawn[c.Purpose] = parseTime(at)
				}
			}
		}
	}
	for _, c := range e.Purposes {
		p := hub.ReceiptPurpose{Code: c.Purpose, Title: c.Purpose, Granted: c.Granted, RetentionDays: c.RetentionDays}
		if cp, ok := cat.Purpose(c.Purpose); ok {
			p.Title, p.Description = cp.Text[e.Language].Title, cp.Text[e.Language].Description
		}
		if at, ok := withdrawn[c.Purpose]; ok {
			p.WithdrawnAt = &at
		}
		r.Purposes = append(r.Purposes, p)
	}
	return r, rows.Err()
}

func maskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" {
		return ""
	}
	return local[:1] + strings.Repeat("•", 3) + "@" + domain
}

// Withdraw records, for the consent behind a receipt token, a withdrawal of
// the given purposes, as a record signed and countersigned by the hub.
func (s *Store) Withdraw(ctx context.Context, token string, purposes []string, channel string) (*hub.Receipt, error) {
	r, err := s.Receipt(ctx, token)
	if err != nil {
		return nil, err
	}
	granted := map[string]hub.ReceiptPurpose{}
	for _, p := range r.Purposes {
		if p.Granted && p.WithdrawnAt == nil {
			granted[p.Code] = p
		}
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	var choices []record.Choice
	for _, code := range purposes {
		if _, ok := granted[code]; !ok {
			return nil, apperr.Errorf(apperr.EINVALID, "purpose %q is not an active consent on this receipt", code)
		}
		cp, _ := cat.Purpose(code)
		choices = append(choices, record.Choice{Purpose: code, DPV: cp.DPV, Granted: false, LegalBasis: cp.LegalBasis, RetentionDays: cp.RetentionDays})
	}
	if len(choices) == 0 {
		return nil, apperr.Errorf(apperr.EINVALID, "choose at least one purpose to withdraw")
	}
	if _, err := s.appendHubEvents(ctx, []record.Envelope{{Kind: record.Withdrawn, Touchpoint: channel, Language: r.Language,
		Controller: record.Controller(cat.Controller), Jurisdiction: cat.Jurisdiction, Purposes: choices, Ref: r.ConsentID,
		Notice: record.NoticeRef{ID: r.Notice.ID, Version: r.Notice.Version, SHA256: r.Notice.SHA256}}}); err != nil {
		return nil, err
	}
	return s.Receipt(ctx, token)
}

// appendHubEvents signs envs as the hub and stores them in the hub's own
// chain, reconciled, in one transaction. It returns their ids.
func (s *Store) appendHubEvents(ctx context.Context, envs []record.Envelope) ([]string, error) {
	keys, err := s.Keys(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	ids, err := s.appendHubEventsTx(ctx, tx, keys, envs)
	if err != nil {
		return nil, err
	}
	return ids, tx.Commit()
}

// appendHubEventsTx is appendHubEvents inside the caller's transaction.
func (s *Store) appendHubEventsTx(ctx context.Context, tx *sql.Tx, keys *hub.Keys, envs []record.Envelope) ([]string, error) {
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	rec, err := newReconciler(ctx, tx, s.w, cat, s.now())
	if err != nil {
		return nil, err
	}
	var seq uint64
	var prev string
	err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM chain WHERE collector = ? AND epoch = ? ORDER BY seq DESC LIMIT 1`, HubCollector, HubCollector).Scan(&seq, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	var ids []string
	for _, env := range envs {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		now := s.Now().UTC()
		seq++
		env.Schema, env.ID, env.Collector, env.Epoch, env.Seq, env.Prev = record.Schema, id.String(), HubCollector, HubCollector, seq, prev
		env.CapturedAt, env.HLC, env.AppVersion = now.Format(time.RFC3339Nano), hlc.New(now.UnixMilli(), 0), "hub/"+hub.Version
		signed, err := record.Sign(&env, keys.SignPriv)
		if err != nil {
			return nil, err
		}
		hash, at := signed.HashHex(), hub.FormatTime(now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO chain (collector, epoch, seq, event_id, hash) VALUES (?, ?, ?, ?, ?)`,
			HubCollector, HubCollector, env.Seq, env.ID, hash); err != nil {
			return nil, fmt.Errorf("hub chain: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (id, collector, epoch, seq, kind, envelope, sig, hash, captured_at, hlc,
			received_at, corrected_at, clock_offset_ms, flags, countersig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?)`,
			env.ID, HubCollector, HubCollector, env.Seq, string(env.Kind), []byte(signed.Envelope), signed.Sig, hash, env.CapturedAt,
			env.HLC.String(), at, at, record.Countersign(keys.SignPriv, hash, at)); err != nil {
			return nil, fmt.Errorf("hub event: %w", err)
		}
		if err := rec.apply(&env, nil, now, false); err != nil {
			return nil, err
		}
		prev = hash
		ids = append(ids, env.ID)
	}
	return ids, rec.flush()
}
