package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/record"
)

// Check answers many consent checks: from the in-memory index when the
// running hub keeps one (see ServeChecks), else with one query joining the
// identifiers, their roots and the consent state in SQLite.
func (s *Store) Check(ctx context.Context, qs []hub.CheckQuery) ([]hub.Decision, error) {
	if x := s.checks.Load(); x != nil && !x.broken.Load() {
		err := x.sync(ctx, s.db.R)
		if err == nil {
			now := s.Now()
			out := make([]hub.Decision, len(qs))
			x.mu.RLock()
			for i, q := range qs {
				out[i] = x.answer(q, now)
			}
			x.mu.RUnlock()
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		x.broken.Store(true) // rebuilt by ServeChecks; this answer reads SQLite
	}
	return s.checkSQL(ctx, qs)
}

func (s *Store) checkSQL(ctx context.Context, qs []hub.CheckQuery) ([]hub.Decision, error) {
	// In identifier order, so consecutive lookups walk nearby pages of the
	// indexes; order maps each row back to its query.
	order := make([]int, len(qs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(qs[a].Ident.Kind, qs[b].Ident.Kind), cmp.Compare(qs[a].Ident.Value, qs[b].Ident.Value))
	})
	in := make([][3]string, len(qs))
	for k, i := range order {
		in[k] = [3]string{qs[i].Ident.Kind, qs[i].Ident.Value, qs[i].Purpose}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.R.QueryContext(ctx, checkSQL, string(b))
	if err != nil {
		return nil, fmt.Errorf("check: %w", err)
	}
	defer rows.Close()
	now := s.Now()
	out := make([]hub.Decision, len(qs))
	for rows.Next() {
		var i int
		var root, effect, event, at sql.NullString
		var retention sql.NullInt64
		if err := rows.Scan(&i, &root, &effect, &event, &at, &retention); err != nil {
			return nil, err
		}
		if i < 0 || i >= len(out) {
			continue
		}
		out[order[i]] = decision(root.String, effect.String, event.String, at.String, int(retention.Int64), now)
	}
	return out, rows.Err()
}

// checkSQL answers a chunk of checks in one statement: identifier → its
// root (kept on the identifier, see migration 009) → the root's state.
const checkSQL = `SELECT j.key, i.root, st.effect, st.event_id, st.at, st.retention_days
	FROM json_each(?) j
	LEFT JOIN identifiers i ON i.kind = j.value ->> 0 AND i.value = j.value ->> 1
	LEFT JOIN consent_state st ON st.subject_id = i.root AND st.purpose = j.value ->> 2`

func decision(root, effect, event, at string, retention int, now time.Time) hub.Decision {
	d := hub.Decision{Decision: hub.Unknown, SubjectID: root}
	if event == "" {
		return d
	}
	st := hub.Evaluate("", hub.Fact{Effect: hub.Effect(effect), EventID: event, At: parseTime(at), RetentionDays: retention}, true, now)
	d.Decision, d.EventID, d.Since, d.ExpiresAt = st.Decision, st.EventID, st.Since, st.ExpiresAt
	return d
}

// FindSubject returns the root subject holding an identifier.
func (s *Store) FindSubject(ctx context.Context, id hub.Identifier) (string, error) {
	var root string
	err := s.db.R.QueryRowContext(ctx, `SELECT root FROM identifiers WHERE kind = ? AND value = ?`,
		id.Kind, id.Value).Scan(&root)
	if errors.Is(err, sql.ErrNoRows) {
		e, err := s.erasedIdentifier(ctx, id)
		if err != nil {
			return "", err
		}
		if e != nil {
			return "", apperr.Errorf(apperr.EGONE, "the subject with this %s (%s) was erased on %s; only its pseudonymous tombstone remains",
				id.Kind, e.SubjectID, hub.FormatTime(e.ErasedAt))
		}
		return "", apperr.Errorf(apperr.ENOTFOUND, "no subject has %s %s", id.Kind, id.Value)
	}
	return root, err
}

func (s *Store) root(ctx context.Context, q querier, id string) (string, error) {
	var root string
	err := q.QueryRowContext(ctx, `SELECT root FROM subjects WHERE id = ?`, id).Scan(&root)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.Errorf(apperr.ENOTFOUND, "subject %s does not exist", id)
	}
	return root, err
}

