package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
)

// reconciler links events to subjects and keeps consent_state in step with
// facts, inside the transaction that stores the events: a record the hub
// has acknowledged is already part of every answer.
type reconciler struct {
	ctx context.Context
	tx  *sql.Tx
	c   *stmtCache
	st  map[string]*sql.Stmt
	cat *catalog.Catalog
	now string
	// tomb is the key of erased identifiers' hashes; when set, a record
	// captured before its person was erased joins their tombstone and is
	// erased on arrival (erased is then set for the caller).
	tomb   []byte
	erased bool
	// people holds what was derived from a batch's people before the
	// transaction began (see preparePeople); a subject missing here is
	// prepared in it.
	people map[*record.Subject]*person
	// linked remembers the subject and root of each event linked in this
	// transaction, so a record referencing one of its batch (a notice view
	// and its consent) needs no query. A merge forgets it: roots move.
	linked map[string][2]string
	// refsKnown says linked also holds every event a record of the batch
	// references that was linked before the transaction (see prefetch):
	// a reference missing from it is to an event not linked.
	refsKnown bool
	// known holds, when not nil, the subject and root of every identifier
	// of the batch's people already held, read in one query per kind
	// before the first record and kept up to date as records add some.
	known map[hub.Identifier][2]string
	// queued counts the records queued for suggestions (see suggest.go).
	queued int
	// pending holds new rows of subjects, identifiers, subject_events,
	// suggest_queue, facts, consent_state and notifications (in the order
	// flush writes them) until flush, which runs before anything in the
	// transaction reads those tables, and before commit.
	pending [7]heldRows
}

const (
	pendSubject = iota
	pendIdentifier
	pendLink
	pendQueue
	pendFact
	pendState
	pendNotification
)

func newPending() [7]heldRows {
	return [7]heldRows{
		{head: `INSERT INTO subjects (id, root, created_at, name_gk, name_fk, full_name) VALUES `, cols: 6},
		{head: `INSERT INTO identifiers (kind, value, subject_id, root, folded, event_id) VALUES `, tail: ` ON CONFLICT DO NOTHING`, cols: 6},
		{head: `INSERT INTO subject_events (event_id, subject_id) VALUES `, tail: ` ON CONFLICT DO NOTHING`, cols: 2},
		{head: `INSERT INTO suggest_queue (subject_id, event_id, new_subject) VALUES `, cols: 3},
		{head: `INSERT INTO facts (subject_id, purpose, event_id, kind, effect, at, hlc, collector, seq, suspect, retention_days, touchpoint) VALUES `, cols: 12},
		{head: `INSERT INTO consent_state (subject_id, purpose, effect, event_id, at, suspect, retention_days, last_at, last_hlc, last_collector, last_seq, last_event) VALUES `, cols: 12},
		// Every notification ingest makes waits here, so their order is kept.
		{head: `INSERT INTO notifications (type, subject_id, created_at, data) VALUES `, cols: 4},
	}
}

// hold keeps one row for table until flush.
func (r *reconciler) hold(table int, values ...any) { r.pending[table].add(values...) }

// flush writes the rows held back.
func (r *reconciler) flush() error {
	for i := range r.pending {
		if err := r.pending[i].flush(r.ctx, r.tx, r.c); err != nil {
			return err
		}
	}
	return nil
}

// person is what matching needs of a captured person, all of it derived
// from the record alone: normalised identifiers, folded emails, name keys.
type person struct {
	ids    []hub.Identifier
	folded []any // per identifier: the folded email, nil for a phone
	gk, fk string
	full   string
}

func preparePerson(cat *catalog.Catalog, touchpoint string, s *record.Subject) *person {
	p := &person{}
	p.ids, _ = hub.Identifiers(*s, regionOf(cat, touchpoint))
	p.folded = make([]any, len(p.ids))
	for i, id := range p.ids {
		if id.Kind == hub.IdentEmail {
			p.folded[i] = hub.FoldEmail(id.Value)
		}
	}
	p.gk, p.fk = hub.NameKeys(s.GivenName, s.FamilyName)
	p.full = hub.FullName(s.GivenName, s.FamilyName)
	return p
}

