package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
)

// checkIndex holds what a consent check reads — each identifier's root
// subject and each root's deciding fact per purpose — in memory, so that a
// check is a map lookup instead of two B-tree searches in a database of
// gigabytes. It is built from the database when the hub starts and kept in
// step through check_changes (migration 010), which triggers fill for every
// change to identifiers and consent_state, whoever makes it (the hub or the
// CLI). Check applies the log before it answers, so an answer reflects
// everything committed before the question, as an answer from SQLite does.
//
// Identifiers are held as two 64-bit hashes with random seeds, not as text:
// a wrong match needs both to collide, about one chance in 2^128 per pair.
type checkIndex struct {
	seeds [2]maphash.Seed

	catchUp sync.Mutex  // one catch-up at a time
	broken  atomic.Bool // a catch-up failed half way: stop answering from it

	mu       sync.RWMutex
	applied  int64                 // check_changes applied through
	idents   [2]map[identKey]int32 // by kind (email, phone) → subjects index
	subjects []indexedSubject
	slot     map[uuid.UUID]int32 // subject id → subjects index
	purposes map[string]uint16   // purpose code → number, in the order first seen
}

type identKey [2]uint64

type indexedSubject struct {
	id     uuid.UUID
	states []indexedState // at most one per purpose
}

// indexedState is a root subject's deciding fact for one purpose, what
// hub.Evaluate needs of it, in 32 bytes.
type indexedState struct {
	event     uuid.UUID
	sec       int64  // hub-corrected time of the deciding fact
	nsec      uint32 // its nanoseconds; the top bit says it is a grant
	retention uint16 // days (catalog.MaxRetentionDays is 3650)
	purpose   uint16
}

const grantBit = 1 << 31

func (st indexedState) at() time.Time { return time.Unix(st.sec, int64(st.nsec&^grantBit)).UTC() }
func (st indexedState) grant() bool   { return st.nsec&grantBit != 0 }

func newCheckIndex() *checkIndex {
	return &checkIndex{
		seeds:    [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		idents:   [2]map[identKey]int32{{}, {}},
		slot:     map[uuid.UUID]int32{},
		purposes: map[string]uint16{},
	}
}

func kindIndex(kind []byte) (int, error) {
	switch string(kind) {
	case hub.IdentEmail:
		return 0, nil
	case hub.IdentPhone:
		return 1, nil
	}
	return 0, fmt.Errorf("identifier kind %q", kind)
}

func (x *checkIndex) key(value []byte) identKey {
	return identKey{maphash.Bytes(x.seeds[0], value), maphash.Bytes(x.seeds[1], value)}
}

func (x *checkIndex) keyString(value string) identKey {
	return identKey{maphash.String(x.seeds[0], value), maphash.String(x.seeds[1], value)}
}

// subjectSlot returns the index of a subject, adding it if new. A subject
// that stops being a root keeps its (then empty) slot until the hub
// restarts: merges are rare, and no identifier leads there any more.
func (x *checkIndex) subjectSlot(id []byte) (int32, error) {
	u, err := uuid.ParseBytes(id)
	if err != nil {
		return 0, fmt.Errorf("subject id %q: %w", id, err)
	}
	if i, ok := x.slot[u]; ok {
		return i, nil
	}
	i := int32(len(x.subjects))
	x.subjects = append(x.subjects, indexedSubject{id: u})
	x.slot[u] = i
	return i, nil
}

// state decodes one consent_state row.
func (x *checkIndex) state(purpose, effect, event, at []byte, retention int64) (indexedState, error) {
	ev, err := uuid.ParseBytes(event)
	if err != nil {
		return indexedState{}, fmt.Errorf("event id %q: %w", event, err)
	}
	t, err := time.Parse(hub.TimeFormat, string(at))
	if err != nil {
		return indexedState{}, fmt.Errorf("state time %q: %w", at, err)
	}
	p, ok := x.purposes[string(purpose)]
	if !ok {
		if len(x.purposes) > 1<<16-1 {
			return indexedState{}, errors.New("more than 65535 purposes")
		}
		p = uint16(len(x.purposes))
		x.purposes[string(purpose)] = p
	}
	if retention < 0 || retention > 1<<16-1 {
		return indexedState{}, fmt.Errorf("retention of %d days", retention)
	}
	st := indexedState{event: ev, sec: t.Unix(), nsec: uint32(t.Nanosecond()), retention: uint16(retention), purpose: p}
	if string(effect) == string(hub.Grant) {
		st.nsec |= grantBit
	}
	return st, nil
}

// load reads the whole index in one read transaction, so that it and the
// log position it starts from are one snapshot.
func (x *checkIndex) load(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM check_changes`).Scan(&x.applied); err != nil {
		return fmt.Errorf("check index position: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT kind, value, root FROM identifiers`)
	if err != nil {
		return fmt.Errorf("load identifiers: %w", err)
	}
	if err := x.addIdentifiers(rows); err != nil {
		return fmt.Errorf("load identifiers: %w", err)
	}
	rows, err = tx.QueryContext(ctx, `SELECT subject_id, purpose, effect, event_id, at, retention_days FROM consent_state`)
	if err != nil {
		return fmt.Errorf("load consent states: %w", err)
	}
	if err := x.addStates(rows); err != nil {
		return fmt.Errorf("load consent states: %w", err)
	}
	x.pack()
	return nil
}

