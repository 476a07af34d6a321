package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/wire"
)

const deviceColumns = `d.id, d.name, d.touchpoint, d.sign_key, d.enrollment, d.enrolled_at, d.revoked_at, d.last_seen,
	d.clock_offset_ms, d.pending_reported, d.config_seq, d.app_version,
	(SELECT COUNT(*) FROM conflicts c WHERE c.collector = d.id),
	(SELECT COUNT(*) FROM quarantine q WHERE q.collector = d.id),
	(SELECT COALESCE(MAX(seq), 0) FROM config_log)`

func scanDevice(row interface{ Scan(...any) error }) (*hub.Device, error) {
	var d hub.Device
	var key, enrollment []byte
	var enrolled string
	var revoked, seen sql.NullString
	var latestConfig int64
	if err := row.Scan(&d.ID, &d.Name, &d.Touchpoint, &key, &enrollment, &enrolled, &revoked, &seen,
		&d.ClockOffsetMS, &d.PendingReported, &d.ConfigSeq, &d.AppVersion, &d.Conflicts, &d.Quarantined, &latestConfig); err != nil {
		return nil, err
	}
	d.ConfigCurrent = d.ConfigSeq >= latestConfig
	d.SignKey = ed25519.PublicKey(key)
	d.EnrolledAt = parseTime(enrolled)
	if revoked.Valid {
		t := parseTime(revoked.String)
		d.RevokedAt = &t
	}
	if seen.Valid {
		t := parseTime(seen.String)
		d.LastSeen = &t
	}
	json.Unmarshal(enrollment, &d.Enrollment)
	return &d, nil
}

// Device returns one device with its streams and chain state.
func (s *Store) Device(ctx context.Context, id string) (*hub.Device, error) {
	d, err := scanDevice(s.db.R.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices d WHERE d.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no device %q", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read device: %w", err)
	}
	if err := s.fillStreams(ctx, d); err != nil {
		return nil, err
	}
	if err := s.fillNotices(ctx, d); err != nil {
		return nil, err
	}
	return d, s.fillForks(ctx, d)
}

