package sqlite

import (
	"context"
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
	// Roots with their latest consent event, and whether any purpose is allowed.
	type subj struct {
		last    time.Time
		allowed bool
	}
	subjects := map[string]*subj{}
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
			sj = &subj{last: parseTime(created)}
			subjects[id] = sj
		}
		if purpose == nil {
			continue
		}
		if t := parseTime(*lastAt); t.After(sj.last) {
			sj.last = t
		}
		st := hub.Evaluate(*purpose, hub.Fact{Effect: hub.Effect(*effect), EventID: *event, At: parseTime(*at), RetentionDays: int(*days)}, true, now)
		switch st.Decision {
		case hub.Allowed:
			sj.allowed = true
		case hub.Expired:
			if !recorded {
				run.Expiries = append(run.Expiries, hub.Expiry{SubjectID: id, Purpose: *purpose, EventID: *event, ExpiredAt: *st.ExpiresAt})
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	cutoff := now.Add(-s.RetentionGrace)
	for id, sj := range subjects {
		if !sj.allowed && !hasRequest[id] && sj.last.Before(cutoff) {
			run.Subjects = append(run.Subjects, id)
		}
	}
	slices.Sort(run.Subjects)
	run.Expired, run.Anonymised = len(run.Expiries), len(run.Subjects)
	if dryRun {
		run.FinishedAt = s.Now().UTC()
		return run, nil
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
			res, err := tx.ExecContext(ctx, `INSERT INTO expiries (subject_id, purpose, event_id, expired_at, recorded_at) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT DO NOTHING`, x.SubjectID, x.Purpose, x.EventID, hub.FormatTime(x.ExpiredAt), at)
			if err != nil {
				return nil, fmt.Errorf("record expiry: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				continue // another sweep recorded it meanwhile
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
			err := s.eraseOne(ctx, keys, id)
			switch {
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

func (s *Store) eraseOne(ctx context.Context, keys *hub.Keys, id string) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
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