// pack moves every subject's states into one array, each subject's run
// capped at its length (a later change to one allocates anew): a million
// subjects are then one allocation instead of a million half-empty ones.
func (x *checkIndex) pack() {
	n := 0
	for _, s := range x.subjects {
		n += len(s.states)
	}
	all := make([]indexedState, 0, n)
	for i := range x.subjects {
		st := x.subjects[i].states
		all = append(all, st...)
		x.subjects[i].states = all[len(all)-len(st) : len(all) : len(all)]
	}
	x.subjects = slices.Clip(x.subjects)
}

// addIdentifiers reads rows of (kind, value, root) and points each
// identifier at its root, then closes rows.
func (x *checkIndex) addIdentifiers(rows *sql.Rows) error {
	return scanIdentifiers(rows, func(kind int, value, root []byte) error {
		return x.putIdentifier(kind, x.key(value), root)
	})
}

func (x *checkIndex) putIdentifier(kind int, key identKey, root []byte) error {
	i, err := x.subjectSlot(root)
	if err != nil {
		return err
	}
	x.idents[kind][key] = i
	return nil
}

// scanIdentifiers calls f with each row of (kind, value, root), whose
// bytes last until the next row, then closes rows.
func scanIdentifiers(rows *sql.Rows, f func(kind int, value, root []byte) error) error {
	defer rows.Close()
	var kind, value, root sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&kind, &value, &root); err != nil {
			return err
		}
		k, err := kindIndex(kind)
		if err != nil {
			return err
		}
		if err := f(k, value, root); err != nil {
			return err
		}
	}
	return rows.Err()
}

// addStates reads consent_state rows of root subjects and adds each to its
// subject, then closes rows.
func (x *checkIndex) addStates(rows *sql.Rows) error {
	return scanStates(rows, func(subject uuid.UUID, purpose, effect, event, at []byte, retention int64) error {
		return x.putState(subject, nil, purpose, effect, event, at, retention)
	})
}

// putState adds a state to its subject. States of subjects no identifier
// leads to are skipped unless fresh says they are being refreshed.
func (x *checkIndex) putState(subject uuid.UUID, fresh map[uuid.UUID]bool, purpose, effect, event, at []byte, retention int64) error {
	i, ok := x.slot[subject]
	if !ok && !fresh[subject] {
		return nil
	}
	if !ok {
		i = int32(len(x.subjects))
		x.subjects = append(x.subjects, indexedSubject{id: subject})
		x.slot[subject] = i
	}
	st, err := x.state(purpose, effect, event, at, retention)
	if err != nil {
		return err
	}
	x.subjects[i].states = append(x.subjects[i].states, st)
	return nil
}

// scanStates calls f with each consent_state row of (subject, purpose,
// effect, event, at, retention), whose bytes last until the next row, then
// closes rows.
func scanStates(rows *sql.Rows, f func(subject uuid.UUID, purpose, effect, event, at []byte, retention int64) error) error {
	defer rows.Close()
	var subject, purpose, effect, event, at sql.RawBytes
	var retention int64
	for rows.Next() {
		if err := rows.Scan(&subject, &purpose, &effect, &event, &at, &retention); err != nil {
			return err
		}
		u, err := uuid.ParseBytes(subject)
		if err != nil {
			return fmt.Errorf("subject id %q: %w", subject, err)
		}
		if err := f(u, purpose, effect, event, at, retention); err != nil {
			return err
		}
	}
	return rows.Err()
}

