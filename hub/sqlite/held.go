package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// heldRows are new rows of one table kept back and written as multi-row
// INSERTs: through database/sql and cgo each statement costs the one
// writer about as much as the row it inserts, so a batch writes each
// table's rows in a few statements. Whoever holds rows flushes them before
// anything in the transaction reads the table, and before commit.
type heldRows struct {
	head, tail string // "INSERT INTO t (a, b) VALUES ", " ON CONFLICT DO NOTHING"
	cols       int
	args       []any
}

// heldMax is the most rows one statement inserts (12 columns × 256 stays
// far below SQLite's limit on bound values). Statements insert a power of
// two rows, so the writer prepares each size once (see stmtCache).
const heldMax = 256

func (h *heldRows) add(values ...any) { h.args = append(h.args, values...) }

// query is the statement inserting n rows.
func (h *heldRows) query(n int) string {
	row := "(?" + strings.Repeat(", ?", h.cols-1) + ")"
	return h.head + row + strings.Repeat(", "+row, n-1) + h.tail
}

func (h *heldRows) flush(ctx context.Context, tx *sql.Tx, c *stmtCache) error {
	args := h.args
	for len(args) > 0 {
		n := heldMax
		for n*h.cols > len(args) {
			n /= 2
		}
		p, err := c.in(ctx, tx, h.query(n))
		if err == nil {
			_, err = p.ExecContext(ctx, args[:n*h.cols]...)
		}
		if err != nil {
			return fmt.Errorf("save held rows (%s): %w", strings.TrimSpace(h.head), err)
		}
		args = args[n*h.cols:]
	}
	h.args = h.args[:0]
	return nil
}
