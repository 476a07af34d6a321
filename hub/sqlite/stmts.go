package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// stmtCache holds the write path's statements, prepared once on the
// writer's one connection when the store opens. A transaction binds them
// (Tx.StmtContext reuses what its connection has prepared) instead of
// compiling its own: preparing, with the triggers each insert carries,
// cost the reconciling writer about a tenth of its time.
//
// Statements are prepared up front because the writer pool has one
// connection: preparing one later, while a transaction holds it, would
// wait for that very transaction.
type stmtCache struct {
	m map[string]*sql.Stmt // by query text
}

// writerQueries is everything the write path prepares: ingest,
// reconciliation, suggestions, and the held rows' multi-row inserts in
// every chunk size.
func writerQueries() []string {
	var qs []string
	for _, m := range []map[string]string{ingestSQL, reconcileSQL, suggestSQL} {
		qs = append(qs, slices.Collect(maps.Values(m))...)
	}
	qs = append(qs, suggestUnqueueSQL, suggestPutSQL)
	for _, h := range newPending() {
		for n := 1; n <= heldMax; n *= 2 {
			qs = append(qs, h.query(n))
		}
	}
	return qs
}

func prepareCache(ctx context.Context, db *sql.DB, queries []string) (*stmtCache, error) {
	c := &stmtCache{m: make(map[string]*sql.Stmt, len(queries))}
	for _, q := range queries {
		if _, ok := c.m[q]; ok {
			continue
		}
		p, err := db.PrepareContext(ctx, q)
		if err != nil {
			c.close()
			short := strings.Join(strings.Fields(q), " ")
			return nil, fmt.Errorf("prepare %s: %w", short[:min(60, len(short))], err)
		}
		c.m[q] = p
	}
	return c, nil
}

func (c *stmtCache) close() error {
	var errs []error
	for _, p := range c.m {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

// in returns query as a statement of tx: the cached one bound to it, or,
// for a query not cached (or a nil cache), one prepared in tx. Either is
// closed with tx.
func (c *stmtCache) in(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if c != nil {
		if p, ok := c.m[query]; ok {
			return tx.StmtContext(ctx, p), nil
		}
	}
	return tx.PrepareContext(ctx, query)
}

// all returns the named queries as statements of tx (see in).
func (c *stmtCache) all(ctx context.Context, tx *sql.Tx, queries map[string]string) (map[string]*sql.Stmt, error) {
	st := make(map[string]*sql.Stmt, len(queries))
	for name, q := range queries {
		p, err := c.in(ctx, tx, q)
		if err != nil {
			return nil, fmt.Errorf("prepare %s: %w", name, err)
		}
		st[name] = p
	}
	return st, nil
}
