package sqlite

import (
	"context"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/sqlite"
)

// A hub upgraded past migration 009 answers checks for the people it
// already knew, merged ones included: every identifier gets its root.
func TestIdentifierRootsBackfilled(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hub.db")
	old := fstest.MapFS{}
	sub, _ := fs.Sub(migrations, "migrations")
	names, _ := fs.Glob(sub, "*.sql")
	for _, n := range names {
		if n < "009" {
			b, _ := fs.ReadFile(sub, n)
			old[n] = &fstest.MapFile{Data: b}
		}
	}
	db, err := sqlite.Open(ctx, path, old)
	if err != nil {
		t.Fatal(err)
	}
	// Subject b was merged into a before the upgrade.
	for _, q := range []string{
		`INSERT INTO subjects (id, root, created_at) VALUES ('a', 'a', ''), ('b', 'a', ''), ('c', 'c', '')`,
		`INSERT INTO identifiers (kind, value, subject_id, event_id) VALUES ('email', 'a@x.it', 'a', 'e1'), ('phone', '+393331234567', 'b', 'e2'), ('email', 'c@x.it', 'c', 'e3')`,
		`INSERT INTO consent_state (subject_id, purpose, effect, event_id, at, suspect, retention_days, last_at, last_hlc, last_collector, last_seq, last_event)
			VALUES ('a', 'sms', 'grant', 'e2', '2026-01-01T00:00:00.000000000Z', 0, 730, '2026-01-01T00:00:00.000000000Z', 1, 'k', 2, 'e2')`,
	} {
		if _, err := db.W.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for value, want := range map[string]string{"a@x.it": "a", "+393331234567": "a", "c@x.it": "c"} {
		kind := hub.IdentEmail
		if value[0] == '+' {
			kind = hub.IdentPhone
		}
		got, err := st.FindSubject(ctx, hub.Identifier{Kind: kind, Value: value})
		if err != nil || got != want {
			t.Errorf("%s: root %q (%v), want %q", value, got, err, want)
		}
	}
	ds, err := st.Check(ctx, []hub.CheckQuery{{Ident: hub.Identifier{Kind: hub.IdentPhone, Value: "+393331234567"}, Purpose: "sms"}})
	if err != nil || ds[0].SubjectID != "a" || ds[0].EventID != "e2" {
		t.Fatalf("check after the upgrade: %+v %v", ds, err)
	}
}
