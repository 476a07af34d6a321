package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

var _ hub.WebhookStore = (*Store)(nil)

const webhookCols = `id, url, events, description, secret, created_at, cursor, paused_at, paused_seq, paused_reason, old_secret, old_until`

func scanWebhook(row interface{ Scan(...any) error }) (*hub.Webhook, error) {
	var w hub.Webhook
	var events, created string
	var pausedAt, reason, oldSecret, oldUntil sql.NullString
	var pausedSeq sql.NullInt64
	if err := row.Scan(&w.ID, &w.URL, &events, &w.Description, &w.Secret, &created, &w.Cursor, &pausedAt, &pausedSeq, &reason,
		&oldSecret, &oldUntil); err != nil {
		return nil, err
	}
	if oldSecret.Valid && oldUntil.Valid {
		until := parseTime(oldUntil.String)
		w.OldSecret, w.OldUntil = oldSecret.String, &until
	}
	w.Events, w.CreatedAt = strings.Split(events, ","), parseTime(created)
	if pausedAt.Valid {
		w.Paused = &hub.WebhookPause{At: parseTime(pausedAt.String), Seq: pausedSeq.Int64, Reason: reason.String}
	}
	return &w, nil
}

// CreateWebhook adds a webhook; it hears about notifications made after now,
// or about the whole feed kept so far with FromStart.
func (s *Store) CreateWebhook(ctx context.Context, n hub.NewWebhook) (*hub.Webhook, error) {
	if err := n.Validate(); err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	if _, err := s.db.W.ExecContext(ctx, `INSERT INTO webhooks (id, url, events, description, secret, created_at, cursor)
		VALUES (?, ?, ?, ?, ?, ?, CASE WHEN ? THEN 0 ELSE (SELECT COALESCE(MAX(seq), 0) FROM notifications) END)`,
		id.String(), n.URL, strings.Join(n.Events, ","), n.Description, secret, s.now(), n.FromStart); err != nil {
		return nil, fmt.Errorf("save webhook: %w", err)
	}
	return s.Webhook(ctx, id.String())
}

func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "whsec_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// UpdateWebhook changes a webhook's URL, events or description, validated
// as when it was added; the cursor stays.
func (s *Store) UpdateWebhook(ctx context.Context, id string, u hub.WebhookUpdate) (*hub.Webhook, error) {
	w, err := s.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	n := hub.NewWebhook{URL: w.URL, Events: w.Events, Description: w.Description}
	if u.URL != nil {
		n.URL = *u.URL
	}
	if u.Events != nil {
		n.Events = u.Events
	}
	if u.Description != nil {
		n.Description = *u.Description
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	if _, err := s.db.W.ExecContext(ctx, `UPDATE webhooks SET url = ?, events = ?, description = ? WHERE id = ?`,
		n.URL, strings.Join(n.Events, ","), n.Description, id); err != nil {
		return nil, fmt.Errorf("update webhook: %w", err)
	}
	return s.Webhook(ctx, id)
}

// RotateWebhookSecret gives a webhook a new secret and keeps the current
// one signing for grace. Only one older secret is kept, so while the last
// rotation's grace runs a rotation with grace is refused: it would end the
// older secret before the time the last one promised receivers. One with
// no grace is the way to cut secrets off, and ends both at once.
func (s *Store) RotateWebhookSecret(ctx context.Context, id string, grace time.Duration) (*hub.Webhook, error) {
	if grace < 0 || grace > 30*24*time.Hour {
		return nil, apperr.Errorf(apperr.EINVALID, "the grace period must be between 0 and 720h")
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	w, err := scanWebhook(tx.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no webhook %q ('attesta-hub webhook list' shows them)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook: %w", err)
	}
	now := s.Now()
	if grace > 0 && w.Rotating(now) {
		return nil, apperr.Errorf(apperr.ECONFLICT, "webhook %s is still in its last rotation's grace period: the secret before the current one "+
			"signs deliveries until %s. Rotate again after that, or now with grace 0s, which cuts off both older secrets at once",
			id, w.OldUntil.UTC().Format(time.RFC3339))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET old_secret = secret, old_until = ?, secret = ? WHERE id = ?`,
		hub.FormatTime(now.Add(grace)), secret, id); err != nil {
		return nil, fmt.Errorf("rotate webhook secret: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.Webhook(ctx, id)
}

// Webhook returns one webhook with its secret.
func (s *Store) Webhook(ctx context.Context, id string) (*hub.Webhook, error) {
	w, err := scanWebhook(s.db.R.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no webhook %q ('attesta-hub webhook list' shows them)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("read webhook: %w", err)
	}
	return w, nil
}

// Webhooks lists every webhook, oldest first.
func (s *Store) Webhooks(ctx context.Context) ([]hub.Webhook, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	defer rows.Close()
	out := []hub.Webhook{}
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *w)
	}
	return out, rows.Err()
}

// DeleteWebhook removes a webhook and its delivery log.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	res, err := s.db.W.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "no webhook %q ('attesta-hub webhook list' shows them)", id)
	}
	return nil
}

// Deliveries returns a webhook's latest attempts, newest first.
func (s *Store) Deliveries(ctx context.Context, id string, failedOnly bool, limit int) ([]hub.Delivery, error) {
	if _, err := s.Webhook(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, webhook_id, seq, type, attempt, attempted_at, status_code, error, duration_ms, outcome
		FROM webhook_deliveries WHERE webhook_id = ? AND (? = 0 OR outcome = 'failed') ORDER BY id DESC LIMIT ?`, id, failedOnly, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	out := []hub.Delivery{}
	for rows.Next() {
		var d hub.Delivery
		var at string
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.Seq, &d.Type, &d.Attempt, &at, &d.StatusCode, &d.Error, &d.DurationMS, &d.Outcome); err != nil {
			return nil, err
		}
		d.AttemptedAt = parseTime(at)
		out = append(out, d)
	}
	return out, rows.Err()
}

// RecordDelivery logs an attempt; a delivered one moves the cursor to its
// seq and a failed one pauses the webhook, in the same transaction, so the
// log and the cursor never disagree. A webhook removed meanwhile is
// ENOTFOUND.
func (s *Store) RecordDelivery(ctx context.Context, d hub.Delivery) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var res sql.Result
	switch d.Outcome {
	case hub.DeliveryDelivered:
		res, err = tx.ExecContext(ctx, `UPDATE webhooks SET cursor = MAX(cursor, ?) WHERE id = ?`, d.Seq, d.WebhookID)
	case hub.DeliveryFailed:
		res, err = tx.ExecContext(ctx, `UPDATE webhooks SET paused_at = ?, paused_seq = ?, paused_reason = ? WHERE id = ?`,
			hub.FormatTime(d.AttemptedAt), d.Seq, d.Error, d.WebhookID)
	case hub.DeliveryRetry:
		_, err = s.webhookExists(ctx, tx, d.WebhookID)
	default:
		return fmt.Errorf("record delivery: outcome %q", d.Outcome)
	}
	if apperr.Code(err) == apperr.ENOTFOUND {
		return err
	}
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	if res != nil {
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Errorf(apperr.ENOTFOUND, "no webhook %q", d.WebhookID)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, seq, type, attempt, attempted_at, status_code, error, duration_ms, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.WebhookID, d.Seq, d.Type, d.Attempt, hub.FormatTime(d.AttemptedAt), d.StatusCode, d.Error, d.DurationMS, d.Outcome); err != nil {
		return fmt.Errorf("log delivery: %w", err)
	}
	return tx.Commit()
}

func (s *Store) webhookExists(ctx context.Context, tx *sql.Tx, id string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhooks WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, apperr.Errorf(apperr.ENOTFOUND, "no webhook %q", id)
	}
	return err == nil, err
}