// Subject returns a subject (any member id leads to its root) with its
// identifiers, merges, current state for every catalog purpose, history
// and records.
func (s *Store) Subject(ctx context.Context, id string) (*hub.Subject, error) {
	sub, _, err := s.subject(ctx, id)
	return sub, err
}

func (s *Store) subject(ctx context.Context, id string) (*hub.Subject, map[string]*record.Payload, error) {
	root, err := s.root(ctx, s.db.R, id)
	if err != nil {
		return nil, nil, err
	}
	sub := &hub.Subject{ID: root, Identifiers: []hub.Identifier{}, States: []hub.State{}}
	var created string
	if err := s.db.R.QueryRowContext(ctx, `SELECT created_at FROM subjects WHERE id = ?`, root).Scan(&created); err != nil {
		return nil, nil, err
	}
	sub.CreatedAt = parseTime(created)
	rows, err := s.db.R.QueryContext(ctx, `SELECT i.kind, i.value FROM identifiers i JOIN subjects s ON s.id = i.subject_id
		WHERE s.root = ? ORDER BY i.kind, i.value`, root)
	if err != nil {
		return nil, nil, err
	}
	for rows.Next() {
		var i hub.Identifier
		if err := rows.Scan(&i.Kind, &i.Value); err != nil {
			rows.Close()
			return nil, nil, err
		}
		sub.Identifiers = append(sub.Identifiers, i)
	}
	rows.Close()
	if sub.Merged, err = s.merges(ctx, root); err != nil {
		return nil, nil, err
	}
	if sub.History, err = groupFacts(ctx, s.db.R, root, ""); err != nil {
		return nil, nil, err
	}
	if sub.History == nil {
		sub.History = []hub.Fact{}
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, nil, err
	}
	byPurpose := map[string][]hub.Fact{}
	for _, f := range sub.History {
		byPurpose[f.Purpose] = append(byPurpose[f.Purpose], f)
	}
	now := s.Now()
	for _, p := range cat.Purposes {
		win, ok := hub.Decide(byPurpose[p.Code])
		sub.States = append(sub.States, hub.Evaluate(p.Code, win, ok, now))
		delete(byPurpose, p.Code)
	}
	for code, fs := range byPurpose { // purposes since removed from the catalog
		win, ok := hub.Decide(fs)
		sub.States = append(sub.States, hub.Evaluate(code, win, ok, now))
	}
	// The records linked to the group, and the records that reference
	// them (the notice views that belong to each consent).
	rows, err = s.db.R.QueryContext(ctx, `WITH linked AS (
			SELECT se.event_id FROM subject_events se JOIN subjects s ON s.id = se.subject_id WHERE s.root = ?)
		SELECT `+eventColumns+` FROM events e WHERE e.id IN (SELECT event_id FROM linked)
			OR json_extract(e.envelope, '$.ref') IN (SELECT event_id FROM linked)
		ORDER BY e.corrected_at, e.cursor`, root)
	if err != nil {
		return nil, nil, fmt.Errorf("subject events: %w", err)
	}
	payloads := map[string]*record.Payload{}
	sub.Events, err = scanEvents(rows, func(ev *hub.Event, p *record.Payload) { payloads[ev.ID] = p })
	if err != nil {
		return nil, nil, err
	}
	if sub.Events == nil {
		sub.Events = []hub.Event{}
	}
	if sub.Erasure, err = s.erasure(ctx, s.db.R, root); err != nil {
		return nil, nil, err
	}
	if sub.Corrections, err = s.corrections(ctx, root); err != nil {
		return nil, nil, err
	}
	return sub, payloads, nil
}