// preparePeople derives what matching needs of a batch's people before the
// write transaction: phone parsing and name keys are the dearest part of
// matching, and done here they run beside other sessions' transactions
// instead of holding the one writer.
func preparePeople(cat *catalog.Catalog, batch []hub.Incoming) map[*record.Subject]*person {
	out := make(map[*record.Subject]*person, len(batch))
	for _, in := range batch {
		if in.Reject == nil && in.Env != nil && in.Subject != nil {
			out[in.Subject] = preparePerson(cat, in.Env.Touchpoint, in.Subject)
		}
	}
	return out
}

var reconcileSQL = map[string]string{
	// Two point lookups: an OR of the two made SQLite build a row set and
	// sort it, several times the cost.
	"ident": `SELECT 0 AS o, subject_id, root FROM identifiers WHERE kind = ? AND value = ?
		UNION ALL SELECT 1, subject_id, root FROM identifiers WHERE kind = ? AND value = ? ORDER BY o`,
	"identPut":     `INSERT INTO identifiers (kind, value, subject_id, root, folded, event_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	"eventSubject": `SELECT se.subject_id, s.root FROM subject_events se JOIN subjects s ON s.id = se.subject_id WHERE se.event_id = ?`,
	// The batch's identifiers and references, one query each (see prefetch).
	"identsOf": `SELECT value, subject_id, root FROM identifiers WHERE kind = ? AND value IN (SELECT value FROM json_each(?))`,
	"eventsSubjects": `SELECT se.event_id, se.subject_id, s.root FROM subject_events se JOIN subjects s ON s.id = se.subject_id
		WHERE se.event_id IN (SELECT value FROM json_each(?))`,
	"factPut": `INSERT INTO facts (subject_id, purpose, event_id, kind, effect, at, hlc, collector, seq, suspect, retention_days, touchpoint)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	"expiredGrant": expiredGrantSQL,
	"state": `SELECT effect, event_id, at, suspect, retention_days, last_at, last_hlc, last_collector, last_seq, last_event
		FROM consent_state WHERE subject_id = ? AND purpose = ?`,
	"statePut": `INSERT INTO consent_state (subject_id, purpose, effect, event_id, at, suspect, retention_days, last_at, last_hlc, last_collector, last_seq, last_event)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (subject_id, purpose) DO UPDATE SET effect = excluded.effect,
		event_id = excluded.event_id, at = excluded.at, suspect = excluded.suspect, retention_days = excluded.retention_days,
		last_at = excluded.last_at, last_hlc = excluded.last_hlc, last_collector = excluded.last_collector,
		last_seq = excluded.last_seq, last_event = excluded.last_event`,
	"mergePut": `INSERT INTO merges (into_id, from_id, reason, by, created_at) VALUES (?, ?, ?, ?, ?)`,
	"erasedID": `SELECT e.subject_id, e.erased_at FROM erased_identifiers i JOIN erasures e ON e.subject_id = i.subject_id
		WHERE i.hash = ? ORDER BY e.erased_at DESC LIMIT 1`,
}

// newReconciler reconciles in tx, a transaction of the writer, whose
// statements c holds.
func newReconciler(ctx context.Context, tx *sql.Tx, c *stmtCache, cat *catalog.Catalog, now string) (*reconciler, error) {
	st, err := c.all(ctx, tx, reconcileSQL)
	if err != nil {
		return nil, err
	}
	return &reconciler{ctx: ctx, tx: tx, c: c, st: st, cat: cat, now: now, linked: map[string][2]string{}, pending: newPending()}, nil
}

// regionOf is the default region for phone numbers written without a
// country code: the touchpoint's country, else the controller's jurisdiction.
func regionOf(cat *catalog.Catalog, touchpoint string) string {
	if tp, ok := cat.Touchpoint(touchpoint); ok && tp.Country != "" {
		return tp.Country
	}
	return cat.Jurisdiction
}

func (r *reconciler) retention(purpose string) int {
	p, _ := r.cat.Purpose(purpose)
	return p.RetentionDays
}

