package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/record"
)

// Limits on what a request carries and on one bulk action.
const (
	maxDetails    = 4000
	maxNote       = 2000
	MaxBulk       = 1000 // ids per ActOnRequests call
	maxQueuePage  = 1000
	dateFormat    = "2006-01-02"
	requestColumn = `id, kind, state, ident_kind, ident_value, subject_id, channel, details, received_at, due_on, extended, closed_at, outcome`
)

var channelRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func scanRequest(row interface{ Scan(...any) error }) (*hub.Request, error) {
	var r hub.Request
	var kind, state, received, due string
	var closed sql.NullString
	if err := row.Scan(&r.ID, &kind, &state, &r.Identifier.Kind, &r.Identifier.Value, &r.SubjectID, &r.Channel, &r.Details,
		&received, &due, &r.Extended, &closed, &r.Outcome); err != nil {
		return nil, err
	}
	r.Kind, r.State, r.ReceivedAt = hub.RequestKind(kind), hub.RequestState(state), parseTime(received)
	r.DueOn, _ = time.Parse(dateFormat, due)
	if closed.Valid {
		t := parseTime(closed.String)
		r.ClosedAt = &t
	}
	return &r, nil
}

// CreateRequest records a rights request as received: its due date is one
// month from the day of receipt in the controller's time zone. An email or
// phone is normalised and resolved to the subject holding it, when any.
func (s *Store) CreateRequest(ctx context.Context, nr hub.NewRequest) (*hub.Request, error) {
	if !nr.Kind.Valid() {
		return nil, apperr.Errorf(apperr.EINVALID, "kind %q is not access, erasure, portability, objection or rectification", nr.Kind)
	}
	if nr.Channel == "" {
		nr.Channel = "api"
	}
	if !channelRE.MatchString(nr.Channel) {
		return nil, apperr.Errorf(apperr.EINVALID, "channel %q is not a short lowercase word such as dashboard, api or receipt", nr.Channel)
	}
	nr.Details = strings.TrimSpace(nr.Details)
	if utf8.RuneCountInString(nr.Details) > maxDetails || !utf8.ValidString(nr.Details) {
		return nil, apperr.Errorf(apperr.EINVALID, "details: at most %d characters of text", maxDetails)
	}
	if nr.Kind == hub.RequestRectification && nr.Details == "" {
		return nil, apperr.Errorf(apperr.EINVALID, "details: a rectification needs the correction asked for")
	}
	if nr.By == "" {
		nr.By = nr.Channel
	}
	var ident hub.Identifier
	var identHash, sid string
	switch {
	case nr.SubjectID != "" && (nr.Email != "" || nr.Phone != ""):
		return nil, apperr.Errorf(apperr.EINVALID, "give one of email, phone or subject_id")
	case nr.SubjectID != "":
		root, err := s.root(ctx, s.db.R, nr.SubjectID)
		if err != nil {
			return nil, err
		}
		if e, err := s.erasure(ctx, s.db.R, root); err != nil {
			return nil, err
		} else if e != nil {
			return nil, apperr.Errorf(apperr.EGONE, "subject %s was erased on %s; nothing is held about them", root, hub.FormatTime(e.ErasedAt))
		}
		sid = root
	default:
		cat, err := s.Catalog(ctx)
		if err != nil {
			return nil, err
		}
		if ident, err = hub.ParseIdentifier(nr.Email, nr.Phone, cat.Jurisdiction); err != nil {
			return nil, err
		}
		if identHash, err = s.identHash(ctx, ident); err != nil {
			return nil, err
		}
		switch root, err := s.FindSubject(ctx, ident); apperr.Code(err) {
		case "":
			sid = root
		case apperr.ENOTFOUND, apperr.EGONE: // nobody (any more): the answer is that nothing is held
		default:
			return nil, err
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	now := s.Now()
	at := hub.FormatTime(now)
	due := hub.DueDate(now, s.loc()).Format(dateFormat)
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO requests (id, kind, state, ident_kind, ident_value, ident_hash, subject_id, channel, details, received_at, due_on)
		VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?)`, id.String(), string(nr.Kind), ident.Kind, ident.Value, identHash, sid, nr.Channel, nr.Details, at, due); err != nil {
		return nil, fmt.Errorf("save request: %w", err)
	}
	if err := step(ctx, tx, id.String(), at, nr.By, "create", hub.RequestOpen, "received through "+nr.Channel); err != nil {
		return nil, err
	}
	if err := notify(ctx, tx, hub.NotifyRequestCreated, sid, at, map[string]any{"request_id": id.String(), "kind": nr.Kind,
		"channel": nr.Channel, "due_on": due}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.Request(ctx, id.String())
}

func step(ctx context.Context, tx *sql.Tx, id, at, by, action string, state hub.RequestState, note string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO request_steps (request_id, at, by, action, state, note) VALUES (?, ?, ?, ?, ?, ?)`,
		id, at, by, action, string(state), note); err != nil {
		return fmt.Errorf("save request step: %w", err)
	}
	return nil
}

