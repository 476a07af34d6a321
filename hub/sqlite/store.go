// Package sqlite stores the hub's state in SQLite behind the hub's domain
// interfaces. Uniqueness and idempotency rest on constraints (unique record
// id; one chain position per collector, epoch and seq), not on memory, so a
// PostgreSQL implementation can take its place.
package sqlite

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/seal"
	"github.com/attesta/attesta/shared/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the hub's SQLite store.
type Store struct {
	db  *sqlite.DB
	w   *stmtCache // the write path's statements
	Now func() time.Time
	// Reconcile links each stored record to its subject and updates the
	// consent state in the same transaction. Only benchmarks turn it off,
	// to measure what it costs.
	Reconcile bool
	// Location is the controller's time zone: rights requests fall due on
	// dates there. Nil means UTC.
	Location *time.Location
	// RetentionGrace is how long a subject no purpose justifies any more is
	// kept before the retention sweep anonymises it (see SweepRetention).
	RetentionGrace time.Duration

	catalog   atomic.Pointer[catalog.Catalog] // the newest snapshot decoded
	tombKey   atomic.Pointer[[]byte]          // the key of tombstone identifier hashes
	checks    atomic.Pointer[checkIndex]      // set while checks are answered from memory
	stopIndex func()                          // stops ServeChecks' goroutine

	suggestWake chan struct{} // ingest queued records for suggestions
	ingesting   atomic.Int32  // Ingest calls under way
	readyMu     sync.Mutex
	ready       *readyBatch // suggestions waiting for an ingest transaction to write them
}

// Open opens or creates the hub database at path.
func Open(ctx context.Context, path string) (*Store, error) {
	sub, _ := fs.Sub(migrations, "migrations")
	db, err := sqlite.Open(ctx, path, sub)
	if err != nil {
		return nil, err
	}
	// Checkpoints copy the log back into hub.db in the writer's commit.
	// Every 10,000 pages (about 40 MB of log) instead of SQLite's 1,000, a
	// page that several batches change (an index's hot pages) is copied
	// once, not once per batch: the reconciling writer spent about a fifth
	// less time committing, ingest ran 7–8% faster (docs/BENCHMARKS.md).
	if _, err := db.W.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 10000`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Space freed by every write is zeroed, so an erased value is not left
	// behind in a page's free space by an earlier update of its row. The
	// writer is one long-lived connection; erasures set it again.
	if _, err := db.W.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w, err := prepareCache(ctx, db.W, writerQueries())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return &Store{db: db, w: w, Now: time.Now, Reconcile: true, RetentionGrace: DefaultRetentionGrace, suggestWake: make(chan struct{}, 1)}, nil
}

// Close stops the check index, if any, and closes the database.
func (s *Store) Close() error {
	if s.stopIndex != nil {
		s.stopIndex()
	}
	return errors.Join(s.w.close(), s.db.Close())
}

// DB exposes the database for size figures.
func (s *Store) DB() *sqlite.DB { return s.db }

func (s *Store) now() string { return hub.FormatTime(s.Now()) }

func parseTime(v string) time.Time { t, _ := time.Parse(hub.TimeFormat, v); return t }

func hashSecret(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func randomToken(prefix string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// Keys returns the hub's keys, making them on first use.
func (s *Store) Keys(ctx context.Context) (*hub.Keys, error) {
	var k hub.Keys
	var sp, spriv, gp, gpriv []byte
	err := s.db.W.QueryRowContext(ctx, `SELECT seal_pub, seal_priv, sign_pub, sign_priv FROM hub_keys WHERE id = 1`).Scan(&sp, &spriv, &gp, &gpriv)
	if errors.Is(err, sql.ErrNoRows) {
		pub, priv, err := seal.GenerateKey()
		if err != nil {
			return nil, err
		}
		gpub, gpriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		if _, err := s.db.W.ExecContext(ctx, `INSERT INTO hub_keys (id, seal_pub, seal_priv, sign_pub, sign_priv, created_at)
			VALUES (1, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, pub[:], priv[:], []byte(gpub), []byte(gpriv), s.now()); err != nil {
			return nil, fmt.Errorf("save hub keys: %w", err)
		}
		return s.Keys(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("read hub keys: %w", err)
	}
	if len(sp) != 32 || len(spriv) != 32 || len(gp) != ed25519.PublicKeySize || len(gpriv) != ed25519.PrivateKeySize {
		return nil, errors.New("hub keys are corrupt")
	}
	k.SealPub, k.SealPriv = seal.PublicKey(sp), seal.PrivateKey(spriv)
	k.SignPub, k.SignPriv = ed25519.PublicKey(gp), ed25519.PrivateKey(gpriv)
	if k.Opener, err = seal.NewOpener(&k.SealPub, &k.SealPriv); err != nil {
		return nil, fmt.Errorf("hub keys: %w", err)
	}
	return &k, nil
}

// Catalog returns the current configuration. The decoded snapshot is kept
// and read again only when the config log has moved on (another process,
// such as a command publishing a notice, may have appended to it), so the
// consent check and each ingest batch cost one indexed lookup, not a decode.
// Callers may set fields of the copy they get but must not modify its slices.
func (s *Store) Catalog(ctx context.Context) (*catalog.Catalog, error) {
	var seq sql.NullInt64
	if err := s.db.R.QueryRowContext(ctx, `SELECT MAX(seq) FROM config_log`).Scan(&seq); err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	if !seq.Valid {
		return nil, apperr.Errorf(apperr.ENOTFOUND, "no configuration published yet")
	}
	if c := s.catalog.Load(); c != nil && c.Seq == seq.Int64 {
		cc := *c
		return &cc, nil
	}
	var b []byte
	if err := s.db.R.QueryRowContext(ctx, `SELECT catalog FROM config_log WHERE seq = ?`, seq.Int64).Scan(&b); err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	var c catalog.Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode catalog %d: %w", seq.Int64, err)
	}
	c.Seq = seq.Int64
	s.catalog.Store(&c)
	cc := c
	return &cc, nil
}

