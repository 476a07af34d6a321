// Package sqlite is the collector's outbox on SQLite: records are committed
// (WAL, synchronous=FULL) before the kiosk says "saved", and stay until the
// hub acknowledges them.
package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/attesta/attesta/collector"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
	"github.com/attesta/attesta/shared/sqlite"
	"github.com/attesta/attesta/shared/wire"
)

//go:embed migrations/*.sql
var migrations embed.FS

const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Outbox implements collector.Outbox.
type Outbox struct {
	db  *sqlite.DB
	Now func() time.Time

	mu     sync.Mutex
	notify chan struct{} // closed and replaced on every Append
}

var _ collector.Outbox = (*Outbox)(nil)

// Open opens or creates the outbox database at path.
func Open(ctx context.Context, path string) (*Outbox, error) {
	sub, _ := fs.Sub(migrations, "migrations")
	db, err := sqlite.Open(ctx, path, sub)
	if err != nil {
		return nil, err
	}
	return &Outbox{db: db, Now: time.Now, notify: make(chan struct{})}, nil
}

// Close closes the database.
func (o *Outbox) Close() error { return o.db.Close() }

// DB exposes the database for size figures.
func (o *Outbox) DB() *sqlite.DB { return o.db }

// Appended returns a channel closed at the next Append.
func (o *Outbox) Appended() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notify
}

func (o *Outbox) now() string { return o.Now().UTC().Format(timeFormat) }