// apply reconciles one stored event. subject is the opened payload's
// person, nil for records without one (notice views, withdrawals), which
// belong to the subject of the record they reference.
func (r *reconciler) apply(env *record.Envelope, subject *record.Subject, at time.Time, suspect bool) error {
	var sid, root string
	var created bool
	r.erased = false
	switch {
	case subject != nil:
		var err error
		if sid, root, created, err = r.match(env, subject, at); err != nil {
			return err
		}
	case env.Ref != "" && r.linked[env.Ref][0] != "":
		sid, root = r.linked[env.Ref][0], r.linked[env.Ref][1]
	case env.Ref != "" && r.refsKnown:
		return nil // not linked: as the query below finding no row
	case env.Ref != "":
		if err := r.flush(); err != nil {
			return err
		}
		err := r.st["eventSubject"].QueryRowContext(r.ctx, env.Ref).Scan(&sid, &root)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // the referenced record has not arrived; it links the subject itself
		}
		if err != nil {
			return fmt.Errorf("subject of %s: %w", env.Ref, err)
		}
	default:
		return nil
	}
	if sid == "" {
		return nil // nothing identifies the person
	}
	r.hold(pendLink, env.ID, sid)
	if r.erased { // a tombstone's root is read where it is kept
		r.refsKnown = false
	} else {
		r.linked[env.ID] = [2]string{sid, root}
	}
	facts := hub.Facts(env, at, suspect, r.retention)
	if created {
		return r.firstFacts(root, facts)
	}
	for _, f := range facts {
		res, err := r.st["factPut"].ExecContext(r.ctx, sid, f.Purpose, f.EventID, string(f.Kind), string(f.Effect), hub.FormatTime(f.At),
			int64(f.HLC), f.Collector, f.Seq, f.Suspect, f.RetentionDays, f.Touchpoint)
		if err != nil {
			return fmt.Errorf("save fact: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if err := r.fold(root, f); err != nil {
				return err
			}
		}
	}
	return nil
}

// firstFacts holds the facts of a new person's first record, and the state
// and notification each one decides, for flush: a new person has no state
// to fold into, so every fact is its purpose's state. A purpose named
// twice in one record counts once, as its first fact.
func (r *reconciler) firstFacts(root string, facts []hub.Fact) error {
	var seen []string
	for _, f := range facts {
		if slices.Contains(seen, f.Purpose) {
			continue
		}
		seen = append(seen, f.Purpose)
		at := hub.FormatTime(f.At)
		r.hold(pendFact, root, f.Purpose, f.EventID, string(f.Kind), string(f.Effect), at,
			int64(f.HLC), f.Collector, f.Seq, f.Suspect, f.RetentionDays, f.Touchpoint)
		r.hold(pendState, root, f.Purpose, string(f.Effect), f.EventID, at, f.Suspect,
			f.RetentionDays, at, int64(f.HLC), f.Collector, f.Seq, f.EventID)
		if c, ok := consentChange(root, f.Purpose, hub.Unknown, &f, ""); ok {
			b, err := json.Marshal(c)
			if err != nil {
				return err
			}
			r.hold(pendNotification, hub.NotifyConsentChanged, root, r.now, string(b))
		}
	}
	return nil
}