// fillForks lists the device's forks and conflicts, for its detail page.
func (s *Store) fillForks(ctx context.Context, d *hub.Device) error {
	d.ForkList, d.ConflictList = []hub.Fork{}, []hub.Conflict{}
	rows, err := s.db.R.QueryContext(ctx, `SELECT epoch, seq, event_id, first_id, detected_at FROM forks WHERE collector = ? ORDER BY id`, d.ID)
	if err != nil {
		return fmt.Errorf("read forks: %w", err)
	}
	for rows.Next() {
		var f hub.Fork
		var at string
		if err := rows.Scan(&f.Epoch, &f.Seq, &f.EventID, &f.FirstID, &at); err != nil {
			rows.Close()
			return err
		}
		f.DetectedAt = parseTime(at)
		d.ForkList = append(d.ForkList, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = s.db.R.QueryContext(ctx, `SELECT event_id, hash, received_at FROM conflicts WHERE collector = ? ORDER BY id`, d.ID)
	if err != nil {
		return fmt.Errorf("read conflicts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c hub.Conflict
		var at string
		if err := rows.Scan(&c.EventID, &c.Hash, &at); err != nil {
			return err
		}
		c.ReceivedAt = parseTime(at)
		d.ConflictList = append(d.ConflictList, c)
	}
	return rows.Err()
}

// Devices lists every device with its sync and chain state.
func (s *Store) Devices(ctx context.Context) ([]*hub.Device, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices d ORDER BY d.name, d.id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	var out []*hub.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, d := range out {
		if err := s.fillStreams(ctx, d); err != nil {
			return nil, err
		}
	}
	return out, s.fillNotices(ctx, out...)
}

func (s *Store) fillStreams(ctx context.Context, d *hub.Device) error {
	rows, err := s.db.R.QueryContext(ctx, `SELECT epoch, through, hash, received, gaps, forks FROM streams WHERE collector = ? ORDER BY rowid`, d.ID)
	if err != nil {
		return fmt.Errorf("read streams: %w", err)
	}
	defer rows.Close()
	d.Gaps = []hub.Gap{}
	for rows.Next() {
		var st hub.Stream
		var gaps string
		if err := rows.Scan(&st.Epoch, &st.Through, &st.Hash, &st.Received, &gaps, &st.Forks); err != nil {
			return err
		}
		json.Unmarshal([]byte(gaps), &st.Gaps)
		if st.Gaps == nil {
			st.Gaps = []hub.Range{}
		}
		d.Streams = append(d.Streams, st)
		d.Received += st.Received
		d.Forks += st.Forks
		for _, g := range st.Gaps {
			d.Gaps = append(d.Gaps, hub.Gap{Epoch: st.Epoch, From: g.From, To: g.To})
		}
		d.AckedThrough = st.Through // the newest epoch's position
	}
	d.Chain = hub.ChainOK
	switch {
	case d.Forks > 0 || d.Conflicts > 0:
		d.Chain = hub.ChainFork
	case len(d.Gaps) > 0:
		d.Chain = hub.ChainGap
	}
	return rows.Err()
}

// DeviceByToken authenticates a collector's sync connection.
func (s *Store) DeviceByToken(ctx context.Context, token string) (*hub.Device, error) {
	d, err := scanDevice(s.db.R.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices d WHERE d.token_hash = ?`, hashSecret(token)))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, apperr.Errorf(apperr.EUNAUTHORIZED, "unknown device token; enroll this collector again")
	case err != nil:
		return nil, fmt.Errorf("read device: %w", err)
	case d.RevokedAt != nil:
		return nil, apperr.Errorf(apperr.EFORBIDDEN, "device %s was revoked on %s", d.ID, d.RevokedAt.Format("2006-01-02"))
	}
	return d, nil
}

// RecordHello stores what a collector said when it connected.
func (s *Store) RecordHello(ctx context.Context, h hub.Hello) error {
	_, err := s.db.W.ExecContext(ctx, `UPDATE devices SET last_seen = ?, clock_offset_ms = ?, pending_reported = ?, app_version = ?, config_seq = ? WHERE id = ?`,
		hub.FormatTime(h.At), h.ClockOffsetMS, h.Pending, h.AppVersion, h.ConfigSeq, h.DeviceID)
	return err
}

// AckConfig records the config version a device applied.
func (s *Store) AckConfig(ctx context.Context, deviceID string, seq int64) error {
	// A seq the log does not hold is not recorded: the device cannot run it.
	_, err := s.db.W.ExecContext(ctx, `UPDATE devices SET config_seq = ? WHERE id = ? AND EXISTS (SELECT 1 FROM config_log WHERE seq = ?)`,
		seq, deviceID, seq)
	return err
}

// Positions returns how far the hub has committed each of the epochs.
func (s *Store) Positions(ctx context.Context, deviceID string, epochs []string) ([]wire.Position, error) {
	out := make([]wire.Position, 0, len(epochs))
	for _, e := range epochs {
		p := wire.Position{Epoch: e}
		err := s.db.R.QueryRowContext(ctx, `SELECT through, hash FROM streams WHERE collector = ? AND epoch = ?`, deviceID, e).Scan(&p.Through, &p.Hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("read position: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// fillNotices names the notice versions each device shows at its config seq.
func (s *Store) fillNotices(ctx context.Context, ds ...*hub.Device) error {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, version, seq FROM notices ORDER BY id, version`)
	if err != nil {
		return fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	var vs []hub.NoticeVersion
	for rows.Next() {
		var v hub.NoticeVersion
		if err := rows.Scan(&v.ID, &v.Version, &v.Seq); err != nil {
			return err
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range ds {
		d.Notices = hub.NoticesAt(vs, d.ConfigSeq)
	}
	return nil
}