// Append implements collector.Outbox.
func (o *Outbox) Append(ctx context.Context, build func(collector.Head) ([]record.Signed, error)) error {
	tx, err := o.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	head, ord, err := head(ctx, tx)
	if err != nil {
		return err
	}
	recs, err := build(head)
	if err != nil {
		return err
	}
	now := o.now()
	for _, s := range recs {
		env, err := s.Decode()
		if err != nil {
			return fmt.Errorf("built an invalid record: %w", err)
		}
		if env.Epoch != head.Epoch {
			return fmt.Errorf("built a record for epoch %s, head is %s", env.Epoch, head.Epoch)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (epoch_ord, seq, id, kind, envelope, sig, hash, hlc, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, ord, env.Seq, env.ID, env.Kind, []byte(s.Envelope), s.Sig, s.HashHex(), env.HLC.String(), now); err != nil {
			return fmt.Errorf("insert record: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	o.mu.Lock()
	close(o.notify)
	o.notify = make(chan struct{})
	o.mu.Unlock()
	return nil
}

// head reads the current epoch and its last record; a fresh epoch chains on
// from the previous epoch's last record.
func head(ctx context.Context, tx *sql.Tx) (collector.Head, int64, error) {
	var h collector.Head
	var ord int64
	if err := tx.QueryRowContext(ctx, `SELECT ord, epoch FROM epochs ORDER BY ord DESC LIMIT 1`).Scan(&ord, &h.Epoch); err != nil {
		return h, 0, fmt.Errorf("read epoch: %w", err)
	}
	var seq sql.NullInt64
	var hash sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM outbox WHERE epoch_ord = ? ORDER BY seq DESC LIMIT 1`, ord).Scan(&seq, &hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = tx.QueryRowContext(ctx, `SELECT hash FROM outbox ORDER BY epoch_ord DESC, seq DESC LIMIT 1`).Scan(&hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return h, 0, fmt.Errorf("read previous epoch: %w", err)
		}
		h.Hash = hash.String
	case err != nil:
		return h, 0, fmt.Errorf("read head: %w", err)
	default:
		h.Seq, h.Hash = uint64(seq.Int64), hash.String
	}
	return h, ord, nil
}

// Pending implements collector.Outbox.
func (o *Outbox) Pending(ctx context.Context, epoch string, after uint64, limit int) ([]collector.Pending, error) {
	var ord int64
	if epoch != "" {
		if err := o.db.R.QueryRowContext(ctx, `SELECT ord FROM epochs WHERE epoch = ?`, epoch).Scan(&ord); err != nil {
			return nil, fmt.Errorf("epoch %s: %w", epoch, err)
		}
	}
	rows, err := o.db.R.QueryContext(ctx, `SELECT e.epoch, o.seq, o.envelope, o.sig FROM outbox o JOIN epochs e ON e.ord = o.epoch_ord
		WHERE o.acked_at IS NULL AND (o.epoch_ord > ? OR (o.epoch_ord = ? AND o.seq > ?))
		ORDER BY o.epoch_ord, o.seq LIMIT ?`, ord, ord, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read pending: %w", err)
	}
	defer rows.Close()
	var out []collector.Pending
	for rows.Next() {
		var p collector.Pending
		var env []byte
		if err := rows.Scan(&p.Epoch, &p.Seq, &env, &p.Signed.Sig); err != nil {
			return nil, err
		}
		p.Signed.Envelope = env
		out = append(out, p)
	}
	return out, rows.Err()
}

// Ack implements collector.Outbox.
func (o *Outbox) Ack(ctx context.Context, epoch string, through uint64, rejected []wire.Rejection) error {
	tx, err := o.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := o.now()
	if _, err := tx.ExecContext(ctx, `UPDATE outbox SET acked_at = ? WHERE acked_at IS NULL AND seq <= ?
		AND epoch_ord = (SELECT ord FROM epochs WHERE epoch = ?)`, now, through, epoch); err != nil {
		return fmt.Errorf("ack: %w", err)
	}
	for _, r := range rejected {
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET rejected = ? WHERE seq = ?
			AND epoch_ord = (SELECT ord FROM epochs WHERE epoch = ?)`, r.Code+": "+r.Reason, r.Seq, r.Epoch); err != nil {
			return fmt.Errorf("mark rejected: %w", err)
		}
	}
	return tx.Commit()
}

// Rewind implements collector.Outbox.
func (o *Outbox) Rewind(ctx context.Context, epoch string, through uint64) error {
	_, err := o.db.W.ExecContext(ctx, `UPDATE outbox SET acked_at = NULL WHERE seq > ?
		AND epoch_ord = (SELECT ord FROM epochs WHERE epoch = ?)`, through, epoch)
	return err
}

// Streams implements collector.Outbox.
func (o *Outbox) Streams(ctx context.Context) ([]wire.Stream, error) {
	rows, err := o.db.R.QueryContext(ctx, `SELECT e.epoch,
		COALESCE((SELECT MAX(seq) FROM outbox WHERE epoch_ord = e.ord), 0),
		COALESCE((SELECT hash FROM outbox WHERE epoch_ord = e.ord ORDER BY seq DESC LIMIT 1), ''),
		COALESCE((SELECT MAX(seq) FROM outbox WHERE epoch_ord = e.ord AND acked_at IS NOT NULL), 0)
		FROM epochs e ORDER BY e.ord`)
	if err != nil {
		return nil, fmt.Errorf("read streams: %w", err)
	}
	defer rows.Close()
	var out []wire.Stream
	for rows.Next() {
		var s wire.Stream
		if err := rows.Scan(&s.Epoch, &s.Head, &s.HeadHash, &s.Acked); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// HashAt implements collector.Outbox.
func (o *Outbox) HashAt(ctx context.Context, epoch string, seq uint64) (string, error) {
	var h string
	err := o.db.R.QueryRowContext(ctx, `SELECT hash FROM outbox WHERE seq = ?
		AND epoch_ord = (SELECT ord FROM epochs WHERE epoch = ?)`, seq, epoch).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return h, err
}

// NewEpoch implements collector.Outbox.
func (o *Outbox) NewEpoch(ctx context.Context) (string, error) {
	var epoch string
	err := o.db.W.QueryRowContext(ctx, `INSERT INTO epochs (epoch, created_at) VALUES (lower(hex(randomblob(16))), ?) RETURNING epoch`, o.now()).Scan(&epoch)
	return epoch, err
}

// LastHLC is the highest HLC in the outbox, to restore the clock after a restart.
func (o *Outbox) LastHLC(ctx context.Context) (hlc.Timestamp, error) {
	var s string
	err := o.db.R.QueryRowContext(ctx, `SELECT COALESCE(MAX(hlc), '') FROM outbox`).Scan(&s)
	if err != nil || s == "" {
		return 0, err
	}
	return hlc.Parse(s)
}

// Catalog implements collector.Outbox.
func (o *Outbox) Catalog(ctx context.Context) (*catalog.Catalog, error) {
	var b []byte
	err := o.db.R.QueryRowContext(ctx, `SELECT catalog FROM config WHERE id = 1`).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no configuration yet: enroll this collector")
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c catalog.Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode config: %w", err)
	}
	return &c, nil
}

// ApplyCatalog implements collector.Outbox.
func (o *Outbox) ApplyCatalog(ctx context.Context, c *catalog.Catalog) error {
	if err := c.Validate(); err != nil {
		return apperr.Errorf(apperr.EINVALID, "config %d refused: %v", c.Seq, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tx, err := o.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// applied_at moves only with seq: a new public URL is not a new configuration.
	res, err := tx.ExecContext(ctx, `INSERT INTO config (id, seq, catalog, applied_at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, catalog = excluded.catalog,
			applied_at = CASE WHEN excluded.seq > config.seq THEN excluded.applied_at ELSE config.applied_at END
		WHERE excluded.seq >= config.seq`, c.Seq, string(b), o.now())
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err // older than the applied one: ignored
	}
	if err := o.markActive(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

// markActive notes when each notice's current version arrived: now for a
// version the kiosk did not have as current, unchanged otherwise.
func (o *Outbox) markActive(ctx context.Context, tx *sql.Tx, c *catalog.Catalog) error {
	now := o.now()
	for _, n := range c.Active() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO notice_active (id, version, since) VALUES (?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET version = excluded.version, since = excluded.since
			WHERE excluded.version <> notice_active.version`, n.ID, n.Version, now); err != nil {
			return fmt.Errorf("note active notice %s: %w", n.ID, err)
		}
	}
	return nil
}

// NoticeActiveSince implements collector.Outbox.
func (o *Outbox) NoticeActiveSince(ctx context.Context, id string) (time.Time, error) {
	var at string
	err := o.db.R.QueryRowContext(ctx, `SELECT since FROM notice_active WHERE id = ?`, id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, apperr.Errorf(apperr.ENOTFOUND, "notice %s is not in this kiosk's configuration", id)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read active notice: %w", err)
	}
	return time.Parse(timeFormat, at)
}

// SaveIdentity stores the enrolled identity and its first configuration in one transaction.
func (o *Outbox) SaveIdentity(ctx context.Context, id *collector.Identity, c *catalog.Catalog) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	tx, err := o.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM identity`).Scan(&n)
	if n > 0 {
		return apperr.Errorf(apperr.ECONFLICT, "this data folder already holds an enrolled collector; use a new --data folder")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO identity (id, collector_id, name, touchpoint, sign_key, token, hub_url,
		hub_seal_key, hub_sign_key, pin_hash, enrolled_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id.CollectorID, id.Name, id.Touchpoint, []byte(id.SignKey), id.Token, id.HubURL, id.HubSealKey[:],
		[]byte(id.HubSignKey), id.PINHash, id.EnrolledAt.UTC().Format(timeFormat)); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO config (id, seq, catalog, applied_at) VALUES (1, ?, ?, ?)`, c.Seq, string(b), o.now()); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := o.markActive(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

// SetPIN replaces the operator PIN hash.
func (o *Outbox) SetPIN(ctx context.Context, hash string) error {
	res, err := o.db.W.ExecContext(ctx, `UPDATE identity SET pin_hash = ? WHERE id = 1`, hash)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "this collector is not enrolled")
	}
	return nil
}

// Identity implements collector.Outbox.
func (o *Outbox) Identity(ctx context.Context) (*collector.Identity, error) {
	var id collector.Identity
	var sk, seal_, hsk []byte
	var enrolled string
	err := o.db.R.QueryRowContext(ctx, `SELECT collector_id, name, touchpoint, sign_key, token, hub_url, hub_seal_key,
		hub_sign_key, pin_hash, enrolled_at FROM identity WHERE id = 1`).Scan(&id.CollectorID, &id.Name, &id.Touchpoint,
		&sk, &id.Token, &id.HubURL, &seal_, &hsk, &id.PINHash, &enrolled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "this collector is not enrolled: run 'attesta-collector enroll --hub URL --code CODE'")
	}
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	if len(sk) != ed25519.PrivateKeySize || len(seal_) != 32 || len(hsk) != ed25519.PublicKeySize {
		return nil, errors.New("identity keys are corrupt")
	}
	id.SignKey, id.HubSignKey = ed25519.PrivateKey(sk), ed25519.PublicKey(hsk)
	id.HubSealKey = seal.PublicKey(seal_)
	id.EnrolledAt, _ = time.Parse(timeFormat, enrolled)
	return &id, nil
}

// Status implements collector.Outbox.
func (o *Outbox) Status(ctx context.Context, since time.Time) (collector.Status, error) {
	var s collector.Status
	var ord int64
	err := o.db.R.QueryRowContext(ctx, `SELECT ord, epoch FROM epochs ORDER BY ord DESC LIMIT 1`).Scan(&ord, &s.Epoch)
	if err != nil {
		return s, err
	}
	err = o.db.R.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL),
		(SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE epoch_ord = ? AND acked_at IS NOT NULL),
		(SELECT COALESCE(MAX(seq), 0) FROM outbox WHERE epoch_ord = ?),
		(SELECT COUNT(*) FROM outbox WHERE rejected IS NOT NULL),
		(SELECT COUNT(*) FROM outbox WHERE kind = 'given' AND created_at >= ?),
		COALESCE((SELECT seq FROM config WHERE id = 1), 0)`, ord, ord, since.UTC().Format(timeFormat)).
		Scan(&s.Pending, &s.AckedThrough, &s.Head, &s.Rejected, &s.CapturesToday, &s.ConfigSeq)
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	return s, nil
}

// Rejected lists records the hub quarantined, newest first.
func (o *Outbox) Rejected(ctx context.Context, limit int) ([]string, error) {
	rows, err := o.db.R.QueryContext(ctx, `SELECT id || ' ' || rejected FROM outbox WHERE rejected IS NOT NULL ORDER BY created_at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, strings.TrimSpace(s))
	}
	return out, rows.Err()
}