// Request returns a request with its audit trail.
func (s *Store) Request(ctx context.Context, id string) (*hub.Request, error) {
	return s.request(ctx, s.db.R, id)
}

func (s *Store) request(ctx context.Context, q querier, id string) (*hub.Request, error) {
	r, err := scanRequest(q.QueryRowContext(ctx, `SELECT `+requestColumn+` FROM requests WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no request %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	rows, err := q.QueryContext(ctx, `SELECT at, by, action, state, note FROM request_steps WHERE request_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	r.Trail = []hub.RequestStep{}
	for rows.Next() {
		var st hub.RequestStep
		var at, state string
		if err := rows.Scan(&at, &st.By, &st.Action, &state, &st.Note); err != nil {
			return nil, err
		}
		st.At, st.State = parseTime(at), hub.RequestState(state)
		r.Trail = append(r.Trail, st)
	}
	return r, rows.Err()
}

// Requests returns the queue sorted by due date, then received time; After
// continues after a place in it (hub.RequestFilter).
func (s *Store) Requests(ctx context.Context, f hub.RequestFilter) ([]hub.Request, error) {
	states := f.States
	if len(states) == 0 {
		states = []hub.RequestState{hub.RequestOpen, hub.RequestInProgress}
	}
	if f.Kind != "" && !f.Kind.Valid() {
		return nil, apperr.Errorf(apperr.EINVALID, "kind %q is not access, erasure, portability, objection or rectification", f.Kind)
	}
	limit := f.Limit
	if limit <= 0 || limit > maxQueuePage {
		limit = maxQueuePage
	}
	q := `SELECT ` + requestColumn + ` FROM requests WHERE state IN (` + strings.Repeat("?,", len(states)-1) + `?) AND (? = '' OR kind = ?)`
	args := []any{}
	for _, st := range states {
		switch st {
		case hub.RequestOpen, hub.RequestInProgress, hub.RequestDone, hub.RequestRefused:
		default:
			return nil, apperr.Errorf(apperr.EINVALID, "state %q is not open, in_progress, done or refused", st)
		}
		args = append(args, string(st))
	}
	args = append(args, string(f.Kind), string(f.Kind))
	if f.After != "" {
		p, err := s.queuePlace(ctx, f.After)
		if err != nil {
			return nil, err
		}
		q += ` AND (due_on, received_at, id) > (?, ?, ?)`
		args = append(args, p.DueOn.Format(dateFormat), hub.FormatTime(p.ReceivedAt), p.ID)
	}
	q += ` ORDER BY due_on, received_at, id LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.R.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list requests: %w", err)
	}
	defer rows.Close()
	out := []hub.Request{}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// queuePlace reads a RequestFilter.After: a cursor, or a bare request id
// (the older form), placed where that request is now.
func (s *Store) queuePlace(ctx context.Context, after string) (hub.QueuePlace, error) {
	if p, ok := hub.ParseQueuePlace(after); ok {
		return p, nil
	}
	var due, received string
	err := s.db.R.QueryRowContext(ctx, `SELECT due_on, received_at FROM requests WHERE id = ?`, after).Scan(&due, &received)
	if errors.Is(err, sql.ErrNoRows) {
		return hub.QueuePlace{}, apperr.Errorf(apperr.EINVALID, "after: %q is neither a next_after cursor nor a request id (pass next_after of the previous page)", after)
	}
	if err != nil {
		return hub.QueuePlace{}, fmt.Errorf("read request %s: %w", after, err)
	}
	p := hub.QueuePlace{ReceivedAt: parseTime(received), ID: after}
	p.DueOn, _ = time.Parse(dateFormat, due)
	return p, nil
}

// ActOnRequests applies one action to many requests; each succeeds or
// fails on its own, in its own transaction, with the reason in its outcome.
func (s *Store) ActOnRequests(ctx context.Context, ids []string, act hub.RequestAct) ([]hub.RequestOutcome, error) {
	act.Note = strings.TrimSpace(act.Note)
	switch act.Action {
	case hub.ActStart, hub.ActComplete:
	case hub.ActExtend, hub.ActRefuse, hub.ActNote:
		if act.Note == "" {
			return nil, apperr.Errorf(apperr.EINVALID, "note: %s needs a reason, which is recorded and told to the person", act.Action)
		}
	default:
		return nil, apperr.Errorf(apperr.EINVALID, "action %q is not start, extend, complete, refuse or note", act.Action)
	}
	if utf8.RuneCountInString(act.Note) > maxNote || !utf8.ValidString(act.Note) {
		return nil, apperr.Errorf(apperr.EINVALID, "note: at most %d characters of text", maxNote)
	}
	if len(ids) == 0 || len(ids) > MaxBulk {
		return nil, apperr.Errorf(apperr.EINVALID, "ids: give between 1 and %d request ids", MaxBulk)
	}
	if act.By == "" {
		act.By = "api"
	}
	var keys *hub.Keys
	if act.Action == hub.ActComplete {
		var err error
		if keys, err = s.Keys(ctx); err != nil {
			return nil, err
		}
	}
	// One transaction for the call (one commit, not one per request), with
	// a savepoint per request: each one's changes stand or go on their own.
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	out := make([]hub.RequestOutcome, len(ids))
	erased := false
	for i, id := range ids {
		out[i].ID = id
		if _, err := tx.ExecContext(ctx, `SAVEPOINT act`); err != nil {
			return nil, err
		}
		r, didErase, err := s.act(ctx, tx, keys, id, act)
		if err != nil {
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO act`); rerr != nil {
				return nil, fmt.Errorf("undo %s: %w (after %v)", id, rerr, err)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if apperr.Code(err) == apperr.EINTERNAL {
				// Not a reason about this request but a failing store:
				// nothing of the call is committed, and the caller logs it.
				return nil, fmt.Errorf("request %s: %w", id, err)
			}
			out[i].Error = apperr.Message(err)
		} else {
			out[i].Request = r
			erased = erased || didErase
		}
		if _, err := tx.ExecContext(ctx, `RELEASE act`); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	if erased {
		if err := s.scrub(ctx); err != nil {
			return out, err
		}
	}
	return out, nil
}

// act applies act to one request inside tx. keys are the hub's keys for
// complete (erasure and withdrawals need them), read before tx began.
func (s *Store) act(ctx context.Context, tx *sql.Tx, keys *hub.Keys, id string, act hub.RequestAct) (*hub.Request, bool, error) {
	cur, err := s.request(ctx, tx, id)
	if err != nil {
		return nil, false, err
	}
	if cur.State.Closed() && act.Action != hub.ActNote {
		return nil, false, apperr.Errorf(apperr.ECONFLICT, "request %s is already %s (closed %s); only a note can be added", id, cur.State,
			cur.ClosedAt.In(s.loc()).Format(dateFormat))
	}
	now := s.Now()
	at := hub.FormatTime(now)
	state, outcome := cur.State, ""
	var withdraw []record.Envelope
	switch act.Action {
	case hub.ActStart:
		if cur.State != hub.RequestOpen {
			return nil, false, apperr.Errorf(apperr.ECONFLICT, "request %s is already %s", id, cur.State)
		}
		state = hub.RequestInProgress
	case hub.ActExtend:
		if cur.Extended != "" {
			return nil, false, apperr.Errorf(apperr.ECONFLICT, "request %s was already extended (%s); Art. 12(3) allows one extension", id, cur.Extended)
		}
		if due := hub.DueDate(cur.ReceivedAt, s.loc()); hub.Overdue(due, now, s.loc()) {
			return nil, false, apperr.Errorf(apperr.ECONFLICT, "request %s: the first month ended on %s; Art. 12(3) allows extending only within it",
				id, due.Format(dateFormat))
		}
	case hub.ActRefuse:
		state, outcome = hub.RequestRefused, act.Note
	case hub.ActComplete:
		state = hub.RequestDone
		switch cur.Kind {
		case hub.RequestObjection:
			if cur.SubjectID == "" {
				outcome = "no subject holds this identifier: nothing to withdraw"
				break
			}
			sub, err := s.Subject(ctx, cur.SubjectID)
			if err != nil {
				return nil, false, err
			}
			var purposes []string
			for _, st := range sub.States {
				if st.Decision == hub.Allowed {
					purposes = append(purposes, st.Purpose)
				}
			}
			if len(purposes) == 0 {
				outcome = "no purpose was allowed: nothing to withdraw"
				break
			}
			if _, withdraw, err = s.withdrawals(ctx, sub.ID, purposes, s.rightsTouchpoint(ctx, cur.Channel)); err != nil {
				return nil, false, err
			}
			outcome = "withdrew " + strings.Join(purposes, ", ") + " with hub-signed withdrawal records"
		case hub.RequestRectification:
			if cur.SubjectID == "" {
				return nil, false, apperr.Errorf(apperr.ECONFLICT, "request %s: no subject holds this identifier, so there is nothing to rectify; refuse it with a reason", id)
			}
			outcome = "correction recorded beside subject " + cur.SubjectID + "; the signed records are unchanged"
		case hub.RequestErasure:
			if cur.SubjectID == "" {
				outcome = "no personal data was held for this identifier; the request's own copy of it is erased"
			} else {
				outcome = "personal data erased; a pseudonymous tombstone stays at subject " + cur.SubjectID
			}
		default: // access, portability
			if cur.SubjectID == "" {
				outcome = "no personal data is held for this identifier; the export says so"
			} else {
				outcome = "export ready: GET /api/v1/requests/" + id + "/export"
			}
		}
	}
	var closed any
	if state.Closed() {
		closed = at
	}
	upd := `UPDATE requests SET state = ?, closed_at = COALESCE(?, closed_at), outcome = CASE WHEN ? = '' THEN outcome ELSE ? END`
	args := []any{string(state), closed, outcome, outcome}
	if act.Action == hub.ActExtend {
		upd += `, extended = ?, due_on = ?`
		args = append(args, act.Note, hub.ExtendedDueDate(cur.ReceivedAt, s.loc()).Format(dateFormat))
	}
	upd += ` WHERE id = ? AND state = ? AND extended = ?`
	args = append(args, id, string(cur.State), cur.Extended)
	res, err := tx.ExecContext(ctx, upd, args...)
	if err != nil {
		return nil, false, fmt.Errorf("update request: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, false, fmt.Errorf("request %s: update matched %d rows", id, n)
	}
	erased := false
	if act.Action == hub.ActComplete {
		switch cur.Kind {
		case hub.RequestObjection:
			if withdraw != nil {
				if _, err := s.appendHubEventsTx(ctx, tx, keys, withdraw); err != nil {
					return nil, false, err
				}
			}
		case hub.RequestRectification:
			if _, err := tx.ExecContext(ctx, `INSERT INTO corrections (subject_id, request_id, correction, by, at) VALUES (?, ?, ?, ?, ?)`,
				cur.SubjectID, id, cur.Details, act.By, at); err != nil {
				return nil, false, fmt.Errorf("save correction: %w", err)
			}
		case hub.RequestErasure:
			if cur.SubjectID != "" {
				root, err := s.root(ctx, tx, cur.SubjectID)
				if err != nil {
					return nil, false, err
				}
				if e, err := s.erasure(ctx, tx, root); err != nil {
					return nil, false, err
				} else if e != nil {
					outcome = "the subject was already erased on " + hub.FormatTime(e.ErasedAt)[:10]
					if _, err := tx.ExecContext(ctx, `UPDATE requests SET outcome = ? WHERE id = ?`, outcome, id); err != nil {
						return nil, false, err
					}
				} else if _, err := s.eraseTx(ctx, tx, keys, root, hub.ErasedByRequest, id); err != nil {
					return nil, false, err
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE requests SET ident_value = '', details = '' WHERE id = ?`, id); err != nil {
				return nil, false, err
			}
			erased = true
		}
	}
	if err := step(ctx, tx, id, at, act.By, act.Action, state, act.Note); err != nil {
		return nil, false, err
	}
	if err := notify(ctx, tx, hub.NotifyRequestUpdated, cur.SubjectID, at, map[string]any{"request_id": id, "kind": cur.Kind,
		"action": act.Action, "state": state}); err != nil {
		return nil, false, err
	}
	r, err := s.request(ctx, tx, id)
	return r, erased, err
}

// rightsTouchpoint is the catalog touchpoint a request's withdrawals are
// recorded through: the receipt page for requests from it, else head office
// (the first right touchpoint of the catalog).
func (s *Store) rightsTouchpoint(ctx context.Context, channel string) string {
	cat, err := s.Catalog(ctx)
	if err != nil {
		return "head-office"
	}
	want := "head-office"
	if channel == "receipt" {
		want = "receipt-page"
	}
	if _, ok := cat.Touchpoint(want); ok {
		return want
	}
	for _, t := range cat.Touchpoints {
		if t.Kind == "rtp" {
			return t.ID
		}
	}
	return want
}

// RequestExport is the answer to a completed access or portability
// request: the subject's export as it stands now (after an erasure, the
// tombstone), or an empty one when nothing was held.
func (s *Store) RequestExport(ctx context.Context, id string) (*hub.Export, error) {
	r, err := s.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Kind != hub.RequestAccess && r.Kind != hub.RequestPortability {
		return nil, apperr.Errorf(apperr.EINVALID, "request %s is an %s request; only access and portability requests have an export", id, r.Kind)
	}
	if r.State != hub.RequestDone {
		return nil, apperr.Errorf(apperr.ECONFLICT, "request %s is %s; its export is ready once it is completed", id, r.State)
	}
	if r.SubjectID != "" {
		return s.Export(ctx, r.SubjectID)
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	return &hub.Export{Format: ExportFormat, GeneratedAt: s.Now().UTC(), Controller: cat.Controller, Records: []hub.ExportItem{}}, nil
}

// loc is the controller's time zone, in which due dates are dates.
func (s *Store) loc() *time.Location {
	if s.Location != nil {
		return s.Location
	}
	return time.UTC
}

// RequestFromReceipt records an access or erasure request a visitor made
// on their receipt page: the receipt token is their credential, and the
// request names the subject of that consent. Asking again while a request
// of the same kind from the page is still open returns that one.
func (s *Store) RequestFromReceipt(ctx context.Context, token string, kind hub.RequestKind) (*hub.Request, error) {
	if kind != hub.RequestAccess && kind != hub.RequestErasure {
		return nil, apperr.Errorf(apperr.EINVALID, "the receipt page takes access or erasure requests, not %q", kind)
	}
	rec, err := s.Receipt(ctx, token)
	if err != nil {
		return nil, err
	}
	var sid string
	err = s.db.R.QueryRowContext(ctx, `SELECT s.root FROM subject_events se JOIN subjects s ON s.id = se.subject_id WHERE se.event_id = ?`,
		rec.ConsentID).Scan(&sid)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "this consent names nobody the hub can find; write to the controller instead")
	}
	if err != nil {
		return nil, err
	}
	var open string
	err = s.db.R.QueryRowContext(ctx, `SELECT id FROM requests WHERE subject_id = ? AND kind = ? AND channel = 'receipt'
		AND state IN ('open', 'in_progress') ORDER BY received_at LIMIT 1`, sid, string(kind)).Scan(&open)
	if err == nil {
		return s.Request(ctx, open)
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return s.CreateRequest(ctx, hub.NewRequest{Kind: kind, SubjectID: sid, Channel: "receipt", By: "receipt page"})
}
