package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/wire"
)

type streamState struct {
	through  uint64
	hash     string
	received int64
	gaps     []hub.Range
	forks    int64
	dirty    bool

	// The chain position this batch wrote last: the next record's link to
	// it needs no query.
	wroteSeq  uint64
	wroteHash string
}

// Ingest commits a verified batch from one device in one transaction:
// accepted records, duplicates (ignored), conflicts and forks (kept as
// evidence) and rejections (quarantined). Nothing is acknowledged before it
// returns.
func (s *Store) Ingest(ctx context.Context, deviceID string, batch []hub.Incoming) (*hub.IngestResult, error) {
	s.ingesting.Add(1)
	defer s.ingesting.Add(-1)
	tomb, err := s.tombstoneKey(ctx) // before the transaction: the writer is one connection
	if err != nil {
		return nil, err
	}
	var cat *catalog.Catalog
	var people map[*record.Subject]*person
	if s.Reconcile {
		c, err := s.Catalog(ctx)
		if err != nil {
			return nil, err
		}
		cat, people = c, preparePeople(c, batch)
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin ingest: %w", err)
	}
	defer tx.Rollback()
	st, err := s.w.all(ctx, tx, ingestSQL)
	if err != nil {
		return nil, err
	}
	// Revocation is checked in the transaction: a session opened before
	// the device was revoked (by the API or the CLI) stores nothing more.
	var revoked sql.NullString
	if err := st["revoked"].QueryRowContext(ctx, deviceID).Scan(&revoked); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read device: %w", err)
	}
	if revoked.Valid {
		return nil, apperr.Errorf(apperr.EFORBIDDEN, "device %s was revoked on %s", deviceID, revoked.String)
	}

	var rec *reconciler
	if s.Reconcile {
		r, err := newReconciler(ctx, tx, s.w, cat, s.now())
		if err != nil {
			return nil, err
		}
		r.people = people
		rec = r
		// Only a hub that has erased someone looks records up among the
		// erased: the common batch pays one query, not one per record.
		var any bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM erasures)`).Scan(&any); err != nil {
			return nil, fmt.Errorf("read erasures: %w", err)
		}
		if any {
			rec.tomb = tomb
		}
		if err := rec.prefetch(batch); err != nil {
			return nil, err
		}
	}

	streams := map[string]*streamState{}
	stream := func(epoch string) (*streamState, error) {
		if ss, ok := streams[epoch]; ok {
			return ss, nil
		}
		ss := &streamState{}
		var gaps string
		err := st["stream"].QueryRowContext(ctx, deviceID, epoch).Scan(&ss.through, &ss.hash, &ss.received, &gaps, &ss.forks)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read stream: %w", err)
		}
		if gaps != "" {
			json.Unmarshal([]byte(gaps), &ss.gaps)
		}
		streams[epoch] = ss
		return ss, nil
	}
	advance := func(ss *streamState, seq uint64, hash string) {
		ss.through, ss.gaps = hub.Advance(ss.through, ss.gaps, seq)
		if seq == ss.through {
			ss.hash = hash
		}
		ss.dirty = true
	}

	known, err := knownEvents(ctx, tx, batch)
	if err != nil {
		return nil, err
	}
	res := &hub.IngestResult{Positions: map[string]wire.Position{}}
	for _, in := range batch {
		received := hub.FormatTime(in.ReceivedAt)
		if in.Reject != nil {
			var epoch, id sql.NullString
			var seq sql.NullInt64
			if in.Env != nil {
				epoch = sql.NullString{String: in.Env.Epoch, Valid: true}
				id = sql.NullString{String: in.Env.ID, Valid: true}
				seq = sql.NullInt64{Int64: int64(in.Env.Seq), Valid: true}
			}
			evidence := []byte(in.Signed.Envelope)
			if rec != nil && in.Subject != nil && in.Env != nil {
				// Naming someone erased (at any time: the record is not
				// usable): kept without the sealed payload, as an erasure
				// leaves the quarantine.
				tomb, err := rec.erasedBefore(preparePerson(cat, in.Env.Touchpoint, in.Subject).ids, time.Time{})
				if err != nil {
					return nil, err
				}
				if tomb != "" {
					evidence, _ = redactEnvelope(evidence)
				}
			}
			if _, err := st["quarantine"].ExecContext(ctx, deviceID, epoch, seq, id, in.Hash, in.Reject.Code, in.Reject.Reason,
				evidence, in.Signed.Sig, received); err != nil {
				return nil, fmt.Errorf("quarantine: %w", err)
			}
			rej := wire.Rejection{Code: in.Reject.Code, Reason: in.Reject.Reason}
			// A record that is this device's own (right collector) still takes
			// its position: the device cannot mend it by sending it again.
			if in.Env != nil && in.Env.Collector == deviceID {
				rej.Epoch, rej.Seq, rej.ID = in.Env.Epoch, in.Env.Seq, in.Env.ID
				ss, err := stream(in.Env.Epoch)
				if err != nil {
					return nil, err
				}
				advance(ss, in.Env.Seq, in.Hash)
			}
			res.Rejected = append(res.Rejected, rej)
			continue
		}

		env := in.Env
		ss, err := stream(env.Epoch)
		if err != nil {
			return nil, err
		}
		k, found := known[env.ID]
		switch {
		case found && k.hash == in.Hash:
			res.Duplicates++
			advance(ss, env.Seq, in.Hash)
			continue
		case found:
			// Same id, different content: keep it as evidence, never
			// overwrite; without the sealed payload if the record was erased.
			copied := []byte(in.Signed.Envelope)
			if k.erased {
				copied, _ = redactEnvelope(copied)
			}
			if _, err := st["conflict"].ExecContext(ctx, env.ID, deviceID, copied, in.Signed.Sig, in.Hash, received); err != nil {
				return nil, fmt.Errorf("save conflict: %w", err)
			}
			res.Conflicts++
			advance(ss, env.Seq, in.Hash)
			continue
		}

		flags := append([]string(nil), in.Flags...)
		r, err := st["chainIns"].ExecContext(ctx, deviceID, env.Epoch, env.Seq, env.ID, in.Hash)
		if err != nil {
			return nil, fmt.Errorf("chain: %w", err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			// The position is taken by another record: a fork (a device
			// restored from an old copy of its database). Both are kept.
			var firstID, firstHash string
			if err := st["chainAt"].QueryRowContext(ctx, deviceID, env.Epoch, env.Seq).Scan(&firstID, &firstHash); err != nil {
				return nil, fmt.Errorf("read chain: %w", err)
			}
			if _, err := st["fork"].ExecContext(ctx, deviceID, env.Epoch, env.Seq, env.ID, firstID, received); err != nil {
				return nil, fmt.Errorf("save fork: %w", err)
			}
			flags = append(flags, hub.FlagFork)
			ss.forks++
			res.Forks++
		} else if env.Seq > 1 {
			var prevID, prevHash string
			var err error
			if ss.wroteSeq == env.Seq-1 && ss.wroteHash != "" {
				prevHash = ss.wroteHash
			} else {
				err = st["chainAt"].QueryRowContext(ctx, deviceID, env.Epoch, env.Seq-1).Scan(&prevID, &prevHash)
			}
			ss.wroteSeq, ss.wroteHash = env.Seq, in.Hash
			switch {
			case errors.Is(err, sql.ErrNoRows):
				// Missing, or quarantined: only a position nobody sent is a gap.
				if env.Seq-1 > ss.through || inGaps(ss.gaps, env.Seq-1) {
					flags = append(flags, hub.FlagGap)
				}
			case err != nil:
				return nil, fmt.Errorf("read chain: %w", err)
			case prevHash != env.Prev:
				flags = append(flags, hub.FlagChainBreak)
			}
		} else {
			ss.wroteSeq, ss.wroteHash = env.Seq, in.Hash
		}
		var payload any
		if in.Payload != nil {
			payload = in.Payload
		}
		if _, err := st["insert"].ExecContext(ctx, env.ID, deviceID, env.Epoch, env.Seq, string(env.Kind), []byte(in.Signed.Envelope),
			in.Signed.Sig, in.Hash, payload, env.CapturedAt, env.HLC.String(), received, hub.FormatTime(in.CorrectedAt),
			in.OffsetMS, strings.Join(flags, ","), in.Countersig); err != nil {
			return nil, fmt.Errorf("insert event: %w", err)
		}
		known[env.ID] = knownEvent{hash: in.Hash}
		if rec != nil {
			subject := in.Subject
			if subject == nil && in.Payload != nil {
				if p, err := record.DecodePayload(in.Payload); err == nil {
					subject = &p.Subject
				}
			}
			if err := rec.apply(env, subject, in.CorrectedAt, slices.Contains(flags, hub.FlagClockSuspect)); err != nil {
				return nil, fmt.Errorf("reconcile %s: %w", env.ID, err)
			}
			if rec.erased {
				// Captured before its person was erased: it arrives erased.
				red, ph := redactEnvelope(in.Signed.Envelope)
				if _, err := tx.ExecContext(ctx, `UPDATE events SET envelope = ?, payload = NULL, erased_at = ?, erased_payload_sha256 = ? WHERE id = ?`,
					red, received, ph, env.ID); err != nil {
					return nil, fmt.Errorf("erase late record: %w", err)
				}
				known[env.ID] = knownEvent{hash: in.Hash, erased: true}
			}
		}
		if in.ReceiptHash != "" {
			if _, err := st["receipt"].ExecContext(ctx, in.ReceiptHash, env.ID); err != nil {
				return nil, fmt.Errorf("save receipt: %w", err)
			}
		}
		res.Accepted++
		ss.received++
		advance(ss, env.Seq, in.Hash)
	}

	if rec != nil {
		if err := rec.flush(); err != nil {
			return nil, err
		}
	}
	for epoch, ss := range streams {
		if ss.dirty {
			if ss.gaps == nil {
				ss.gaps = []hub.Range{}
			}
			gaps, _ := json.Marshal(ss.gaps)
			if _, err := st["streamPut"].ExecContext(ctx, deviceID, epoch, ss.through, ss.hash, ss.received, string(gaps), ss.forks); err != nil {
				return nil, fmt.Errorf("save stream: %w", err)
			}
		}
		res.Positions[epoch] = wire.Position{Epoch: epoch, Through: ss.through, Hash: ss.hash}
	}
	// Suggestions the worker has read, if any wait, ride on this
	// transaction: it has the writer already. A failure to write them
	// leaves them to the worker and does not fail the batch.
	committed := false
	if b := s.takeSuggestions(); b != nil {
		written := false
		defer func() {
			if written && committed {
				b.done <- nil
			} else {
				b.done <- errHandoffFailed
			}
		}()
		if _, err := tx.ExecContext(ctx, `SAVEPOINT suggestions`); err != nil {
			return nil, fmt.Errorf("savepoint: %w", err)
		}
		if err := s.writeSuggestions(ctx, tx, b.epoch, b.batch); err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO suggestions`); err != nil {
				return nil, fmt.Errorf("roll back suggestions: %w", err)
			}
		} else {
			written = true
		}
		if _, err := tx.ExecContext(ctx, `RELEASE suggestions`); err != nil {
			return nil, fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("commit ingest: %w", err)
	}
	committed = true
	if rec != nil && rec.queued > 0 {
		select {
		case s.suggestWake <- struct{}{}:
		default:
		}
	}
	return res, nil
}