// match finds or makes the subject a captured person belongs to. Equal
// normalised identifiers are the same person; an email of one subject and a
// phone of another in the same record merge the two (by a link).
func (r *reconciler) match(env *record.Envelope, s *record.Subject, at time.Time) (sid, root string, created bool, err error) {
	p, prepared := r.people[s]
	if !prepared {
		p = preparePerson(r.cat, env.Touchpoint, s)
	}
	ids := p.ids
	if len(ids) == 0 {
		return "", "", false, nil
	}
	if tomb, err := r.erasedBefore(ids, at); err != nil || tomb != "" {
		r.erased = tomb != ""
		return tomb, tomb, false, err
	}
	// The email's subject comes first.
	var roots []string
	if r.known != nil && prepared { // prefetch read only prepared people's
		for _, id := range []hub.Identifier{ids[0], ids[len(ids)-1]} {
			if k, ok := r.known[id]; ok {
				if sid == "" {
					sid, root = k[0], k[1]
				}
				if !slices.Contains(roots, k[1]) {
					roots = append(roots, k[1])
				}
			}
		}
	} else if err = r.flush(); err != nil {
		return "", "", false, err
	} else if sid, root, roots, err = r.lookUp(ids); err != nil {
		return "", "", false, err
	}
	if sid == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return "", "", false, err
		}
		sid, root, created = u.String(), u.String(), true
		r.hold(pendSubject, sid, sid, r.now, p.gk, p.fk, p.full)
	}
	for _, other := range roots[min(1, len(roots)):] {
		reason := fmt.Sprintf("record %s carries identifiers of both subjects", env.ID)
		if err := r.merge(root, other, reason, "auto"); err != nil {
			return "", "", false, err
		}
	}
	var newEmail bool
	for i, id := range ids {
		folded := p.folded[i]
		if r.known != nil && prepared {
			// The batch's identifiers held before it and those it added
			// are known: one missing is new, and its row can wait.
			if _, held := r.known[id]; !held {
				r.hold(pendIdentifier, id.Kind, id.Value, sid, root, folded, env.ID)
				r.known[id] = [2]string{sid, root}
				newEmail = newEmail || id.Kind == hub.IdentEmail
			}
			continue
		}
		if err := r.flush(); err != nil {
			return "", "", false, err
		}
		res, err := r.st["identPut"].ExecContext(r.ctx, id.Kind, id.Value, sid, root, folded, env.ID)
		if err != nil {
			return "", "", false, fmt.Errorf("save identifier: %w", err)
		}
		n, _ := res.RowsAffected()
		if n == 1 && r.known != nil {
			r.known[id] = [2]string{sid, root}
		}
		newEmail = newEmail || n == 1 && id.Kind == hub.IdentEmail
	}
	if created || newEmail {
		r.hold(pendQueue, sid, env.ID, created)
		r.queued++
	}
	return sid, root, created, nil
}

