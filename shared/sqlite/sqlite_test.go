package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/attesta/attesta/shared/sqlite"
)

func TestMigrateAndRefuseDowngrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	v1 := fstest.MapFS{"001_init.sql": {Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY) STRICT;`)}}
	v2 := fstest.MapFS{
		"001_init.sql": v1["001_init.sql"],
		"002_more.sql": {Data: []byte(`CREATE TABLE b (id INTEGER PRIMARY KEY) STRICT;`)},
	}
	db, err := sqlite.Open(ctx, path, v1)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = sqlite.Open(ctx, path, v2)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := db.Version(ctx); v != 2 {
		t.Fatalf("version %d", v)
	}
	var mode string
	db.W.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	var sync int
	db.W.QueryRow(`PRAGMA synchronous`).Scan(&sync)
	if mode != "wal" || sync != 2 {
		t.Fatalf("journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, sync)
	}
	db.Close()
	if _, err := sqlite.Open(ctx, path, v1); !errors.Is(err, sqlite.ErrTooNew) {
		t.Fatalf("downgrade: %v", err)
	}
}

func TestBrokenMigrationLeavesNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	bad := fstest.MapFS{
		"001_init.sql": {Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY) STRICT;`)},
		"002_bad.sql":  {Data: []byte(`CREATE TABLE oops (`)},
	}
	if _, err := sqlite.Open(ctx, path, bad); err == nil {
		t.Fatal("broken migration accepted")
	}
	good := fstest.MapFS{"001_init.sql": bad["001_init.sql"]}
	db, err := sqlite.Open(ctx, path, good)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if v, _ := db.Version(ctx); v != 1 {
		t.Fatalf("version %d after failed run", v)
	}
}

func TestConcurrentWritersDoNotLock(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"),
		fstest.MapFS{"001_init.sql": {Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER) STRICT;`)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				tx, err := db.W.BeginTx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				if _, err := tx.Exec(`INSERT INTO a (n) VALUES (?)`, i); err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if err := tx.Commit(); err != nil {
					errs <- err
				}
				var n int
				if err := db.R.QueryRow(`SELECT COUNT(*) FROM a`).Scan(&n); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Both pools get a real page cache and memory-mapped reads on every
// connection, not SQLite's 2 MB default.
func TestConnectionsAreTuned(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "x.db"), fstest.MapFS{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Held at once, so the reader pool opens several connections.
	for name, p := range map[string]struct {
		pool *sql.DB
		n    int
	}{"writer": {db.W, 1}, "reader": {db.R, 3}} {
		for i := range p.n {
			c, err := p.pool.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var cache, mmap int64
			if err := c.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cache); err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRowContext(ctx, `PRAGMA mmap_size`).Scan(&mmap); err != nil {
				t.Fatal(err)
			}
			if cache > -32<<10 || mmap < 1<<30 {
				t.Errorf("%s connection %d: cache_size %d, mmap_size %d", name, i, cache, mmap)
			}
		}
	}
}