// PassWebhook moves the cursor up to seq over notifications the webhook
// does not subscribe to. It never moves past a pause.
func (s *Store) PassWebhook(ctx context.Context, id string, seq int64) error {
	if _, err := s.db.W.ExecContext(ctx, `UPDATE webhooks SET cursor = MAX(cursor, ?) WHERE id = ? AND paused_at IS NULL`, seq, id); err != nil {
		return fmt.Errorf("move webhook cursor: %w", err)
	}
	return nil
}

// ResumeWebhook clears a pause. With skip, the notification delivery
// stopped at is logged as skipped and the cursor passes it.
func (s *Store) ResumeWebhook(ctx context.Context, id string, skip bool) (*hub.Webhook, error) {
	w, err := s.Webhook(ctx, id)
	if err != nil {
		return nil, err
	}
	if w.Paused == nil {
		return nil, apperr.Errorf(apperr.ECONFLICT, "webhook %s is not paused", id)
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE webhooks SET paused_at = NULL, paused_seq = NULL, paused_reason = NULL,
		cursor = CASE WHEN ? THEN MAX(cursor, paused_seq) ELSE cursor END WHERE id = ? AND paused_seq = ?`, skip, id, w.Paused.Seq)
	if err != nil {
		return nil, fmt.Errorf("resume webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, apperr.Errorf(apperr.ECONFLICT, "webhook %s changed meanwhile; try again", id)
	}
	if skip {
		var typ string
		if err := tx.QueryRowContext(ctx, `SELECT type FROM notifications WHERE seq = ?`, w.Paused.Seq).Scan(&typ); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (webhook_id, seq, type, attempt, attempted_at, status_code, error, duration_ms, outcome)
			VALUES (?, ?, ?, 0, ?, 0, 'skipped by an admin', 0, 'skipped')`, id, w.Paused.Seq, typ, s.now()); err != nil {
			return nil, fmt.Errorf("log skip: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return s.Webhook(ctx, id)
}

// PruneDeliveries deletes delivery log entries attempted before t, except
// failed ones, a chunk at a time so ingest never waits long for the writer.
func (s *Store) PruneDeliveries(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.deleteInChunks(ctx, `DELETE FROM webhook_deliveries WHERE id IN (
		SELECT id FROM webhook_deliveries WHERE attempted_at < ? AND outcome != 'failed' LIMIT 5000)`, hub.FormatTime(before))
	if err != nil {
		return n, fmt.Errorf("prune delivery log: %w", err)
	}
	return n, nil
}

// WebhookLags reads every webhook's lag, for /metrics.
func (s *Store) WebhookLags(ctx context.Context) ([]hub.WebhookLag, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT w.id, w.paused_at IS NOT NULL,
		COALESCE((SELECT MAX(seq) FROM notifications), 0) - w.cursor,
		(SELECT created_at FROM notifications n WHERE n.seq > w.cursor ORDER BY n.seq LIMIT 1)
		FROM webhooks w ORDER BY w.id`)
	if err != nil {
		return nil, fmt.Errorf("webhook lag: %w", err)
	}
	defer rows.Close()
	var out []hub.WebhookLag
	for rows.Next() {
		var l hub.WebhookLag
		var oldest sql.NullString
		if err := rows.Scan(&l.ID, &l.Paused, &l.Pending, &oldest); err != nil {
			return nil, err
		}
		if oldest.Valid {
			l.Seconds = max(0, s.Now().Sub(parseTime(oldest.String)).Seconds())
		}
		l.Pending = max(0, l.Pending)
		out = append(out, l)
	}
	return out, rows.Err()
}
