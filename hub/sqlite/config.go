package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

var _ hub.ConfigStore = (*Store)(nil)

// Publish appends a whole catalog snapshot to the config log (the fixtures
// of a new hub, an import); collectors get it at their next sync. It must
// be able to follow the current snapshot (see catalog.Follows). It returns
// the new sequence number.
func (s *Store) Publish(ctx context.Context, c *catalog.Catalog) (int64, error) {
	next, err := s.change(ctx, func(prev *catalog.Catalog) (*catalog.Catalog, hub.ConfigChange, error) {
		cc := c.Clone()
		if err := cc.Follows(prev); err != nil {
			return nil, hub.ConfigChange{}, err
		}
		return cc, hub.ConfigChange{Change: "catalog.published"}, nil
	})
	if err != nil {
		return 0, err
	}
	return next.Seq, nil
}

// PublishNotice implements hub.ConfigStore.
func (s *Store) PublishNotice(ctx context.Context, n catalog.Notice) (*catalog.Catalog, error) {
	return s.change(ctx, func(prev *catalog.Catalog) (*catalog.Catalog, hub.ConfigChange, error) {
		if prev == nil {
			return nil, hub.ConfigChange{}, apperr.Errorf(apperr.ENOTFOUND, "no configuration published yet")
		}
		next, err := prev.AddNotice(n)
		return next, hub.ConfigChange{Change: "notice.published", Notice: fmt.Sprintf("%s/%d", n.ID, n.Version)}, err
	})
}

// PutPurpose implements hub.ConfigStore.
func (s *Store) PutPurpose(ctx context.Context, p catalog.Purpose, create bool) (*catalog.Catalog, error) {
	return s.change(ctx, func(prev *catalog.Catalog) (*catalog.Catalog, hub.ConfigChange, error) {
		if prev == nil {
			return nil, hub.ConfigChange{}, apperr.Errorf(apperr.ENOTFOUND, "no configuration published yet")
		}
		next, err := prev.PutPurpose(p, create)
		return next, hub.ConfigChange{Change: changeName("purpose", create), Purpose: p.Code}, err
	})
}

// PutTouchpoint implements hub.ConfigStore.
func (s *Store) PutTouchpoint(ctx context.Context, t catalog.Touchpoint, create bool) (*catalog.Catalog, error) {
	return s.change(ctx, func(prev *catalog.Catalog) (*catalog.Catalog, hub.ConfigChange, error) {
		if prev == nil {
			return nil, hub.ConfigChange{}, apperr.Errorf(apperr.ENOTFOUND, "no configuration published yet")
		}
		next, err := prev.PutTouchpoint(t, create)
		return next, hub.ConfigChange{Change: changeName("touchpoint", create), Touchpoint: t.ID}, err
	})
}

// EditPurpose changes an existing purpose with edit, reading and writing
// in one transaction, so a concurrent change to another field is not lost.
func (s *Store) EditPurpose(ctx context.Context, code string, edit func(p *catalog.Purpose) error) (*catalog.Catalog, error) {
	return s.change(ctx, func(prev *catalog.Catalog) (*catalog.Catalog, hub.ConfigChange, error) {
		var p catalog.Purpose
		var ok bool
		if prev != nil {
			p, ok = prev.Purpose(code)
		}
		if !ok {
			return nil, hub.ConfigChange{}, apperr.Errorf(apperr.ENOTFOUND, "purpose %q does not exist; use add to create it", code)
		}
		p.Text = maps.Clone(p.Text)
		if err := edit(&p); err != nil {
			return nil, hub.ConfigChange{}, err
		}
		next, err := prev.PutPurpose(p, false)
		return next, hub.ConfigChange{Change: "purpose.updated", Purpose: code}, err
	})
}

