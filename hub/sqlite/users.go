package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

var (
	_ hub.UserStore      = (*Store)(nil)
	_ hub.DashboardStore = (*Store)(nil)
)

// AddUser adds a dashboard user.
func (s *Store) AddUser(ctx context.Context, login, hash string) error {
	_, err := s.db.W.ExecContext(ctx, `INSERT INTO users (login, hash, created_at) VALUES (?, ?, ?)`, login, hash, s.now())
	if err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed") {
		return apperr.Errorf(apperr.ECONFLICT, "user %q already exists; 'attesta-hub user passwd %s' changes the password", login, login)
	}
	if err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	return nil
}

// SetPassword replaces a user's password hash and ends their sessions.
func (s *Store) SetPassword(ctx context.Context, login, hash string) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET hash = ? WHERE login = ?`, hash, login)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "no user %q ('attesta-hub user list' shows them)", login)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE login = ?`, login); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	return tx.Commit()
}

// RemoveUser deletes a user and their sessions.
func (s *Store) RemoveUser(ctx context.Context, login string) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE login = ?`, login); err != nil {
		return fmt.Errorf("end sessions: %w", err)
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE login = ?`, login)
	if err != nil {
		return fmt.Errorf("remove user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "no user %q ('attesta-hub user list' shows them)", login)
	}
	return tx.Commit()
}

