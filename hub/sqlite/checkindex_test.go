package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/record"
)

// The in-memory check index answers exactly as SQLite does through every
// kind of change, whether the hub makes it or another program on the same
// database does (the CLI): new people, people sharing a phone (merged),
// later and earlier choices, head-office withdrawals, undone merges,
// erasures, the retention sweep, and the log trimmed on the way.
func TestCheckIndexFollowsEveryChange(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	cli, err := sqlite.Open(ctx, e.st.DB().Path)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()

	rng := rand.New(rand.NewPCG(1, 2))
	purposes := []string{"newsletter", "sms", "phone", "profiling", "third_party"}
	people := make([]record.Subject, 16)
	var qs []hub.CheckQuery
	for i := range people {
		people[i] = record.Subject{GivenName: "Anna", FamilyName: fmt.Sprintf("Verdi%d", i),
			Email: fmt.Sprintf("anna.%d@example.com", i), Phone: fmt.Sprintf("+39 333 100 %04d", i%10)}
		for _, p := range append(purposes, "unknown_purpose") {
			qs = append(qs, hub.CheckQuery{Ident: hub.Identifier{Kind: hub.IdentEmail, Value: people[i].Email}, Purpose: p})
			phone, _ := hub.NormalizePhone(people[i].Phone, "IT")
			qs = append(qs, hub.CheckQuery{Ident: hub.Identifier{Kind: hub.IdentPhone, Value: phone}, Purpose: p})
		}
	}
	qs = append(qs, hub.CheckQuery{Ident: hub.Identifier{Kind: hub.IdentEmail, Value: "nobody@example.com"}, Purpose: "sms"})

	var seq uint64
	erasures, withdrawals, unmerges := 0, 0, 0
	for step := range 240 {
		switch op := rng.IntN(20); {
		case op == 0 && erasures < 3:
			sid, err := cli.FindSubject(ctx, hub.Identifier{Kind: hub.IdentEmail, Value: people[rng.IntN(len(people))].Email})
			if err != nil {
				continue // not captured yet, or erased already
			}
			if _, err := cli.Erase(ctx, sid, "test"); err != nil {
				t.Fatalf("step %d: erase: %v", step, err)
			}
			erasures++
		case op == 1:
			sid, err := cli.FindSubject(ctx, hub.Identifier{Kind: hub.IdentEmail, Value: people[rng.IntN(len(people))].Email})
			if err != nil {
				continue
			}
			if _, err := cli.WithdrawSubject(ctx, sid, purposes[:1+rng.IntN(3)], "newsletter-engine"); err != nil {
				t.Fatalf("step %d: withdraw: %v", step, err)
			}
			withdrawals++
		case op == 2:
			var id int64
			if cli.DB().R.QueryRowContext(ctx, `SELECT id FROM merges WHERE undone_at IS NULL ORDER BY id LIMIT 1`).Scan(&id) != nil {
				continue
			}
			if err := cli.Unmerge(ctx, id, "test"); err != nil {
				t.Fatalf("step %d: unmerge: %v", step, err)
			}
			unmerges++
		case op == 3:
			if err := sqlite.TrimCheckChanges(ctx, e.st); err != nil {
				t.Fatal(err)
			}
		default:
			choices := map[string]bool{}
			for _, p := range purposes {
				if rng.IntN(2) == 0 {
					choices[p] = rng.IntN(3) > 0
				}
			}
			if len(choices) == 0 {
				choices["sms"] = true
			}
			seq++
			// Up to two years back, so some grants have expired and some
			// records arrive after later ones.
			at := t0.Add(-time.Duration(rng.IntN(2*365*24)) * time.Hour)
			// Some records carry only the email or only the phone, so that a
			// later one carrying both merges two subjects.
			person := people[rng.IntN(len(people))]
			switch rng.IntN(3) {
			case 0:
				person.Phone = ""
			case 1:
				person.Email = ""
			}
			e.choose("fair", seq, at, person, choices)
		}
		e.checkAll(qs)
	}
	e.st.Now = func() time.Time { return t0.AddDate(0, 30, 0) }
	if _, err := cli.SweepRetention(ctx, false, "test"); err != nil {
		t.Fatal(err)
	}
	e.checkAll(qs)
	var merges, changes int
	e.st.DB().R.QueryRow(`SELECT COUNT(*) FROM merges`).Scan(&merges)
	e.st.DB().R.QueryRow(`SELECT COUNT(*) FROM check_changes`).Scan(&changes)
	if merges == 0 || erasures == 0 || withdrawals == 0 || unmerges == 0 {
		t.Fatalf("the walk missed a kind of change: %d merges, %d erasures, %d withdrawals, %d undone merges", merges, erasures, withdrawals, unmerges)
	}
	if err := sqlite.TrimCheckChanges(ctx, e.st); err != nil {
		t.Fatal(err)
	}
	var left int
	e.st.DB().R.QueryRow(`SELECT COUNT(*) FROM check_changes`).Scan(&left)
	if left != 1 {
		t.Fatalf("%d changes left after trimming %d, want the newest one", left, changes)
	}
	e.choose("fair", seq+1, t0, people[0], map[string]bool{"sms": false})
	e.checkAll(qs)
}

// With check_index off the log is still trimmed, down to its newest row.
func TestCheckChangesTrimmedWithoutIndex(t *testing.T) {
	defer sqlite.SetCheckTrim(10 * time.Millisecond)()
	e := mustOpen(t)
	e.st.Close() // mustOpen's store serves checks from memory; reopen without
	st, err := sqlite.Open(context.Background(), e.st.DB().Path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e.st = st
	for i := range 20 {
		e.choose("fair", uint64(i+1), t0, record.Subject{GivenName: "A", FamilyName: "B", Email: fmt.Sprintf("a%d@example.com", i)}, map[string]bool{"sms": true})
	}
	st.ServeChecks(slog.New(slog.DiscardHandler), false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		st.DB().R.QueryRow(`SELECT COUNT(*) FROM check_changes`).Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows left", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st.ChecksFromMemory() {
		t.Fatal("checks answered from memory with the index off")
	}
}

// Checks answered while ingest commits (run with -race): every answer is
// one the database gave at some moment, and the last ones agree with it.
func TestCheckIndexUnderConcurrentIngest(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	q := []hub.CheckQuery{{Ident: hub.Identifier{Kind: hub.IdentEmail, Value: "anna@example.com"}, Purpose: "sms"}}
	stop := make(chan struct{})
	seen := make(chan map[string]bool, 1)
	go func() {
		decisions := map[string]bool{}
		for {
			select {
			case <-stop:
				seen <- decisions
				return
			default:
			}
			ds, err := e.st.Check(ctx, q)
			if err != nil {
				t.Error(err)
			} else {
				decisions[ds[0].Decision] = true
			}
		}
	}()
	anna := record.Subject{GivenName: "Anna", FamilyName: "Verdi", Email: "anna@example.com"}
	for i := range 60 {
		e.choose("fair", uint64(i+1), t0.Add(time.Duration(i)*time.Minute), anna, map[string]bool{"sms": i%2 == 0})
	}
	close(stop)
	decisions := <-seen
	for d := range decisions {
		if d != hub.Unknown && d != hub.Allowed && d != hub.Denied {
			t.Errorf("decision %q", d)
		}
	}
	if d := e.checkAll(q)[0]; d.Decision != hub.Denied {
		t.Fatalf("last choice was a refusal: %+v", d)
	}
}