// sync applies what check_changes holds past the index's position.
func (x *checkIndex) sync(ctx context.Context, db *sql.DB) error {
	var last int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM check_changes`).Scan(&last); err != nil {
		return fmt.Errorf("check index position: %w", err)
	}
	x.mu.RLock()
	behind := last > x.applied
	x.mu.RUnlock()
	if !behind {
		return nil
	}
	x.catchUp.Lock()
	defer x.catchUp.Unlock()
	return x.refresh(ctx, db)
}

// What a catch-up reads: the changes, then the named subjects' identifiers
// and states (a JSON array of root ids).
const (
	checkChangesSQL = `SELECT seq, subject, removed FROM check_changes WHERE seq > ? ORDER BY seq`
	checkIdentsSQL  = `SELECT i.kind, i.value, i.root FROM json_each(?) j
		JOIN subjects s ON s.root = j.value JOIN identifiers i ON i.subject_id = s.id AND i.root = j.value`
	checkStatesSQL = `SELECT st.subject_id, st.purpose, st.effect, st.event_id, st.at, st.retention_days
		FROM json_each(?) j JOIN consent_state st ON st.subject_id = j.value`
)

// refresh reads the changes past the index's position and, from the same
// snapshot, the identifiers and states of every subject they name, then
// swaps them in: removed identifiers first, then each named subject as it
// now is.
func (x *checkIndex) refresh(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	x.mu.RLock()
	from := x.applied
	x.mu.RUnlock()
	rows, err := tx.QueryContext(ctx, checkChangesSQL, from)
	if err != nil {
		return fmt.Errorf("read check changes: %w", err)
	}
	to := from
	var subjects []string
	seen := map[string]bool{}
	left := map[uuid.UUID]bool{} // subjects an identifier left
	for rows.Next() {
		var seq int64
		var subject string
		var removed bool
		if err := rows.Scan(&seq, &subject, &removed); err != nil {
			rows.Close()
			return err
		}
		to = seq
		if subject == "" {
			continue
		}
		if removed {
			u, err := uuid.Parse(subject)
			if err != nil {
				rows.Close()
				return fmt.Errorf("subject id %q: %w", subject, err)
			}
			left[u] = true
		}
		if !seen[subject] {
			seen[subject] = true
			subjects = append(subjects, subject)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if to == from {
		return nil
	}
	in, err := json.Marshal(subjects)
	if err != nil {
		return err
	}
	// Read everything first; hold the lock checks wait on only to swap.
	type identRow struct {
		kind int
		key  identKey
		root []byte
	}
	var idents []identRow
	idRows, err := tx.QueryContext(ctx, checkIdentsSQL, string(in))
	if err != nil {
		return fmt.Errorf("read identifiers: %w", err)
	}
	err = scanIdentifiers(idRows, func(kind int, value, root []byte) error {
		idents = append(idents, identRow{kind, x.key(value), slices.Clone(root)})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read identifiers: %w", err)
	}
	type stateRow struct {
		subject                    uuid.UUID
		purpose, effect, event, at []byte
		retention                  int64
	}
	var states []stateRow
	stRows, err := tx.QueryContext(ctx, checkStatesSQL, string(in))
	if err != nil {
		return fmt.Errorf("read consent states: %w", err)
	}
	err = scanStates(stRows, func(subject uuid.UUID, purpose, effect, event, at []byte, retention int64) error {
		states = append(states, stateRow{subject, slices.Clone(purpose), slices.Clone(effect), slices.Clone(event), slices.Clone(at), retention})
		return nil
	})
	if err != nil {
		return fmt.Errorf("read consent states: %w", err)
	}
	fresh := make(map[uuid.UUID]bool, len(subjects))
	for _, s := range subjects {
		u, err := uuid.Parse(s)
		if err != nil {
			return fmt.Errorf("subject id %q: %w", s, err)
		}
		fresh[u] = true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(left) > 0 {
		// The log names no identifiers: forget every one that led to a
		// subject one left; the subject's current ones come back below.
		// Erasures and undone merges are rare; this is one pass over the
		// identifiers for all of them.
		slots := map[int32]bool{}
		for u := range left {
			if i, ok := x.slot[u]; ok {
				slots[i] = true
			}
		}
		for k := range x.idents {
			for key, i := range x.idents[k] {
				if slots[i] {
					delete(x.idents[k], key)
				}
			}
		}
	}
	for u := range fresh {
		if i, ok := x.slot[u]; ok {
			x.subjects[i].states = x.subjects[i].states[:0]
		}
	}
	for _, r := range idents {
		if err = x.putIdentifier(r.kind, r.key, r.root); err != nil {
			break
		}
	}
	for _, r := range states {
		if err != nil {
			break
		}
		err = x.putState(r.subject, fresh, r.purpose, r.effect, r.event, r.at, r.retention)
	}
	if err != nil {
		x.broken.Store(true)
		return fmt.Errorf("apply check changes: %w", err)
	}
	x.applied = to
	return nil
}

// answer decides one query from the index; the caller holds mu for reading.
func (x *checkIndex) answer(q hub.CheckQuery, now time.Time) hub.Decision {
	d := hub.Decision{Decision: hub.Unknown}
	k, err := kindIndex([]byte(q.Ident.Kind))
	if err != nil {
		return d
	}
	i, ok := x.idents[k][x.keyString(q.Ident.Value)]
	if !ok {
		return d
	}
	s := &x.subjects[i]
	d.SubjectID = s.id.String()
	p, ok := x.purposes[q.Purpose]
	if !ok {
		return d
	}
	for _, st := range s.states {
		if st.purpose != p {
			continue
		}
		f := hub.Fact{Effect: hub.Deny, EventID: st.event.String(), At: st.at(), RetentionDays: int(st.retention)}
		if st.grant() {
			f.Effect = hub.Grant
		}
		e := hub.Evaluate("", f, true, now)
		d.Decision, d.EventID, d.Since, d.ExpiresAt = e.Decision, e.EventID, e.Since, e.ExpiresAt
		break
	}
	return d
}

// Figures for /metrics: subjects and identifiers held.
func (x *checkIndex) size() (subjects, identifiers int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.slot), len(x.idents[0]) + len(x.idents[1])
}

// ChecksFromMemory says whether checks are answered from the in-memory
// index (built, and in step) rather than from SQLite.
func (s *Store) ChecksFromMemory() bool {
	x := s.checks.Load()
	return x != nil && !x.broken.Load()
}

// Check index timing: how often the running hub applies the log when no
// check asks, and how often it trims what it has applied.
const (
	checkIndexPoll  = time.Second
	checkIndexRetry = 30 * time.Second
)

var checkIndexTrim = time.Minute

// ServeChecks starts, until the store closes, what the running hub does
// for consent checks: with memory, it builds the in-memory check index in
// the background and keeps it in step (until it is built, and whenever it
// fails, checks are answered from SQLite); either way it trims the
// check_changes log. The CLI does neither; its checks read SQLite.
func (s *Store) ServeChecks(log *slog.Logger, memory bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopIndex = func() { cancel(); <-done }
	go func() {
		defer close(done)
		if memory {
			s.runCheckIndex(ctx, log)
			return
		}
		t := time.NewTicker(checkIndexTrim)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			var last int64
			err := s.db.R.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM check_changes`).Scan(&last)
			if err == nil {
				err = s.trimCheckChanges(ctx, last)
			}
			if err != nil && ctx.Err() == nil {
				log.Error("trim check changes", "err", err)
			}
		}
	}()
}

