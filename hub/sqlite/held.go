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

// heldMax is the most rows one statement inserts (12 columns × 500 stays
// far below SQLite's limit on bound values).
const heldMax = 500

func (h *heldRows) add(values ...any) { h.args = append(h.args, values...) }

func (h *heldRows) flush(ctx context.Context, tx *sql.Tx) error {
	args := h.args
	row := "(?" + strings.Repeat(", ?", h.cols-1) + ")"
	for len(args) > 0 {
		n := min(len(args)/h.cols, heldMax)
		q := h.head + row + strings.Repeat(", "+row, n-1) + h.tail
		if _, err := tx.ExecContext(ctx, q, args[:n*h.cols]...); err != nil {
			return fmt.Errorf("save held rows (%s): %w", strings.TrimSpace(h.head), err)
		}
		args = args[n*h.cols:]
	}
	h.args = h.args[:0]
	return nil
}
