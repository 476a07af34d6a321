package installers

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // to age and rejuvenate the programs' databases

	"github.com/attesta/attesta/shared/e2e"
)

// setSchema records schema version v in a database's migration table, as
// a program that knows migrations up to v would have left it.
func setSchema(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		v, "999_from_the_future.sql", time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatal(err)
	}
}

// A package downgrade leaves the newer program's database behind: the older
// program must refuse it with a message an operator understands and a
// non-zero exit, never touch it.
func TestDowngradeRefused(t *testing.T) {
	for _, prog := range []string{"attesta-hub", "attesta-collector"} {
		t.Run(prog, func(t *testing.T) {
			bin := artifact(t, "linux-"+runtime.GOARCH, prog+"_VERSION_linux_"+runtime.GOARCH)
			data := t.TempDir()
			// Any command that opens the database creates and migrates it.
			create := map[string][]string{
				"attesta-hub":       {"token", "create", "--scope", "read"},
				"attesta-collector": {"pin", "set", "1234"},
			}[prog]
			exec.Command(bin, append(create, "--data", data)...).Run()
			db := filepath.Join(data, strings.TrimPrefix(prog, "attesta-")+".db")
			setSchema(t, db, 999)
			before, _ := os.ReadFile(db)

			cmd := exec.Command(bin, "run", "--data", data, "--listen", "127.0.0.1:0")
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("%s run still runs 30s after being given a newer database:\n%s", prog, out)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("%s run on a newer database: %v, want exit status 1\n%s", prog, err, out)
			}
			if !tooNewRE.Match(out) || !strings.HasPrefix(string(out), prog+": ") {
				t.Fatalf("%s run did not say why it refused:\n%s", prog, out)
			}
			if after, _ := os.ReadFile(db); string(after) != string(before) {
				t.Fatal("the refused database was changed")
			}
		})
	}
}

// An upgrade starts the new program on the old program's database: it
// migrates on start and keeps what was there.
func TestUpgradeMigratesOnStart(t *testing.T) {
	bin := artifact(t, "linux-"+runtime.GOARCH, "attesta-hub_VERSION_linux_"+runtime.GOARCH)
	init, err := os.ReadFile("../hub/sqlite/migrations/001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The hub as its first release left it: schema 1 only.
	data := t.TempDir()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(data, "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL) STRICT`,
		string(init),
		`INSERT INTO schema_migrations VALUES (1, '001_init.sql', '2025-01-01T00:00:00Z')`,
	} {
		if _, err := db.Exec(q); err != nil {
			db.Close()
			t.Fatal(err)
		}
	}
	db.Close()

	p := e2e.StartProcess(t, "attesta-hub", bin, filepath.Join(t.TempDir(), "hub.log"), nil,
		"run", "--data", data, "--listen", "127.0.0.1:0")
	p.WaitLog(t, regexp.MustCompile(`attesta-hub running.*version=`+regexp.QuoteMeta(version)), 60*time.Second)
	p.Stop(t)

	db, err = sql.Open("sqlite3", "file:"+filepath.Join(data, "hub.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v, receipts int
	if err := db.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil || v < 2 {
		t.Fatalf("schema version after the upgrade: %d %v, want 2 or more", v, err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'receipts'`).Scan(&receipts); err != nil || receipts != 1 {
		t.Fatalf("migration 002 made no receipts table (%v)", err)
	}
	var applied1 string
	db.QueryRow(`SELECT applied_at FROM schema_migrations WHERE version = 1`).Scan(&applied1)
	if applied1 != "2025-01-01T00:00:00Z" {
		t.Fatalf("migration 1 was applied again (%q)", applied1)
	}
}
