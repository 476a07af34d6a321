package sqlite

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every statement on the ingest and check paths finds its rows through an
// index: a table scan there makes ingest slow down as the hub fills up.
func TestQueryPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	queries := map[string]string{
		"check":               checkSQL,
		"check index changes": checkChangesSQL,
		"check index idents":  checkIdentsSQL,
		"check index states":  checkStatesSQL,
	}
	queries["request"] = `SELECT ` + requestColumn + ` FROM requests WHERE id = ?`
	queries["request steps"] = `SELECT at, by, action, state, note FROM request_steps WHERE request_id = ? ORDER BY id`
	queries["requests of a subject"] = `SELECT id FROM requests WHERE subject_id = ? AND kind = ? AND channel = 'receipt'`
	for name, q := range reconcileSQL {
		queries[name] = q
	}
	for name, q := range suggestSQL {
		queries["suggest "+name] = q
	}
	scan := regexp.MustCompile(`^SCAN (subjects|identifiers|facts|events|consent_state|subject_events|merges|suggestions|suggest_queue|requests|request_steps|erasures|erased_identifiers|check_changes)\b`)
	for name, q := range queries {
		rows, err := st.db.R.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, make([]any, strings.Count(q, "?"))...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for rows.Next() {
			var id, parent, unused int
			var detail string
			rows.Scan(&id, &parent, &unused, &detail)
			if scan.MatchString(detail) {
				t.Errorf("%s scans a table: %s", name, detail)
			}
		}
		rows.Close()
	}
}