func (s *Store) runCheckIndex(ctx context.Context, log *slog.Logger) {
	for ctx.Err() == nil {
		start := time.Now()
		x := newCheckIndex()
		err := x.load(ctx, s.db.R)
		if err == nil {
			n, ids := x.size()
			log.Info("consent checks answered from memory", "subjects", n, "identifiers", ids, "took", time.Since(start).Round(time.Millisecond))
			s.checks.Store(x)
			err = s.followChecks(ctx, x)
			s.checks.Store(nil)
		}
		if ctx.Err() != nil {
			return
		}
		log.Error("check index stopped; checks read the database until it is rebuilt", "err", err, "retry_in", checkIndexRetry)
		select {
		case <-ctx.Done():
		case <-time.After(checkIndexRetry):
		}
	}
}

// followChecks applies the log every checkIndexPoll (checks apply it
// themselves too) and trims it every checkIndexTrim, until ctx ends or
// something fails.
func (s *Store) followChecks(ctx context.Context, x *checkIndex) error {
	poll, trim := time.NewTicker(checkIndexPoll), time.NewTicker(checkIndexTrim)
	defer poll.Stop()
	defer trim.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
			if x.broken.Load() {
				return errors.New("a check could not bring the index up to date")
			}
			if err := x.sync(ctx, s.db.R); err != nil {
				return err
			}
		case <-trim.C:
			x.mu.RLock()
			applied := x.applied
			x.mu.RUnlock()
			if err := s.trimCheckChanges(ctx, applied); err != nil {
				return err
			}
		}
	}
}

// trimCheckChanges deletes applied changes in chunks, keeping the newest
// applied row so the log's position never goes back.
func (s *Store) trimCheckChanges(ctx context.Context, applied int64) error {
	_, err := s.deleteInChunks(ctx, `DELETE FROM check_changes WHERE seq < ? AND seq < (SELECT MIN(seq) FROM check_changes) + 5000`, applied)
	if err != nil {
		return fmt.Errorf("trim check changes: %w", err)
	}
	return nil
}
