package sqlite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// DefaultRetentionGrace is how long a subject whose data no purpose
// justifies any more is kept: a recent refusal or withdrawal may still be
// disputed, and the visitor's receipt page should still show it.
const DefaultRetentionGrace = 30 * 24 * time.Hour

// SweepRetention enforces retention at the store's current time.
//
// (a) Every consent whose deciding grant is past its purpose's retention
// gets its expiry recorded once (table expiries) and announced as a
// consent.changed notification with decision "expired".
//
// (b) A subject is anonymised (erased, with its tombstone) when nothing
// justifies holding its personal data any more: no purpose reads allowed,
// no rights request of theirs is open or in progress, it is not erased
// already, and its latest consent event (or, without any, its creation) is
// older than RetentionGrace.
//
// A dry run computes the same and changes nothing; a real run is recorded.
func (s *Store) SweepRetention(ctx context.Context, dryRun bool, by string) (*hub.RetentionRun, error) {
	started := s.Now()
	now := started
	run := &hub.RetentionRun{StartedAt: started.UTC(), By: by, DryRun: dryRun, Expiries: []hub.Expiry{}, Subjects: []string{}}
	erased, err := strs(ctx, s.db.R, `SELECT subject_id FROM erasures`)
	if err != nil {
		return nil, err
	}
	isErased := map[string]bool{}
	for _, id := range erased {
		isErased[id] = true
	}
	busy, err := strs(ctx, s.db.R, `SELECT DISTINCT s.root FROM requests r JOIN subjects s ON s.id = r.subject_id
		WHERE r.state IN ('open', 'in_progress')`)
	if err != nil {
		return nil, err
	}
	hasRequest := map[string]bool{}
	for _, id := range busy {
		hasRequest[id] = true
	}
	subjects := map[string]*retained{}
	rows, err := s.db.R.QueryContext(ctx, `SELECT s.id, s.created_at, st.purpose, st.effect, st.event_id, st.at, st.retention_days, st.last_at,
			EXISTS (SELECT 1 FROM expiries x WHERE x.subject_id = st.subject_id AND x.purpose = st.purpose AND x.event_id = st.event_id)
		FROM subjects s LEFT JOIN consent_state st ON st.subject_id = s.id WHERE s.root = s.id ORDER BY s.id, st.purpose`)
	if err != nil {
		return nil, fmt.Errorf("read consent state: %w", err)
	}
	for rows.Next() {
		var id, created string
		var purpose, effect, event, at, lastAt *string
		var days *int64
		var recorded bool
		if err := rows.Scan(&id, &created, &purpose, &effect, &event, &at, &days, &lastAt, &recorded); err != nil {
			rows.Close()
			return nil, err
		}
		if isErased[id] {
			continue
		}
		sj := subjects[id]
		if sj == nil {
			sj = &retained{last: parseTime(created)}
			subjects[id] = sj
		}
		if purpose == nil {
			continue
		}
		st := sj.add(*purpose, *effect, *event, *at, *days, *lastAt, now)
		if st.Decision == hub.Expired && !recorded {
			run.Expiries = append(run.Expiries, hub.Expiry{SubjectID: id, Purpose: *purpose, EventID: *event, ExpiredAt: *st.ExpiresAt})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	cutoff := now.Add(-s.RetentionGrace)
	for id, sj := range subjects {
		if sj.due(cutoff, hasRequest[id]) {
			run.Subjects = append(run.Subjects, id)
		}
	}
	slices.Sort(run.Subjects)
	run.Expired, run.Anonymised = len(run.Expiries), len(run.Subjects)
	if dryRun {
		run.FinishedAt = s.Now().UTC()
		return run, nil
	}
	if retentionBetween != nil {
		retentionBetween()
	}

	if len(run.Expiries) > 0 {
		tx, err := s.db.W.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		defer tx.Rollback()
		at := hub.FormatTime(now)
		recorded := run.Expiries[:0]
		for _, x := range run.Expiries {
			// Only while that grant still decides: a new choice or a merge
			// since the read above has replaced it.
			res, err := tx.ExecContext(ctx, `INSERT INTO expiries (subject_id, purpose, event_id, expired_at, recorded_at)
				SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM consent_state WHERE subject_id = ? AND purpose = ? AND event_id = ?)
				ON CONFLICT DO NOTHING`, x.SubjectID, x.Purpose, x.EventID, hub.FormatTime(x.ExpiredAt), at, x.SubjectID, x.Purpose, x.EventID)
			if err != nil {
				return nil, fmt.Errorf("record expiry: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // another sweep recorded it meanwhile, or it no longer decides
			}
			if err := notify(ctx, tx, hub.NotifyConsentChanged, x.SubjectID, at, map[string]any{"purpose": x.Purpose,
				"decision": hub.Expired, "event_id": x.EventID, "expired_at": x.ExpiredAt, "by": "retention"}); err != nil {
				return nil, err
			}
			recorded = append(recorded, x)
		}
		run.Expiries, run.Expired = recorded, len(recorded)
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	if len(run.Subjects) > 0 {
		keys, err := s.Keys(ctx)
		if err != nil {
			return nil, err
		}
		done := run.Subjects[:0]
		for _, id := range run.Subjects {
			err := s.eraseOne(ctx, keys, id, now, cutoff)
			switch {
			case errors.Is(err, errNotDue): // consented again, merged or asked something meanwhile
			case apperr.Code(err) == apperr.EGONE: // erased meanwhile (a request, another sweep)
			case err != nil:
				return nil, fmt.Errorf("anonymise subject %s: %w", id, err)
			default:
				done = append(done, id)
			}
		}
		run.Subjects, run.Anonymised = done, len(done)
		if err := s.scrub(ctx); err != nil {
			return nil, err
		}
	}
	run.FinishedAt = s.Now().UTC()
	res, err := s.db.W.ExecContext(ctx, `INSERT INTO retention_runs (started_at, finished_at, by, expired, anonymised) VALUES (?, ?, ?, ?, ?)`,
		hub.FormatTime(run.StartedAt), hub.FormatTime(run.FinishedAt), by, run.Expired, run.Anonymised)
	if err != nil {
		return nil, fmt.Errorf("record retention run: %w", err)
	}
	run.ID, _ = res.LastInsertId()
	return run, nil
}

// retained is what retention needs of a root subject: its latest consent
// event (or, without any, its creation) and whether a purpose is allowed.
type retained struct {
	last    time.Time
	allowed bool
}

// add takes in one consent_state row and returns its state at now.
func (r *retained) add(purpose, effect, event, at string, days int64, lastAt string, now time.Time) hub.State {
	if t := parseTime(lastAt); t.After(r.last) {
		r.last = t
	}
	st := hub.Evaluate(purpose, hub.Fact{Effect: hub.Effect(effect), EventID: event, At: parseTime(at), RetentionDays: int(days)}, true, now)
	if st.Decision == hub.Allowed {
		r.allowed = true
	}
	return st
}

// due says whether nothing justifies holding the subject any more.
func (r *retained) due(cutoff time.Time, openRequest bool) bool {
	return !r.allowed && !openRequest && r.last.Before(cutoff)
}

// retentionBetween, when set by a test, runs between the sweep's read and
// its writes.
var retentionBetween func()

// errNotDue is a subject the sweep listed that no longer qualifies.
var errNotDue = errors.New("no longer due for anonymisation")

// eraseOne anonymises root id if, read again inside the erasing
// transaction, it is still due: the sweep's list was read before, and a
// person may have consented again, been merged into someone who consents,
// or opened a request since.
func (s *Store) eraseOne(ctx context.Context, keys *hub.Keys, id string, now, cutoff time.Time) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var root, created string
	if err := tx.QueryRowContext(ctx, `SELECT root, created_at FROM subjects WHERE id = ?`, id).Scan(&root, &created); err != nil {
		return fmt.Errorf("read subject: %w", err)
	}
	if root != id {
		return errNotDue
	}
	var busy bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM requests r JOIN subjects s ON s.id = r.subject_id
		WHERE s.root = ? AND r.state IN ('open', 'in_progress'))`, id).Scan(&busy); err != nil {
		return fmt.Errorf("read requests: %w", err)
	}
	r := &retained{last: parseTime(created)}
	rows, err := tx.QueryContext(ctx, `SELECT purpose, effect, event_id, at, retention_days, last_at FROM consent_state WHERE subject_id = ?`, id)
	if err != nil {
		return fmt.Errorf("read consent state: %w", err)
	}
	for rows.Next() {
		var purpose, effect, event, at, lastAt string
		var days int64
		if err := rows.Scan(&purpose, &effect, &event, &at, &days, &lastAt); err != nil {
			rows.Close()
			return err
		}
		r.add(purpose, effect, event, at, days, lastAt, now)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if !r.due(cutoff, busy) {
		return errNotDue
	}
	if _, err := s.eraseTx(ctx, tx, keys, id, hub.ErasedByRetention, ""); err != nil {
		return err
	}
	return tx.Commit()
}

// RetentionRuns lists recorded sweeps, newest first.
func (s *Store) RetentionRuns(ctx context.Context, limit int) ([]hub.RetentionRun, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, started_at, finished_at, by, expired, anonymised FROM retention_runs ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []hub.RetentionRun{}
	for rows.Next() {
		var r hub.RetentionRun
		var started, finished string
		if err := rows.Scan(&r.ID, &started, &finished, &r.By, &r.Expired, &r.Anonymised); err != nil {
			return nil, err
		}
		r.StartedAt, r.FinishedAt = parseTime(started), parseTime(finished)
		out = append(out, r)
	}
	return out, rows.Err()
}
