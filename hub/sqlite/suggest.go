package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/attesta/attesta/hub"
)

// Suggestions (similar names, Gmail-style folded emails) are made after
// ingest, not in its transaction: the ingest transaction queues each
// record that made a subject or added an email (suggest_queue), and
// Suggest works the queue off. It reads the queue and the candidates in a
// snapshot on a reader connection, beside the one writer, then deletes the
// entries and writes their suggestions in one short write transaction, so
// each entry is worked off exactly once and survives a crash until then.
//
// The suggestions are those ingest would have made in its transaction: an
// entry's candidates are the subjects made before its subject (rowid
// order) and the emails first seen before its own (not queued after it).
// Only where a merge, an undo or an erasure moved roots since the entry
// was queued do they name the roots as they are when it is worked off.

var suggestSQL = map[string]string{
	"epoch":  `SELECT n FROM suggest_epoch WHERE id = 1`,
	"queued": `SELECT seq, subject_id, event_id, new_subject FROM suggest_queue WHERE seq > ? ORDER BY seq LIMIT ?`,
	"emails": `SELECT value, folded, root FROM identifiers WHERE subject_id = ? AND event_id = ? AND folded IS NOT NULL`,
	// The identifiers ingest had seen when this one arrived: any other
	// with the same fold whose record is not queued after this one.
	"folded": `SELECT i.root FROM identifiers i WHERE i.folded = ? AND i.value != ?
		AND NOT EXISTS (SELECT 1 FROM suggest_queue q WHERE q.event_id = i.event_id AND q.subject_id = i.subject_id AND q.seq > ?) LIMIT 20`,
	"named": `SELECT rowid, name_gk, name_fk, full_name FROM subjects WHERE id = ?`,
	// The subjects ingest had made when this one was made.
	"similar": `SELECT id, root, full_name FROM subjects WHERE (name_gk = ? OR name_fk = ?) AND rowid < ? LIMIT 10`,
}

const (
	suggestUnqueueSQL = `DELETE FROM suggest_queue WHERE seq = ? AND event_id = ?`
	suggestPutSQL     = `INSERT INTO suggestions (subject_a, subject_b, reason, score, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`
)

// suggestBatch is how many queued records one call of Suggest works off.
const suggestBatch = 1000

type queued struct {
	seq            int64
	subject, event string
	newSubject     bool
	suggestions    []suggestion
}

type suggestion struct {
	a, b, reason string
	score        float64
}

// suggestReader is a transaction's prepared suggestion queries.
type suggestReader struct {
	ctx context.Context
	st  map[string]*sql.Stmt
}

// prepareSuggest prepares them in tx; c holds them if tx is the writer's.
func prepareSuggest(ctx context.Context, tx *sql.Tx, c *stmtCache) (*suggestReader, error) {
	st, err := c.all(ctx, tx, suggestSQL)
	if err != nil {
		return nil, err
	}
	return &suggestReader{ctx: ctx, st: st}, nil
}

// suggestBetween, when set (by tests), runs between Suggest's read and its
// write, where another transaction may commit.
var suggestBetween func()

// Suggest works off up to limit queued records (oldest first) and returns
// how many it worked off: fewer than limit means the queue was empty.
func (s *Store) Suggest(ctx context.Context, limit int) (int, error) {
	rtx, err := s.db.R.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin suggestions: %w", err)
	}
	defer rtx.Rollback()
	r, err := prepareSuggest(ctx, rtx, nil)
	if err != nil {
		return 0, err
	}
	var epoch int64
	if err := r.st["epoch"].QueryRowContext(ctx).Scan(&epoch); err != nil {
		return 0, fmt.Errorf("read suggestion epoch: %w", err)
	}
	batch, err := r.queued(limit)
	if err != nil || len(batch) == 0 {
		return 0, err
	}
	for _, q := range batch {
		if q.suggestions, err = r.suggestions(q); err != nil {
			return 0, err
		}
	}
	rtx.Rollback()
	if suggestBetween != nil {
		suggestBetween()
	}

	if s.ingesting.Load() > 0 {
		// Ingest keeps the one writer busy, and database/sql hands it to
		// a waiting caller at random: this worker would wait behind every
		// session. The next ingest transaction writes the batch instead.
		b := &readyBatch{epoch: epoch, batch: batch, done: make(chan error, 1)}
		s.readyMu.Lock()
		s.ready = b
		s.readyMu.Unlock()
		var err error
		select {
		case err = <-b.done:
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(handoffWait):
			err = errNotTaken
		}
		s.readyMu.Lock()
		taken := s.ready != b
		s.ready = nil
		s.readyMu.Unlock()
		if taken && err != nil && !errors.Is(err, errHandoffFailed) {
			err = <-b.done // taken meanwhile: its transaction decides
		}
		switch {
		case err == nil:
			return len(batch), nil
		case ctx.Err() != nil:
			return 0, ctx.Err()
		}
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin suggestions: %w", err)
	}
	defer tx.Rollback()
	if err := s.writeSuggestions(ctx, tx, epoch, batch); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit suggestions: %w", err)
	}
	return len(batch), nil
}

// handoffWait is how long a batch waits for an ingest transaction to
// write it before the worker takes the writer itself.
const handoffWait = 2 * time.Second

var (
	errNotTaken      = errors.New("no ingest transaction took the suggestions")
	errHandoffFailed = errors.New("the ingest transaction that took the suggestions failed")
)

// readyBatch is a batch of suggestions read beside the writer and waiting
// for an ingest transaction to write it; done gets nil once that
// transaction has committed, an error otherwise.
type readyBatch struct {
	epoch int64
	batch []*queued
	done  chan error
}

