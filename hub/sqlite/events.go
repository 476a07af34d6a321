package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/record"
)

// Events returns up to limit events after cursor, oldest first, with their
// opened personal fields.
func (s *Store) Events(ctx context.Context, after int64, limit int) ([]hub.Event, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+eventColumns+` FROM events e WHERE e.cursor > ? ORDER BY e.cursor LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return scanEvents(rows, nil)
}

const eventColumns = `e.cursor, e.envelope, e.sig, e.payload, e.received_at, e.corrected_at, e.clock_offset_ms, e.flags, e.hash`

// scanEvents reads rows of eventColumns; each opened payload also goes to
// withPayload when it is not nil.
func scanEvents(rows *sql.Rows, withPayload func(*hub.Event, *record.Payload)) ([]hub.Event, error) {
	defer rows.Close()
	var out []hub.Event
	for rows.Next() {
		var ev hub.Event
		var env, sig, payload []byte
		var received, corrected, flags string
		if err := rows.Scan(&ev.Cursor, &env, &sig, &payload, &received, &corrected, &ev.ClockOffsetMS, &flags, &ev.Hash); err != nil {
			return nil, err
		}
		e, err := record.Signed{Envelope: env, Sig: sig}.Decode()
		if err != nil {
			return nil, fmt.Errorf("stored event %d: %w", ev.Cursor, err)
		}
		fill(&ev, e)
		ev.ReceivedAt, ev.CorrectedAt = parseTime(received), parseTime(corrected)
		ev.Flags = []string{}
		if flags != "" {
			ev.Flags = strings.Split(flags, ",")
		}
		if payload != nil {
			p, err := record.DecodePayload(payload)
			if err != nil {
				return nil, fmt.Errorf("stored payload %d: %w", ev.Cursor, err)
			}
			ev.Subject = &p.Subject
			if withPayload != nil {
				withPayload(&ev, p)
			}
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

func fill(ev *hub.Event, e *record.Envelope) {
	ev.ID, ev.Kind, ev.Collector, ev.Epoch, ev.Seq = e.ID, e.Kind, e.Collector, e.Epoch, e.Seq
	ev.Touchpoint, ev.Operator, ev.Language = e.Touchpoint, e.Operator, e.Language
	ev.CapturedAt, ev.HLC, ev.Notice, ev.Purposes, ev.Ref = e.CapturedAt, e.HLC.String(), e.Notice, e.Purposes, e.Ref
	ev.SignatureHash = e.SignatureSHA256
	if ev.Purposes == nil {
		ev.Purposes = []record.Choice{}
	}
}

// Counts are totals for metrics and the dashboard.
type Counts struct {
	Events      int64
	Quarantined map[string]int64 // by code
	Conflicts   int64
	Forks       int64
}

// Counts returns the store's totals.
func (s *Store) Counts(ctx context.Context) (*Counts, error) {
	c := &Counts{Quarantined: map[string]int64{}}
	if err := s.db.R.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM conflicts), (SELECT COUNT(*) FROM forks)`).
		Scan(&c.Events, &c.Conflicts, &c.Forks); err != nil {
		return nil, err
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT code, COUNT(*) FROM quarantine GROUP BY code`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var code string
		var n int64
		if err := rows.Scan(&code, &n); err != nil {
			return nil, err
		}
		c.Quarantined[code] = n
	}
	return c, rows.Err()
}

// Quarantined is a refused record.
type Quarantined = hub.Quarantined

// Quarantine lists refused records, newest first.
func (s *Store) Quarantine(ctx context.Context, limit int) ([]Quarantined, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, collector, epoch, seq, record_id, code, reason, received_at FROM quarantine ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var q Quarantined
		var epoch, id sql.NullString
		var seq sql.NullInt64
		if err := rows.Scan(&q.ID, &q.Collector, &epoch, &seq, &id, &q.Code, &q.Reason, &q.ReceivedAt); err != nil {
			return nil, err
		}
		q.Epoch, q.Seq, q.RecordID = epoch.String, seq.Int64, id.String
		out = append(out, q)
	}
	return out, rows.Err()
}
