package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/record"
)

func (e *env) queued() int64 {
	e.t.Helper()
	n, err := e.st.SuggestQueued(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// Ingest only queues suggestions; a hub stopped before its worker got to
// them makes them after a restart, once.
func TestSuggestionsSurviveARestart(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.choose("fair", 1, t0, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@gmail.com"}, map[string]bool{"newsletter": true})
	e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "Mario", FamilyName: "Rosi", Email: "m.rossi@esempio.it"}, map[string]bool{"newsletter": false})
	e.choose("fair", 3, t0.Add(2*time.Minute), record.Subject{GivenName: "Giulia", FamilyName: "Bianchi", Email: "mario.rossi+fiera@gmail.com"}, map[string]bool{"sms": true})
	// The same person again adds nothing to suggest.
	e.choose("fair", 4, t0.Add(3*time.Minute), record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@gmail.com"}, map[string]bool{"sms": true})
	if n := e.queued(); n != 3 {
		t.Fatalf("%d records queued for suggestions, want 3", n)
	}
	if sg, _ := e.st.Suggestions(ctx, 10); len(sg) != 0 {
		t.Fatalf("suggestions made inside ingest: %+v", sg)
	}

	path := e.st.DB().Path
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	if n := e.queued(); n != 3 {
		t.Fatalf("%d records queued after a restart, want 3", n)
	}
	if n, err := st.Suggest(ctx, 10); err != nil || n != 3 {
		t.Fatalf("worked off %d (%v), want 3", n, err)
	}
	if n, err := st.Suggest(ctx, 10); err != nil || n != 0 {
		t.Fatalf("worked off %d more (%v), want 0", n, err)
	}
	sg, err := st.Suggestions(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]int{}
	for _, g := range sg {
		reasons[g.Reason]++
	}
	if len(sg) != 2 || reasons[hub.SuggestSimilarName] != 1 || reasons[hub.SuggestFoldedEmail] != 1 {
		t.Fatalf("suggestions %+v", sg)
	}
	if n := e.queued(); n != 0 {
		t.Fatalf("%d records still queued", n)
	}
}

// The worker reads beside the writer; a person erased between its read and
// its write is read again, and suggested to nobody.
func TestSuggestionsReadAgainAfterAnErasure(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.choose("fair", 1, t0, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@gmail.com"}, map[string]bool{"newsletter": true})
	e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "Mario", FamilyName: "Rosi", Email: "m.rossi@esempio.it"}, map[string]bool{"newsletter": false})
	erased := sid(e, "mario.rossi@gmail.com")
	defer sqlite.SetSuggestBetween(func() {
		if _, err := e.st.Erase(ctx, erased, hub.ErasedByRequest); err != nil {
			t.Error(err)
		}
	})()
	if n, err := e.st.Suggest(ctx, 10); err != nil || n != 2 {
		t.Fatalf("worked off %d (%v), want 2", n, err)
	}
	if sg, _ := e.st.Suggestions(ctx, 10); len(sg) != 0 {
		t.Fatalf("an erased person was suggested: %+v", sg)
	}
	if n := e.queued(); n != 0 {
		t.Fatalf("%d records still queued", n)
	}
}

// Without the erasure the same two records make their suggestion: the
// test above fails for the right reason.
func TestSuggestionsBesideTheWriter(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.choose("fair", 1, t0, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@gmail.com"}, map[string]bool{"newsletter": true})
	// Another record ingested between the worker's read and its write is
	// left for the next round, and sees the first person.
	defer sqlite.SetSuggestBetween(func() {
		sqlite.SetSuggestBetween(nil)
		e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "Mario", FamilyName: "Rosi", Email: "m.rossi@esempio.it"}, map[string]bool{"newsletter": false})
	})()
	if n, err := e.st.Suggest(ctx, 10); err != nil || n != 1 {
		t.Fatalf("worked off %d (%v), want 1", n, err)
	}
	if n := e.queued(); n != 1 {
		t.Fatalf("%d records queued, want 1", n)
	}
	sg, err := e.suggestions(10)
	if err != nil || len(sg) != 1 || sg[0].Reason != hub.SuggestSimilarName {
		t.Fatalf("suggestions %+v (%v)", sg, err)
	}
}

// While ingest keeps the writer busy, the worker's batch is written by the
// next ingest transaction, not after every session waiting for the writer.
func TestSuggestionsRideOnIngest(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.choose("fair", 1, t0, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@gmail.com"}, map[string]bool{"newsletter": true})
	e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "Mario", FamilyName: "Rosi", Email: "m.rossi@esempio.it"}, map[string]bool{"newsletter": false})
	stop := e.st.PretendIngesting()
	defer stop()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := e.st.Suggest(ctx, 10)
		done <- result{n, err}
	}()
	for deadline := time.Now().Add(10 * time.Second); !e.st.SuggestionsWaiting(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the worker handed no batch over")
		}
	}
	e.choose("fair", 3, t0.Add(2*time.Minute), record.Subject{GivenName: "Giulia", FamilyName: "Bianchi", Email: "giulia@esempio.it"}, map[string]bool{"sms": true})
	// Written by that ingest's transaction: there when it returns.
	if sg, _ := e.st.Suggestions(ctx, 10); len(sg) != 1 || sg[0].Reason != hub.SuggestSimilarName {
		t.Fatalf("suggestions after the ingest: %+v", sg)
	}
	if r := <-done; r.err != nil || r.n != 2 {
		t.Fatalf("worked off %d (%v), want 2", r.n, r.err)
	}
	if n := e.queued(); n != 1 {
		t.Fatalf("%d records queued, want 1 (the last)", n)
	}
}