// takeSuggestions returns the batch waiting to be written, if any; the
// caller must send its outcome on done.
func (s *Store) takeSuggestions() *readyBatch {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	b := s.ready
	s.ready = nil
	return b
}

// writeSuggestions deletes a batch's queue entries and writes their
// suggestions in tx, reading them again first if roots moved or someone
// was erased since they were read (epoch).
func (s *Store) writeSuggestions(ctx context.Context, tx *sql.Tx, epoch int64, batch []*queued) error {
	var now int64
	if err := tx.QueryRowContext(ctx, suggestSQL["epoch"]).Scan(&now); err != nil {
		return fmt.Errorf("read suggestion epoch: %w", err)
	}
	if now != epoch {
		// Roots moved or someone was erased since the snapshot: read again
		// where nothing can move.
		w, err := prepareSuggest(ctx, tx, s.w)
		if err != nil {
			return err
		}
		for _, q := range batch {
			if q.suggestions, err = w.suggestions(q); err != nil {
				return err
			}
		}
	}
	unqueue, err := s.w.in(ctx, tx, suggestUnqueueSQL)
	if err != nil {
		return err
	}
	put, err := s.w.in(ctx, tx, suggestPutSQL)
	if err != nil {
		return err
	}
	at := s.now()
	for _, q := range batch {
		res, err := unqueue.ExecContext(ctx, q.seq, q.event)
		if err != nil {
			return fmt.Errorf("unqueue suggestions: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // worked off meanwhile
		}
		for _, g := range q.suggestions {
			if _, err := put.ExecContext(ctx, g.a, g.b, g.reason, g.score, at); err != nil {
				return fmt.Errorf("save suggestion: %w", err)
			}
		}
	}
	return nil
}

// SuggestQueued is how many ingested records still wait for their
// suggestions.
func (s *Store) SuggestQueued(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.R.QueryRowContext(ctx, `SELECT COUNT(*) FROM suggest_queue`).Scan(&n)
	return n, err
}

// WorkSuggestions works the suggestion queue off until ctx ends: at once
// when ingest queues records (after a short pause that lets a few batches
// gather, so the worker commits less often than ingest does), and every
// poll in any case. Errors go to onErr and are retried at the next poll.
func (s *Store) WorkSuggestions(ctx context.Context, poll time.Duration, onErr func(error)) {
	const gather = 200 * time.Millisecond
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		for {
			n, err := s.Suggest(ctx, suggestBatch)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				onErr(err)
				break
			}
			if n < suggestBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.suggestWake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(gather):
			}
		}
	}
}

func (r *suggestReader) queued(limit int) ([]*queued, error) {
	rows, err := r.st["queued"].QueryContext(r.ctx, 0, limit)
	if err != nil {
		return nil, fmt.Errorf("read suggestion queue: %w", err)
	}
	defer rows.Close()
	var out []*queued
	for rows.Next() {
		q := &queued{}
		if err := rows.Scan(&q.seq, &q.subject, &q.event, &q.newSubject); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// suggestions are what one queued record suggests: its new emails' folded
// namesakes, then, if it made its subject, subjects of a similar name.
func (r *suggestReader) suggestions(q *queued) ([]suggestion, error) {
	var out []suggestion
	add := func(a, b, reason string, score float64) {
		if a == b {
			return
		}
		if a > b {
			a, b = b, a
		}
		out = append(out, suggestion{a, b, reason, score})
	}
	type email struct{ value, folded, root string }
	var emails []email
	rows, err := r.st["emails"].QueryContext(r.ctx, q.subject, q.event)
	if err != nil {
		return nil, fmt.Errorf("new emails: %w", err)
	}
	for rows.Next() {
		var e email
		if err := rows.Scan(&e.value, &e.folded, &e.root); err != nil {
			rows.Close()
			return nil, err
		}
		emails = append(emails, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, e := range emails {
		others, err := r.strings("folded", e.folded, e.value, q.seq)
		if err != nil {
			return nil, fmt.Errorf("folded emails: %w", err)
		}
		for _, o := range others {
			add(e.root, o, hub.SuggestFoldedEmail, 1)
		}
	}
	if !q.newSubject {
		return out, nil
	}
	var rowid int64
	var gk, fk, full string
	err = r.st["named"].QueryRowContext(r.ctx, q.subject).Scan(&rowid, &gk, &fk, &full)
	if errors.Is(err, sql.ErrNoRows) || gk == "" {
		return out, nil // erased since, or no name to compare
	}
	if err != nil {
		return nil, fmt.Errorf("subject name: %w", err)
	}
	rows, err = r.st["similar"].QueryContext(r.ctx, gk, fk, rowid)
	if err != nil {
		return nil, fmt.Errorf("similar names: %w", err)
	}
	type cand struct {
		root  string
		score float64
	}
	var found []cand
	for rows.Next() {
		var id, oroot, name string
		if err := rows.Scan(&id, &oroot, &name); err != nil {
			rows.Close()
			return nil, err
		}
		if score := hub.JaroWinkler(full, name); score >= hub.NameSimilarity {
			found = append(found, cand{oroot, score})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// A name shared by many people says nothing about who is who: only a
	// rare one is worth a reviewer's time.
	if len(found) > hub.CommonName {
		return out, nil
	}
	for _, c := range found {
		add(q.subject, c.root, hub.SuggestSimilarName, c.score)
	}
	return out, nil
}

func (r *suggestReader) strings(name string, args ...any) ([]string, error) {
	return scanStrings(r.st[name].QueryContext(r.ctx, args...))
}