func (s *Store) merges(ctx context.Context, root string) ([]hub.Merge, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT m.id, m.into_id, m.from_id, m.reason, m.by, m.created_at, m.undone_at FROM merges m
		WHERE m.into_id IN (SELECT id FROM subjects WHERE root = ?) OR m.from_id IN (SELECT id FROM subjects WHERE root = ?) ORDER BY m.id`, root, root)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.Merge
	for rows.Next() {
		var m hub.Merge
		var created string
		var undone sql.NullString
		if err := rows.Scan(&m.ID, &m.Into, &m.From, &m.Reason, &m.By, &created, &undone); err != nil {
			return nil, err
		}
		m.CreatedAt = parseTime(created)
		if undone.Valid {
			t := parseTime(undone.String)
			m.UndoneAt = &t
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// ExportFormat names the layout of a subject export.
const ExportFormat = "attesta-subject-export/v1"

// Export returns everything the hub holds about a subject: identifiers,
// consent state and history, and every record with the personal data and
// handwritten signature it captured.
func (s *Store) Export(ctx context.Context, id string) (*hub.Export, error) {
	sub, payloads, err := s.subject(ctx, id)
	if err != nil {
		return nil, err
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	x := &hub.Export{Format: ExportFormat, GeneratedAt: s.Now().UTC(), Controller: cat.Controller, Subject: sub, Records: []hub.ExportItem{}}
	for _, ev := range sub.Events {
		item := hub.ExportItem{Event: ev}
		if p := payloads[ev.ID]; p != nil {
			item.Signature = p.Signature
		}
		x.Records = append(x.Records, item)
	}
	return x, nil
}

// WithdrawSubject records, as hub-signed withdrawal records, that a subject
// withdrew the given purposes through channel (a touchpoint). Each record
// references the record that decided the purpose until now (or the
// subject's latest record), so it belongs to the same subject and history.
func (s *Store) WithdrawSubject(ctx context.Context, id string, purposes []string, channel string) (*hub.Withdrawal, error) {
	sid, envs, err := s.withdrawals(ctx, id, purposes, channel)
	if err != nil {
		return nil, err
	}
	ids, err := s.appendHubEvents(ctx, envs)
	if err != nil {
		return nil, err
	}
	after, err := s.Subject(ctx, sid)
	if err != nil {
		return nil, err
	}
	return &hub.Withdrawal{SubjectID: sid, Events: ids, States: after.States}, nil
}

// withdrawals makes the withdrawal records WithdrawSubject stores, and
// returns the subject's root id.
func (s *Store) withdrawals(ctx context.Context, id string, purposes []string, channel string) (string, []record.Envelope, error) {
	cat, err := s.Catalog(ctx)
	if err != nil {
		return "", nil, err
	}
	if tp, ok := cat.Touchpoint(channel); !ok || tp.Kind == "ctp" {
		return "", nil, apperr.Errorf(apperr.EINVALID, "channel %q is not a right or engage touchpoint; 'attesta-hub touchpoint list' shows them", channel)
	}
	if len(purposes) == 0 {
		return "", nil, apperr.Errorf(apperr.EINVALID, "purposes: name at least one purpose to withdraw")
	}
	sub, err := s.Subject(ctx, id)
	if err != nil {
		return "", nil, err
	}
	decidedBy := map[string]string{}
	for _, st := range sub.States {
		decidedBy[st.Purpose] = st.EventID
	}
	latest := ""
	for _, f := range sub.History {
		latest = f.EventID
	}
	if latest == "" {
		return "", nil, apperr.Errorf(apperr.ENOTFOUND, "subject %s has no consent records to withdraw from", sub.ID)
	}
	var order []string
	byRef := map[string][]record.Choice{}
	for _, code := range purposes {
		p, ok := cat.Purpose(code)
		if !ok {
			return "", nil, apperr.Errorf(apperr.EINVALID, "purpose %q is not in the catalog", code)
		}
		ref := decidedBy[code]
		if ref == "" {
			ref = latest
		}
		if _, ok := byRef[ref]; !ok {
			order = append(order, ref)
		}
		byRef[ref] = append(byRef[ref], record.Choice{Purpose: code, DPV: p.DPV, LegalBasis: p.LegalBasis, RetentionDays: p.RetentionDays})
	}
	var envs []record.Envelope
	for _, ref := range order {
		envs = append(envs, record.Envelope{Kind: record.Withdrawn, Touchpoint: channel, Language: "",
			Controller: record.Controller(cat.Controller), Jurisdiction: cat.Jurisdiction, Purposes: byRef[ref], Ref: ref})
	}
	return sub.ID, envs, nil
}

// Suggestions lists possible matches awaiting review, oldest first.
func (s *Store) Suggestions(ctx context.Context, limit int) ([]hub.Suggested, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, subject_a, subject_b, reason, score, created_at FROM suggestions
		WHERE resolved_at IS NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hub.Suggested{}
	for rows.Next() {
		var g hub.Suggested
		var created string
		if err := rows.Scan(&g.ID, &g.A, &g.B, &g.Reason, &g.Score, &created); err != nil {
			return nil, err
		}
		g.CreatedAt = parseTime(created)
		out = append(out, g)
	}
	return out, rows.Err()
}

// ResolveSuggestion merges the two subjects of a suggestion (merge) or
// records that they are different people.
func (s *Store) ResolveSuggestion(ctx context.Context, id int64, merge bool, by string) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var a, b, reason string
	var resolved sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT subject_a, subject_b, reason, resolved_at FROM suggestions WHERE id = ?`, id).Scan(&a, &b, &reason, &resolved)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.Errorf(apperr.ENOTFOUND, "suggestion %d does not exist", id)
	}
	if err != nil {
		return err
	}
	if resolved.Valid {
		return apperr.Errorf(apperr.ECONFLICT, "suggestion %d was already resolved", id)
	}
	resolution := "rejected"
	if merge {
		resolution = "merged"
		ra, err := s.root(ctx, tx, a)
		if err != nil {
			return err
		}
		rb, err := s.root(ctx, tx, b)
		if err != nil {
			return err
		}
		if ra != rb {
			if _, err := tx.ExecContext(ctx, `INSERT INTO merges (into_id, from_id, reason, by, created_at) VALUES (?, ?, ?, ?, ?)`,
				ra, rb, fmt.Sprintf("suggestion %d (%s) reviewed", id, reason), by, s.now()); err != nil {
				return err
			}
			if err := regroup(ctx, tx, s.now(), []string{ra, rb}); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE suggestions SET resolved_at = ?, resolution = ?, resolved_by = ? WHERE id = ?`,
		s.now(), resolution, by, id); err != nil {
		return err
	}
	return tx.Commit()
}

// Unmerge undoes a merge link: the subjects separate again and each one's
// consent state is decided again from its own history.
func (s *Store) Unmerge(ctx context.Context, mergeID int64, by string) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var into, from string
	var undone sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT into_id, from_id, undone_at FROM merges WHERE id = ?`, mergeID).Scan(&into, &from, &undone)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.Errorf(apperr.ENOTFOUND, "merge %d does not exist", mergeID)
	}
	if err != nil {
		return err
	}
	if undone.Valid {
		return apperr.Errorf(apperr.ECONFLICT, "merge %d was already undone", mergeID)
	}
	root, err := s.root(ctx, tx, into)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE merges SET undone_at = ?, undone_by = ? WHERE id = ?`, s.now(), by, mergeID); err != nil {
		return err
	}
	if err := regroup(ctx, tx, s.now(), []string{root}); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) corrections(ctx context.Context, root string) ([]hub.Correction, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT c.request_id, c.correction, c.by, c.at FROM corrections c
		JOIN subjects s ON s.id = c.subject_id WHERE s.root = ? ORDER BY c.id`, root)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.Correction
	for rows.Next() {
		var c hub.Correction
		var at string
		if err := rows.Scan(&c.RequestID, &c.Correction, &c.By, &at); err != nil {
			return nil, err
		}
		c.At = parseTime(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