// Users lists the dashboard users by login.
func (s *Store) Users(ctx context.Context) ([]hub.User, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT login, created_at, last_login FROM users ORDER BY login`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []hub.User
	for rows.Next() {
		var u hub.User
		var created string
		var last sql.NullString
		if err := rows.Scan(&u.Login, &created, &last); err != nil {
			return nil, err
		}
		u.CreatedAt = parseTime(created)
		if last.Valid {
			t := parseTime(last.String)
			u.LastLogin = &t
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// PasswordHash returns a user's password hash.
func (s *Store) PasswordHash(ctx context.Context, login string) (string, error) {
	var h string
	err := s.db.R.QueryRowContext(ctx, `SELECT hash FROM users WHERE login = ?`, login).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", apperr.Errorf(apperr.ENOTFOUND, "no user %q", login)
	}
	return h, err
}

// CreateSession stores a session and the user's sign-in time. Sessions
// long expired are swept here, so the table stays small without a timer.
func (s *Store) CreateSession(ctx context.Context, ss hub.Session) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	at := hub.FormatTime(ss.CreatedAt)
	res, err := tx.ExecContext(ctx, `UPDATE users SET last_login = ? WHERE login = ?`, at, ss.Login)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "no user %q", ss.Login)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, login, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)`,
		ss.ID, ss.Login, ss.CSRF, at, hub.FormatTime(ss.SeenAt)); err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	old := ss.CreatedAt.Add(-hub.SessionMax)
	idle := ss.CreatedAt.Add(-hub.SessionIdle)
	if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE created_at < ? OR seen_at < ?`, hub.FormatTime(old), hub.FormatTime(idle)); err != nil {
		return fmt.Errorf("sweep sessions: %w", err)
	}
	return tx.Commit()
}

// Session returns a session by the hash of its secret.
func (s *Store) Session(ctx context.Context, id string) (*hub.Session, error) {
	ss := hub.Session{ID: id}
	var created, seen string
	err := s.db.R.QueryRowContext(ctx, `SELECT login, csrf, created_at, seen_at FROM sessions WHERE id = ?`, id).
		Scan(&ss.Login, &ss.CSRF, &created, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	ss.CreatedAt, ss.SeenAt = parseTime(created), parseTime(seen)
	return &ss, nil
}

// TouchSession records a request at at.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.W.ExecContext(ctx, `UPDATE sessions SET seen_at = ? WHERE id = ?`, hub.FormatTime(at), id)
	return err
}

// EndSession deletes a session (sign-out).
func (s *Store) EndSession(ctx context.Context, id string) error {
	_, err := s.db.W.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
	return err
}

// AttemptLogin checks key's throttle and counts the attempt, atomically
// (one immediate transaction on the single writer connection).
func (s *Store) AttemptLogin(ctx context.Context, key string, free int, now time.Time) (time.Duration, hub.Throttle, error) {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return 0, hub.Throttle{}, err
	}
	defer tx.Rollback()
	before, err := readThrottle(ctx, tx, key)
	if err != nil {
		return 0, hub.Throttle{}, err
	}
	if wait := before.Wait(free, now); wait > 0 {
		return wait, before, nil
	}
	if err := writeThrottle(ctx, tx, key, before.Fail(now)); err != nil {
		return 0, hub.Throttle{}, err
	}
	return 0, before, tx.Commit()
}

// ForgiveAttempt takes back a successful attempt from key's count.
func (s *Store) ForgiveAttempt(ctx context.Context, key string, at time.Time, before hub.Throttle) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	t, err := readThrottle(ctx, tx, key)
	if err != nil {
		return err
	}
	if err := writeThrottle(ctx, tx, key, t.Forgive(at, before)); err != nil {
		return err
	}
	return tx.Commit()
}

func readThrottle(ctx context.Context, tx *sql.Tx, key string) (hub.Throttle, error) {
	var t hub.Throttle
	var last string
	err := tx.QueryRowContext(ctx, `SELECT failures, last FROM login_throttle WHERE key = ?`, key).Scan(&t.Failures, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return hub.Throttle{}, fmt.Errorf("read login throttle: %w", err)
	}
	t.Last = parseTime(last)
	return t, nil
}

// writeThrottle stores key's record; one without failures is deleted.
func writeThrottle(ctx context.Context, tx *sql.Tx, key string, t hub.Throttle) error {
	var err error
	if t.Failures == 0 {
		_, err = tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE key = ?`, key)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO login_throttle (key, failures, last) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, last = excluded.last`, key, t.Failures, hub.FormatTime(t.Last))
	}
	if err != nil {
		return fmt.Errorf("write login throttle: %w", err)
	}
	return nil
}

// ForgetFailures clears key's failed sign-ins.
func (s *Store) ForgetFailures(ctx context.Context, key string) error {
	if _, err := s.db.W.ExecContext(ctx, `DELETE FROM login_throttle WHERE key = ?`, key); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	return nil
}

// ConsentsByDay counts captures (given and refused records) per touchpoint
// and day since since, days taken at offset seconds east of UTC.
func (s *Store) ConsentsByDay(ctx context.Context, since time.Time, offset int) ([]hub.DayCount, error) {
	mod := fmt.Sprintf("%+d seconds", offset)
	rows, err := s.db.R.QueryContext(ctx, `SELECT date(substr(corrected_at, 1, 19), ?) AS day,
			COALESCE(json_extract(envelope, '$.touchpoint'), ''),
			SUM(kind = 'given'), SUM(kind = 'refused')
		FROM events WHERE corrected_at >= ? AND kind IN ('given', 'refused')
		GROUP BY 1, 2 ORDER BY 1, 2`, mod, hub.FormatTime(since))
	if err != nil {
		return nil, fmt.Errorf("count consents by day: %w", err)
	}
	defer rows.Close()
	var out []hub.DayCount
	for rows.Next() {
		var d hub.DayCount
		if err := rows.Scan(&d.Day, &d.Touchpoint, &d.Given, &d.Refused); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// SearchIdentifiers finds identifiers of kind starting with prefix, with
// the root subject of each.
func (s *Store) SearchIdentifiers(ctx context.Context, kind, prefix string, limit int) ([]hub.IdentifierMatch, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT i.kind, i.value, s.root FROM identifiers i JOIN subjects s ON s.id = i.subject_id
		WHERE i.kind = ? AND i.value >= ? AND i.value < ? ORDER BY i.value LIMIT ?`, kind, prefix, prefix+"\U0010FFFF", limit)
	if err != nil {
		return nil, fmt.Errorf("search identifiers: %w", err)
	}
	defer rows.Close()
	var out []hub.IdentifierMatch
	for rows.Next() {
		var m hub.IdentifierMatch
		if err := rows.Scan(&m.Kind, &m.Value, &m.SubjectID); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
