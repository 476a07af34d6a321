package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/attesta/attesta/hub"
)

// notify appends a notification to the change feed inside the caller's
// transaction, so it commits or rolls back with the change it describes.
// data is marshalled to JSON and must hold no personal data.
func notify(ctx context.Context, tx *sql.Tx, typ, subjectID, at string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("notification %s: %w", typ, err)
	}
	var subject any
	if subjectID != "" {
		subject = subjectID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (type, subject_id, created_at, data) VALUES (?, ?, ?, ?)`,
		typ, subject, at, string(b)); err != nil {
		return fmt.Errorf("notification %s: %w", typ, err)
	}
	return nil
}

// PruneNotifications deletes notifications made before t that every
// webhook has passed, oldest first, a chunk at a time so ingest never waits
// long for the writer. A webhook that is paused or behind keeps what it has
// not passed, however old.
func (s *Store) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.deleteInChunks(ctx, `DELETE FROM notifications WHERE seq IN (SELECT seq FROM notifications ORDER BY seq LIMIT 5000)
		AND created_at < ? AND seq <= COALESCE((SELECT MIN(cursor) FROM webhooks), seq)`, hub.FormatTime(before))
	if err != nil {
		return n, fmt.Errorf("prune notifications: %w", err)
	}
	return n, nil
}

// deleteInChunks runs a DELETE that removes at most 5,000 rows (its query
// says so) until one removes fewer, so that ingest never waits long for
// the writer, and returns how many rows went.
func (s *Store) deleteInChunks(ctx context.Context, query string, args ...any) (int64, error) {
	var total int64
	for {
		res, err := s.db.W.ExecContext(ctx, query, args...)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < 5000 {
			return total, nil
		}
	}
}

// Notifications returns up to limit notifications after seq, in order.
func (s *Store) Notifications(ctx context.Context, after int64, limit int) ([]hub.Notification, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT seq, type, COALESCE(subject_id, ''), created_at, data
		FROM notifications WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hub.Notification
	for rows.Next() {
		var n hub.Notification
		var at, data string
		if err := rows.Scan(&n.Seq, &n.Type, &n.SubjectID, &at, &data); err != nil {
			return nil, err
		}
		n.At, n.Data = parseTime(at), json.RawMessage(data)
		out = append(out, n)
	}
	return out, rows.Err()
}
