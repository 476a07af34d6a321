// Package sqlite opens Attesta's SQLite databases the one safe way: WAL,
// synchronous=FULL, immediate write transactions through a single writer
// connection, a separate pool of readers, and embedded numbered migrations
// applied in one transaction and recorded. A database whose schema is newer
// than the program is refused rather than touched.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Page cache and memory-mapped I/O. SQLite's default cache is 2 MB, far
// below a hub holding millions of subjects: every lookup then costs a
// read() per page. Memory-mapping the file lets readers use the kernel's
// page cache directly (capped by SQLite at 2 GiB unless built otherwise);
// the caches only grow as far as the database does, so a kiosk's small
// outbox stays small.
const (
	mmapSize      = 8 << 30
	readCacheKiB  = 32 << 10 // per reader connection
	writeCacheKiB = 128 << 10
	driverName    = "sqlite3_attesta"
)

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		_, err := c.Exec(fmt.Sprintf("PRAGMA mmap_size = %d", mmapSize), nil)
		return err
	}})
}

// DB is a database with one writer connection and a pool of readers.
type DB struct {
	W    *sql.DB // the only connection that writes; immediate transactions
	R    *sql.DB // readers; WAL lets them run beside the writer
	Path string
}

// ErrTooNew is returned when the database was migrated by a newer program.
var ErrTooNew = errors.New("database schema is newer than this program")

// Open opens (creating if needed) the database at path and applies the
// migrations in fsys (files named NNN_description.sql).
func Open(ctx context.Context, path string, fsys fs.FS) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	q.Set("_cache_size", strconv.Itoa(-writeCacheKiB))
	w, err := sql.Open(driverName, "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	q.Set("_txlock", "deferred")
	q.Set("_query_only", "on")
	q.Set("_cache_size", strconv.Itoa(-readCacheKiB))
	r, err := sql.Open(driverName, "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	db := &DB{W: w, R: r, Path: path}
	if err := db.migrate(ctx, fsys); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both pools. The writer goes last so SQLite checkpoints the WAL.
func (db *DB) Close() error {
	return errors.Join(db.R.Close(), db.W.Close())
}

var migrationName = regexp.MustCompile(`^(\d+)_[a-z0-9_]+\.sql$`)

type migration struct {
	version int
	name    string
}

func (db *DB) migrate(ctx context.Context, fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return fmt.Errorf("migration file %q is not named NNN_description.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		ms = append(ms, migration{v, e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })

	tx, err := db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin migration: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].version
	}
	if current > known {
		return fmt.Errorf("%w: %s is at schema version %d, this program knows up to %d; refusing to start (install the newer version again or restore a backup)",
			ErrTooNew, db.Path, current, known)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		body, err := fs.ReadFile(fsys, m.name)
		if err != nil {
			return fmt.Errorf("read migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
			m.version, m.name, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return fmt.Errorf("record migration %s: %w", m.name, err)
		}
	}
	return tx.Commit()
}

// Version returns the schema version recorded in the database.
func (db *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := db.R.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// Size is the size in bytes of the database file and its WAL.
func (db *DB) Size() int64 {
	var n int64
	for _, p := range []string{db.Path, db.Path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