// Enrollment is a one-time code for a new collector.
type Enrollment struct {
	Code       string    `json:"code"`
	Name       string    `json:"name"`
	Touchpoint string    `json:"touchpoint"`
	ExpiresAt  time.Time `json:"expires_at"`
}

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// CreateEnrollment makes a one-time enrollment code valid for ttl.
func (s *Store) CreateEnrollment(ctx context.Context, name, touchpoint string, ttl time.Duration) (*Enrollment, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return nil, apperr.Errorf(apperr.EINVALID, "--name is required (at most 100 characters)")
	}
	cat, err := s.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	tp, ok := cat.Touchpoint(touchpoint)
	if !ok {
		return nil, apperr.Errorf(apperr.EINVALID, "touchpoint %q is unknown; 'attesta-hub touchpoint list' shows them", touchpoint)
	}
	if tp.Kind != catalog.Collect {
		return nil, apperr.Errorf(apperr.EINVALID, "touchpoint %q is a %s touchpoint; collectors enroll at collect (ctp) touchpoints", touchpoint, tp.Kind)
	}
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	raw := codeEncoding.EncodeToString(b) // 16 characters, 80 bits
	code := raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
	now := s.Now().UTC()
	e := &Enrollment{Code: code, Name: name, Touchpoint: touchpoint, ExpiresAt: now.Add(ttl)}
	if _, err := s.db.W.ExecContext(ctx, `INSERT INTO enrollments (code_hash, name, touchpoint, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		hashSecret(normalizeCode(code)), name, touchpoint, hub.FormatTime(now), hub.FormatTime(e.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("save enrollment: %w", err)
	}
	return e, nil
}

func normalizeCode(code string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
}

// Enroll spends a one-time code and registers the device key.
func (s *Store) Enroll(ctx context.Context, code string, signKey ed25519.PublicKey, appVersion, host string) (*hub.Enrolled, error) {
	if len(signKey) != ed25519.PublicKeySize {
		return nil, apperr.Errorf(apperr.EINVALID, "sign_key is not an Ed25519 public key")
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var name, tp, expires string
	var used sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT name, touchpoint, expires_at, used_at FROM enrollments WHERE code_hash = ?`,
		hashSecret(normalizeCode(code))).Scan(&name, &tp, &expires, &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, apperr.Errorf(apperr.ENOTFOUND, "enrollment code is unknown; check it or ask for a new one")
	case err != nil:
		return nil, fmt.Errorf("read enrollment: %w", err)
	case used.Valid:
		return nil, apperr.Errorf(apperr.EGONE, "enrollment code was already used; ask for a new one")
	case s.Now().After(parseTime(expires)):
		return nil, apperr.Errorf(apperr.EGONE, "enrollment code expired at %s; ask for a new one", expires)
	}
	token, err := randomToken("atd_")
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	now := s.now()
	enrollment, _ := json.Marshal(map[string]any{
		"device_id": id.String(), "name": name, "touchpoint": tp, "sign_key": base64.StdEncoding.EncodeToString(signKey),
		"enrolled_at": now, "app_version": appVersion, "host": host, "code_sha256": hashSecret(normalizeCode(code)),
	})
	if _, err := tx.ExecContext(ctx, `INSERT INTO devices (id, name, touchpoint, sign_key, token_hash, enrollment, enrolled_at, app_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id.String(), name, tp, []byte(signKey), hashSecret(token), string(enrollment), now, appVersion); err != nil {
		return nil, fmt.Errorf("save device: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE enrollments SET used_at = ?, device_id = ? WHERE code_hash = ?`,
		now, id.String(), hashSecret(normalizeCode(code))); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	d, err := s.Device(ctx, id.String())
	if err != nil {
		return nil, err
	}
	return &hub.Enrolled{Device: d, Token: token}, nil
}

// RevokeDevice stops a device from syncing; its records stay.
func (s *Store) RevokeDevice(ctx context.Context, id string) error {
	res, err := s.db.W.ExecContext(ctx, `UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, s.now(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, "no active device %q", id)
	}
	return nil
}

// CreateToken makes an API token and returns it; only its hash is kept.
func (s *Store) CreateToken(ctx context.Context, scope hub.Scope) (string, error) {
	if !scope.Valid() {
		return "", apperr.Errorf(apperr.EINVALID, "scope %q is not admin, read or check", scope)
	}
	token, err := randomToken("att_")
	if err != nil {
		return "", err
	}
	id, _ := uuid.NewV7()
	if _, err := s.db.W.ExecContext(ctx, `INSERT INTO tokens (id, hash, scope, created_at) VALUES (?, ?, ?, ?)`,
		id.String(), hashSecret(token), string(scope), s.now()); err != nil {
		return "", fmt.Errorf("save token: %w", err)
	}
	return token, nil
}

// Authenticate returns the scope of an API token.
func (s *Store) Authenticate(ctx context.Context, token string) (hub.Scope, error) {
	var scope string
	var revoked sql.NullString
	err := s.db.R.QueryRowContext(ctx, `SELECT scope, revoked_at FROM tokens WHERE hash = ?`, hashSecret(token)).Scan(&scope, &revoked)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", apperr.Errorf(apperr.EUNAUTHORIZED, "the bearer token is unknown")
	case err != nil:
		return "", err
	case revoked.Valid:
		return "", apperr.Errorf(apperr.EUNAUTHORIZED, "the bearer token was revoked")
	}
	return hub.Scope(scope), nil
}