// lookUp finds the subjects of a person's identifiers in one query, the
// email's first, and the roots they belong to.
func (r *reconciler) lookUp(ids []hub.Identifier) (sid, root string, roots []string, err error) {
	args := []any{ids[0].Kind, ids[0].Value, ids[len(ids)-1].Kind, ids[len(ids)-1].Value}
	rows, err := r.st["ident"].QueryContext(r.ctx, args...)
	if err != nil {
		return "", "", nil, fmt.Errorf("find identifiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o int
		var isid, iroot string
		if err := rows.Scan(&o, &isid, &iroot); err != nil {
			return "", "", nil, err
		}
		if sid == "" {
			sid, root = isid, iroot
		}
		if !slices.Contains(roots, iroot) {
			roots = append(roots, iroot)
		}
	}
	return sid, root, roots, rows.Err()
}

// prefetch reads, in one query per identifier kind and one for
// references, what matching and linking the batch would otherwise ask
// record by record: the identifiers already held and the subjects of the
// events the batch's records reference. Each statement through the one
// writer costs about as much as the work it does; this saves two per
// person. A merge (roots move) makes the reconciler forget both.
func (r *reconciler) prefetch(batch []hub.Incoming) error {
	byKind := map[string][]string{}
	var refs []string
	for _, in := range batch {
		if in.Reject != nil || in.Env == nil {
			continue
		}
		if in.Env.Ref != "" {
			refs = append(refs, in.Env.Ref)
		}
		if p := r.people[in.Subject]; in.Subject != nil && p != nil {
			for _, id := range p.ids {
				byKind[id.Kind] = append(byKind[id.Kind], id.Value)
			}
		}
	}
	known := map[hub.Identifier][2]string{}
	for kind, values := range byKind {
		list, _ := json.Marshal(values)
		rows, err := r.st["identsOf"].QueryContext(r.ctx, kind, string(list))
		if err != nil {
			return fmt.Errorf("find identifiers: %w", err)
		}
		for rows.Next() {
			var v, sid, root string
			if err := rows.Scan(&v, &sid, &root); err != nil {
				rows.Close()
				return err
			}
			known[hub.Identifier{Kind: kind, Value: v}] = [2]string{sid, root}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	list, _ := json.Marshal(refs)
	rows, err := r.st["eventsSubjects"].QueryContext(r.ctx, string(list))
	if err != nil {
		return fmt.Errorf("subjects of references: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, sid, root string
		if err := rows.Scan(&id, &sid, &root); err != nil {
			return err
		}
		if _, ok := r.linked[id]; !ok {
			r.linked[id] = [2]string{sid, root}
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.known, r.refsKnown = known, true
	return nil
}

// erasedBefore returns the erased subject a record captured at `at`
// belongs to: one of its identifiers was erased after it was captured (a
// kiosk offline since). A record made after the erasure is a new consent
// and starts a new subject.
func (r *reconciler) erasedBefore(ids []hub.Identifier, at time.Time) (string, error) {
	if r.tomb == nil {
		return "", nil
	}
	for _, id := range ids {
		var sid, erased string
		err := r.st["erasedID"].QueryRowContext(r.ctx, identHashWith(r.tomb, id)).Scan(&sid, &erased)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("erased identifiers: %w", err)
		}
		if at.Before(parseTime(erased)) {
			return sid, nil
		}
	}
	return "", nil
}

// merge links root from into root into and moves from's whole group.
func (r *reconciler) merge(into, from, reason, by string) error {
	if err := r.flush(); err != nil {
		return err
	}
	if _, err := r.st["mergePut"].ExecContext(r.ctx, into, from, reason, by, r.now); err != nil {
		return fmt.Errorf("save merge: %w", err)
	}
	clear(r.linked)
	r.known, r.refsKnown = nil, false
	return regroup(r.ctx, r.tx, r.now, []string{from, into})
}

// fold brings one new fact into its subject's state: directly when it
// sorts after every fact seen, else by deciding again from the history.
func (r *reconciler) fold(root string, f hub.Fact) error {
	var cur, last hub.Fact
	var at, lastAt, effect string
	if err := r.flush(); err != nil { // the state may be held
		return err
	}
	err := r.st["state"].QueryRowContext(r.ctx, root, f.Purpose).Scan(&effect, &cur.EventID, &at, &cur.Suspect, &cur.RetentionDays,
		&lastAt, &last.HLC, &last.Collector, &last.Seq, &last.EventID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := r.putState(root, f, f); err != nil {
			return err
		}
		return r.changed(root, prior{}, &f)
	case err != nil:
		return fmt.Errorf("read consent state: %w", err)
	}
	cur.Purpose, cur.Effect, cur.At, last.At = f.Purpose, hub.Effect(effect), parseTime(at), parseTime(lastAt)
	if hub.Compare(f, last) > 0 {
		prev := prior{cur.Effect, cur.EventID}
		if hub.Supersedes(f, cur) {
			cur = f
		}
		if err := r.putState(root, cur, f); err != nil {
			return err
		}
		return r.changed(root, prev, &cur)
	}
	if err := r.flush(); err != nil { // the history reads subjects
		return err
	}
	return decideAgain(r.ctx, r.tx, r.now, root, f.Purpose)
}

func (r *reconciler) putState(root string, win, last hub.Fact) error {
	_, err := r.st["statePut"].ExecContext(r.ctx, root, win.Purpose, string(win.Effect), win.EventID, hub.FormatTime(win.At), win.Suspect,
		win.RetentionDays, hub.FormatTime(last.At), int64(last.HLC), last.Collector, last.Seq, last.EventID)
	if err != nil {
		return fmt.Errorf("save consent state: %w", err)
	}
	return nil
}

// querier is what both a transaction and the database offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// groupFacts returns the history of a root subject's group, for one purpose
// or ("" ) all of them, in decision order.
func groupFacts(ctx context.Context, q querier, root, purpose string) ([]hub.Fact, error) {
	query := `SELECT f.purpose, f.event_id, f.kind, f.effect, f.at, f.hlc, f.collector, f.seq, f.suspect, f.retention_days, f.touchpoint
		FROM facts f JOIN subjects s ON s.id = f.subject_id WHERE s.root = ? AND (? = '' OR f.purpose = ?)`
	rows, err := q.QueryContext(ctx, query, root, purpose, purpose)
	if err != nil {
		return nil, fmt.Errorf("read facts: %w", err)
	}
	defer rows.Close()
	var out []hub.Fact
	for rows.Next() {
		var f hub.Fact
		var kind, effect, at string
		var h int64
		if err := rows.Scan(&f.Purpose, &f.EventID, &kind, &effect, &at, &h, &f.Collector, &f.Seq, &f.Suspect, &f.RetentionDays, &f.Touchpoint); err != nil {
			return nil, err
		}
		f.Kind, f.Effect, f.At, f.HLC = record.Kind(kind), hub.Effect(effect), parseTime(at), uint64(h)
		out = append(out, f)
	}
	slices.SortFunc(out, hub.Compare)
	return out, rows.Err()
}

// decideAgain recomputes one root subject's state for one purpose, or for
// every purpose when purpose is "", from the whole history of its group,
// and notifies each decision that changed.
func decideAgain(ctx context.Context, tx *sql.Tx, now, root, purpose string) error {
	facts, err := groupFacts(ctx, tx, root, purpose)
	if err != nil {
		return err
	}
	prev, err := consentPriors(ctx, tx, root, purpose)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM consent_state WHERE subject_id = ? AND (? = '' OR purpose = ?)`, root, purpose, purpose); err != nil {
		return fmt.Errorf("clear consent state: %w", err)
	}
	byPurpose := map[string][]hub.Fact{}
	for _, f := range facts {
		byPurpose[f.Purpose] = append(byPurpose[f.Purpose], f)
	}
	for p, fs := range byPurpose {
		win, _ := hub.Decide(fs)
		last := fs[len(fs)-1] // facts come sorted
		if _, err := tx.ExecContext(ctx, reconcileSQL["statePut"], root, p, string(win.Effect), win.EventID, hub.FormatTime(win.At), win.Suspect,
			win.RetentionDays, hub.FormatTime(last.At), int64(last.HLC), last.Collector, last.Seq, last.EventID); err != nil {
			return fmt.Errorf("save consent state: %w", err)
		}
		if err := consentChanged(ctx, tx, now, root, p, prev[p], &win, ""); err != nil {
			return err
		}
	}
	for p, e := range prev {
		if byPurpose[p] == nil {
			if err := consentChanged(ctx, tx, now, root, p, e, nil, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

// regroup recomputes, for every subject in the groups of roots, its root
// by following the active merge links, then decides every purpose again
// for each resulting root. Merges and undos both end here.
func regroup(ctx context.Context, tx *sql.Tx, now string, roots []string) error {
	members := map[string]bool{}
	for _, r := range roots {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM subjects WHERE root = ?`, r)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			members[id] = true
		}
		rows.Close()
		members[r] = true
	}
	newRoots := map[string]bool{}
	for m := range members {
		root, seen := m, map[string]bool{}
		for !seen[root] {
			seen[root] = true
			var into string
			err := tx.QueryRowContext(ctx, `SELECT into_id FROM merges WHERE from_id = ? AND undone_at IS NULL ORDER BY id DESC LIMIT 1`, root).Scan(&into)
			if errors.Is(err, sql.ErrNoRows) {
				break
			}
			if err != nil {
				return err
			}
			root = into
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subjects SET root = ? WHERE id = ?`, root, m); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE identifiers SET root = ? WHERE subject_id = ?`, root, m); err != nil {
			return err
		}
		newRoots[root] = true
	}
	for _, r := range roots {
		if !newRoots[r] {
			// The subject is no longer a root: its decisions are now its
			// group's, which receivers hear about under merged_into.
			prev, err := consentPriors(ctx, tx, r, "")
			if err != nil {
				return err
			}
			var into string
			if err := tx.QueryRowContext(ctx, `SELECT root FROM subjects WHERE id = ?`, r).Scan(&into); err != nil {
				return err
			}
			for p, e := range prev {
				if err := consentChanged(ctx, tx, now, r, p, e, nil, into); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM consent_state WHERE subject_id = ?`, r); err != nil {
				return err
			}
		}
	}
	for r := range newRoots {
		if err := decideAgain(ctx, tx, now, r, ""); err != nil {
			return err
		}
	}
	return nil
}