var ingestSQL = map[string]string{
	"revoked":    `SELECT revoked_at FROM devices WHERE id = ?`,
	"chainIns":   `INSERT INTO chain (collector, epoch, seq, event_id, hash) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	"chainAt":    `SELECT event_id, hash FROM chain WHERE collector = ? AND epoch = ? AND seq = ?`,
	"insert":     `INSERT INTO events (id, collector, epoch, seq, kind, envelope, sig, hash, payload, captured_at, hlc, received_at, corrected_at, clock_offset_ms, flags, countersig) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	"fork":       `INSERT INTO forks (collector, epoch, seq, event_id, first_id, detected_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	"conflict":   `INSERT INTO conflicts (event_id, collector, envelope, sig, hash, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	"quarantine": `INSERT INTO quarantine (collector, epoch, seq, record_id, hash, code, reason, envelope, sig, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	"receipt":    `INSERT INTO receipts (token_hash, event_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
	"stream":     `SELECT through, hash, received, gaps, forks FROM streams WHERE collector = ? AND epoch = ?`,
	"streamPut":  `INSERT INTO streams (collector, epoch, through, hash, received, gaps, forks) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (collector, epoch) DO UPDATE SET through = excluded.through, hash = excluded.hash, received = excluded.received, gaps = excluded.gaps, forks = excluded.forks`,
}

func inGaps(gaps []hub.Range, seq uint64) bool {
	for _, g := range gaps {
		if seq >= g.From && seq <= g.To {
			return true
		}
	}
	return false
}
