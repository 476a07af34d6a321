package sqlite_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/attesta/attesta/collector/sqlite"
	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	shsqlite "github.com/attesta/attesta/shared/sqlite"
)

// The grace for a visitor on a replaced notice runs from when that notice's
// new version arrived: a later change to purposes, or to another notice,
// does not start it again.
func TestNoticeActiveSince(t *testing.T) {
	ctx := context.Background()
	o, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "collector.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	now := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	o.Now = func() time.Time { return now }
	at := func(h int) time.Time { return time.Date(2026, 11, 23, h, 0, 0, 0, time.UTC) }

	cat, err := fixtures.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	apply := func(hour int, seq int64, edit func(*catalog.Catalog) *catalog.Catalog) {
		t.Helper()
		now = at(hour)
		cat = edit(cat.Clone())
		cat.Seq = seq
		if err := o.ApplyCatalog(ctx, cat); err != nil {
			t.Fatal(err)
		}
	}
	addNotice := func(id, lang string, v int) func(*catalog.Catalog) *catalog.Catalog {
		return func(c *catalog.Catalog) *catalog.Catalog {
			c, err := c.AddNotice(catalog.Notice{ID: id, Version: v, Language: lang, Title: "T", Text: "v"})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	same := func(c *catalog.Catalog) *catalog.Catalog { return c }
	want := func(id string, hour int) {
		t.Helper()
		got, err := o.NoticeActiveSince(ctx, id)
		if err != nil || !got.Equal(at(hour)) {
			t.Errorf("%s active since %v (%v), want %v", id, got, err, at(hour))
		}
	}

	apply(9, 1, same)
	want("privacy-it", 9)
	want("privacy-en", 9)
	apply(10, 2, addNotice("privacy-it", "it", 2))
	want("privacy-it", 10)
	want("privacy-en", 9)
	apply(11, 3, func(c *catalog.Catalog) *catalog.Catalog { // a purpose edit
		c.Purposes[0].RetentionDays++
		return c
	})
	want("privacy-it", 10)
	apply(12, 4, addNotice("privacy-en", "en", 2))
	want("privacy-it", 10)
	want("privacy-en", 12)

	// An older config is ignored, and so are its notices.
	old, _ := fixtures.Catalog()
	old.Seq = 2
	now = at(13)
	if err := o.ApplyCatalog(ctx, old); err != nil {
		t.Fatal(err)
	}
	want("privacy-it", 10)
	if _, err := o.NoticeActiveSince(ctx, "no-such-notice"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("unknown notice: %v, want ENOTFOUND", err)
	}
}

// A kiosk upgraded in place takes its notices' arrival to be its config's.
func TestNoticeActiveSinceBackfilled(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "collector.db")
	sub, _ := fs.Sub(sqlite.Migrations, "migrations")
	first, _ := fs.ReadFile(sub, "001_init.sql")
	db, err := shsqlite.Open(ctx, path, fstest.MapFS{"001_init.sql": {Data: first}})
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := fixtures.Catalog()
	cat, _ = cat.AddNotice(catalog.Notice{ID: "privacy-it", Version: 2, Language: "it", Title: "T", Text: "v2"})
	b, _ := json.Marshal(cat)
	if _, err := db.W.Exec(`INSERT INTO config (id, seq, catalog, applied_at) VALUES (1, 5, ?, '2026-11-20T08:00:00.000000000Z')`, string(b)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	o, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, id := range []string{"privacy-it", "privacy-en"} {
		got, err := o.NoticeActiveSince(ctx, id)
		if err != nil || !got.Equal(time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)) {
			t.Errorf("%s active since %v (%v), want the config's 2026-11-20T08:00", id, got, err)
		}
	}
	var v int
	o.DB().R.QueryRow(`SELECT version FROM notice_active WHERE id = 'privacy-it'`).Scan(&v)
	if v != 2 {
		t.Errorf("privacy-it backfilled at version %d, want 2", v)
	}
}