// EditTouchpoint changes an existing touchpoint with edit, in one transaction.
func (s *Store) EditTouchpoint(ctx context.Context, id string, edit func(t *catalog.Touchpoint) error) (*catalog.Catalog, error) {
	return s.change(ctx, func(prev *catalog.Catalog) (*catalog.Catalog, hub.ConfigChange, error) {
		var t catalog.Touchpoint
		var ok bool
		if prev != nil {
			t, ok = prev.Touchpoint(id)
		}
		if !ok {
			return nil, hub.ConfigChange{}, apperr.Errorf(apperr.ENOTFOUND, "touchpoint %q does not exist; use add to create it", id)
		}
		if err := edit(&t); err != nil {
			return nil, hub.ConfigChange{}, err
		}
		next, err := prev.PutTouchpoint(t, false)
		return next, hub.ConfigChange{Change: "touchpoint.updated", Touchpoint: id}, err
	})
}

func changeName(what string, create bool) string {
	if create {
		return what + ".added"
	}
	return what + ".updated"
}

// change runs edit on the newest snapshot and appends what it returns, with
// the notice versions it adds and a config.changed notification, in one
// immediate transaction: two publishers (the API and a command on the same
// data folder) cannot both build on the same snapshot.
func (s *Store) change(ctx context.Context, edit func(prev *catalog.Catalog) (*catalog.Catalog, hub.ConfigChange, error)) (*catalog.Catalog, error) {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var prev *catalog.Catalog
	var prevSeq int64
	var b []byte
	switch err := tx.QueryRowContext(ctx, `SELECT seq, catalog FROM config_log ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &b); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read catalog: %w", err)
	default:
		prev = new(catalog.Catalog)
		if err := json.Unmarshal(b, prev); err != nil {
			return nil, fmt.Errorf("decode catalog %d: %w", prevSeq, err)
		}
		prev.Seq = prevSeq
	}
	next, ch, err := edit(prev)
	if err != nil {
		return nil, err
	}
	next.Seq, next.PublicURL = 0, "" // the log's position and the hub's setting are filled in when sent
	if prev != nil {
		next.PublicURL = prev.PublicURL
	}
	if b, err = json.Marshal(next); err != nil {
		return nil, err
	}
	now := s.now()
	res, err := tx.ExecContext(ctx, `INSERT INTO config_log (catalog, created_at) VALUES (?, ?)`, string(b), now)
	if err != nil {
		return nil, fmt.Errorf("publish catalog: %w", err)
	}
	if next.Seq, err = res.LastInsertId(); err != nil {
		return nil, err
	}
	for _, n := range next.Notices {
		if prev != nil {
			if _, ok := prev.Notice(n.ID, n.Version); ok {
				continue
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notices (id, version, language, title, summary, text, sha256, seq, published_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, n.ID, n.Version, n.Language, n.Title, n.Summary, n.Text, n.SHA256, next.Seq, now); err != nil {
			if isConstraint(err) {
				return nil, apperr.Errorf(apperr.ECONFLICT, "notice %s version %d was already published", n.ID, n.Version)
			}
			return nil, fmt.Errorf("save notice %s/%d: %w", n.ID, n.Version, err)
		}
	}
	ch.Seq = next.Seq
	if err := notify(ctx, tx, hub.NotifyConfigChanged, "", now, ch); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("publish catalog: %w", err)
	}
	return next, nil
}

// NoticeVersions implements hub.ConfigStore.
func (s *Store) NoticeVersions(ctx context.Context) ([]hub.NoticeVersion, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, version, language, title, summary, text, sha256, seq, published_at,
		version = (SELECT MAX(version) FROM notices l WHERE l.id = n.id) FROM notices n ORDER BY id, version`)
	if err != nil {
		return nil, fmt.Errorf("list notices: %w", err)
	}
	defer rows.Close()
	out := []hub.NoticeVersion{}
	for rows.Next() {
		var v hub.NoticeVersion
		var at string
		if err := rows.Scan(&v.ID, &v.Version, &v.Language, &v.Title, &v.Summary, &v.Text, &v.SHA256, &v.Seq, &at, &v.Active); err != nil {
			return nil, err
		}
		v.PublishedAt = parseTime(at)
		out = append(out, v)
	}
	return out, rows.Err()
}

func isConstraint(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint
}
