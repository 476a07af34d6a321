package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/attesta/attesta/hub"
)

// knownEvent is what ingest needs of a record id the hub already holds.
type knownEvent struct {
	hash   string
	erased bool
}

// knownChunk bounds the ids in one lookup (SQLite allows 32,766 variables).
const knownChunk = 500

// knownEvents looks up, in one query per chunk rather than one per record,
// which of the batch's record ids the hub already holds. Ingest adds the
// records it inserts as it goes, so a record sent twice in one batch meets
// its first copy.
func knownEvents(ctx context.Context, tx *sql.Tx, batch []hub.Incoming) (map[string]knownEvent, error) {
	ids := make([]any, 0, len(batch))
	for _, in := range batch {
		if in.Reject == nil && in.Env != nil {
			ids = append(ids, in.Env.ID)
		}
	}
	known := make(map[string]knownEvent, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), knownChunk)]
		ids = ids[len(chunk):]
		q := `SELECT id, hash, erased_at IS NOT NULL FROM events WHERE id IN (?` + strings.Repeat(`, ?`, len(chunk)-1) + `)`
		rows, err := tx.QueryContext(ctx, q, chunk...)
		if err != nil {
			return nil, fmt.Errorf("look up records: %w", err)
		}
		for rows.Next() {
			var id string
			var k knownEvent
			if err := rows.Scan(&id, &k.hash, &k.erased); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up records: %w", err)
			}
			known[id] = k
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("look up records: %w", err)
		}
	}
	return known, nil
}
