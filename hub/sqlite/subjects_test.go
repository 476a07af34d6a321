package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

// choose ingests, as collector, a verified consent record made at `at`
// (already hub-corrected) for person with the given choices.
func (e *env) choose(collector string, seq uint64, at time.Time, person record.Subject, choices map[string]bool, flags ...string) string {
	e.t.Helper()
	payload, _ := json.Marshal(record.Payload{Subject: person, Salt: []byte{1}})
	id, _ := uuid.NewV7()
	env := &record.Envelope{Schema: 1, ID: id.String(), Kind: record.Refused, Collector: collector, Epoch: "ep", Seq: seq,
		CapturedAt: at.Format(time.RFC3339Nano), HLC: hlc.New(at.UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
		Notice: record.NoticeRef{ID: "privacy-it", Version: 1}, PayloadSHA256: record.PayloadHash(payload), Sealed: []byte{1}}
	for _, code := range []string{"newsletter", "sms", "phone", "profiling", "third_party"} {
		granted, ok := choices[code]
		if !ok {
			continue
		}
		if granted {
			env.Kind = record.Given
		}
		env.Purposes = append(env.Purposes, record.Choice{Purpose: code, Granted: granted})
	}
	s, err := record.Sign(env, e.priv)
	if err != nil {
		e.t.Fatal(err)
	}
	in := hub.Incoming{Signed: s, Env: env, Hash: s.HashHex(), Payload: payload, Subject: &person, ReceivedAt: time.Now(),
		CorrectedAt: at, Flags: flags, Countersig: []byte{1}}
	res, err := e.st.Ingest(context.Background(), collector, []hub.Incoming{in})
	if err != nil || res.Accepted != 1 {
		e.t.Fatalf("ingest: %+v %v", res, err)
	}
	return env.ID
}

func (e *env) check(kind, value, purpose string) hub.Decision {
	e.t.Helper()
	return e.checkAll([]hub.CheckQuery{{Ident: hub.Identifier{Kind: kind, Value: value}, Purpose: purpose}})[0]
}

// checkAll answers checks the way the running hub does, from its
// in-memory index, and fails unless SQLite gives the same answers.
func (e *env) checkAll(qs []hub.CheckQuery) []hub.Decision {
	e.t.Helper()
	ctx := context.Background()
	if !e.st.ChecksFromMemory() {
		e.t.Fatal("checks are not answered from the index")
	}
	ds, err := e.st.Check(ctx, qs)
	if err != nil || len(ds) != len(qs) {
		e.t.Fatalf("check: %v %v", ds, err)
	}
	want, err := sqlite.CheckFromDatabase(ctx, e.st, qs)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := range qs {
		got, _ := json.Marshal(ds[i])
		exp, _ := json.Marshal(want[i])
		if string(got) != string(exp) {
			e.t.Fatalf("check %v: index answers %s, the database %s", qs[i], got, exp)
		}
	}
	return ds
}

var (
	mario  = record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: " Mario.Rossi@Esempio.IT", Phone: "+39 333 123 4567"}
	mario2 = record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@esempio.it", Phone: "3331234567"}
	t0     = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
)

func TestOneSubjectAcrossTouchpoints(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.st.Now = func() time.Time { return t0.Add(24 * time.Hour) }
	e.choose("fair", 1, t0, mario, map[string]bool{"newsletter": true, "sms": false})
	e.choose("store", 1, t0.Add(time.Hour), mario2, map[string]bool{"sms": true})

	byEmail, err := e.st.FindSubject(ctx, hub.Identifier{Kind: "email", Value: "mario.rossi@esempio.it"})
	if err != nil {
		t.Fatal(err)
	}
	byPhone, err := e.st.FindSubject(ctx, hub.Identifier{Kind: "phone", Value: "+393331234567"})
	if err != nil || byPhone != byEmail {
		t.Fatalf("phone leads to %s (%v), email to %s", byPhone, err, byEmail)
	}
	sub, err := e.st.Subject(ctx, byEmail)
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Identifiers) != 2 || len(sub.History) != 3 || len(sub.Events) != 2 {
		t.Fatalf("subject %+v", sub)
	}
	want := map[string]string{"newsletter": hub.Allowed, "sms": hub.Allowed, "phone": hub.Unknown, "profiling": hub.Unknown}
	for _, st := range sub.States {
		if w, ok := want[st.Purpose]; ok && st.Decision != w {
			t.Errorf("%s: %s, want %s", st.Purpose, st.Decision, w)
		}
	}
	if d := e.check("email", "mario.rossi@esempio.it", "sms"); d.Decision != hub.Allowed || d.SubjectID != byEmail {
		t.Errorf("check sms: %+v", d)
	}
	if d := e.check("email", "nobody@esempio.it", "sms"); d.Decision != hub.Unknown || d.SubjectID != "" {
		t.Errorf("check unknown person: %+v", d)
	}
	if sg, _ := e.suggestions(10); len(sg) != 0 {
		t.Errorf("identical identifiers made suggestions: %+v", sg)
	}
}

func TestSuggestionsNeverMerge(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	a := e.choose("fair", 1, t0, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@gmail.com"}, map[string]bool{"newsletter": true})
	_ = a
	e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "Mario", FamilyName: "Rosi", Email: "m.rossi@esempio.it"}, map[string]bool{"newsletter": false})
	e.choose("fair", 3, t0.Add(2*time.Minute), record.Subject{GivenName: "Giulia", FamilyName: "Bianchi", Email: "mario.rossi+fiera@gmail.com"}, map[string]bool{"sms": true})
	e.choose("fair", 4, t0.Add(3*time.Minute), record.Subject{GivenName: "Anna", FamilyName: "Verdi", Email: "anna@esempio.it"}, map[string]bool{"sms": true})

	sg, err := e.suggestions(10)
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
	if d := e.check("email", "m.rossi@esempio.it", "newsletter"); d.Decision != hub.Denied {
		t.Fatalf("a suggestion merged subjects: %+v", d)
	}

	// A reviewer merges the similar names; the later refusal now decides.
	var nameSug hub.Suggested
	for _, g := range sg {
		if g.Reason == hub.SuggestSimilarName {
			nameSug = g
		}
	}
	if err := e.st.ResolveSuggestion(ctx, nameSug.ID, true, "dpo"); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ResolveSuggestion(ctx, nameSug.ID, true, "dpo"); apperr.Code(err) != apperr.ECONFLICT {
		t.Fatalf("resolving twice: %v", err)
	}
	d := e.check("email", "mario.rossi@gmail.com", "newsletter")
	if d.Decision != hub.Denied {
		t.Fatalf("after merge: %+v", d)
	}
	sub, _ := e.st.Subject(ctx, d.SubjectID)
	if len(sub.Merged) != 1 || len(sub.Identifiers) != 2 {
		t.Fatalf("merged subject %+v", sub)
	}
	// Undone, each is itself again; nothing was rewritten.
	if err := e.st.Unmerge(ctx, sub.Merged[0].ID, "dpo"); err != nil {
		t.Fatal(err)
	}
	if d := e.check("email", "mario.rossi@gmail.com", "newsletter"); d.Decision != hub.Allowed {
		t.Fatalf("after undo: %+v", d)
	}
	if d := e.check("email", "m.rossi@esempio.it", "newsletter"); d.Decision != hub.Denied {
		t.Fatalf("after undo, the other: %+v", d)
	}
	sub, _ = e.st.Subject(ctx, d.SubjectID)
	if len(sub.Merged) != 1 || sub.Merged[0].UndoneAt == nil {
		t.Fatalf("the undone link is not kept: %+v", sub.Merged)
	}
}

func TestAutoMergeOnSharedIdentifiers(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.choose("fair", 1, t0, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario@esempio.it"}, map[string]bool{"newsletter": true})
	e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "M", FamilyName: "R", Phone: "3331234567"}, map[string]bool{"sms": true})
	a, _ := e.st.FindSubject(ctx, hub.Identifier{Kind: "email", Value: "mario@esempio.it"})
	b, _ := e.st.FindSubject(ctx, hub.Identifier{Kind: "phone", Value: "+393331234567"})
	if a == b {
		t.Fatal("two different identifiers were one subject before any record joined them")
	}
	e.choose("store", 1, t0.Add(time.Hour), record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario@esempio.it", Phone: "333 123 4567"}, map[string]bool{"phone": true})
	b, _ = e.st.FindSubject(ctx, hub.Identifier{Kind: "phone", Value: "+393331234567"})
	if a != b {
		t.Fatalf("a record with both identifiers did not join them: %s %s", a, b)
	}
	for _, p := range []string{"newsletter", "sms", "phone"} {
		if d := e.check("phone", "+393331234567", p); d.Decision != hub.Allowed {
			t.Errorf("%s: %+v", p, d)
		}
	}
	sub, _ := e.st.Subject(ctx, a)
	if len(sub.Merged) != 1 || sub.Merged[0].By != "auto" {
		t.Fatalf("merge %+v", sub.Merged)
	}
}

func TestStateInAnyArrivalOrder(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.st.Now = func() time.Time { return t0.Add(48 * time.Hour) }
	p := record.Subject{GivenName: "Anna", FamilyName: "Verdi", Email: "anna@esempio.it"}
	e.choose("store", 1, t0.Add(2*time.Hour), p, map[string]bool{"newsletter": false}) // later refusal arrives first
	e.choose("fair", 1, t0, p, map[string]bool{"newsletter": true, "profiling": true}) // an offline kiosk's earlier grant
	if d := e.check("email", "anna@esempio.it", "newsletter"); d.Decision != hub.Denied {
		t.Fatalf("newsletter: %+v", d)
	}
	if d := e.check("email", "anna@esempio.it", "profiling"); d.Decision != hub.Allowed {
		t.Fatalf("profiling: %+v", d)
	}
	// A year and a day later profiling (12 months) has expired, the refusal stands.
	e.st.Now = func() time.Time { return t0.AddDate(1, 0, 1) }
	if d := e.check("email", "anna@esempio.it", "profiling"); d.Decision != hub.Expired || d.ExpiresAt == nil {
		t.Fatalf("profiling after a year: %+v", d)
	}
	// A grant from a kiosk whose clock is suspect does not overturn the refusal.
	e.choose("fair", 2, t0.Add(5*time.Hour), p, map[string]bool{"newsletter": true}, hub.FlagClockSuspect)
	if d := e.check("email", "anna@esempio.it", "newsletter"); d.Decision != hub.Denied {
		t.Fatalf("suspect grant: %+v", d)
	}
	// A grant between the two arrives late: it overturns the refusal, and
	// the suspect grant after it is the latest grant.
	e.choose("store", 4, t0.Add(3*time.Hour), p, map[string]bool{"newsletter": true})
	e.consistent(sid(e, "anna@esempio.it"), "anna@esempio.it")
	// and a normal one later still does.
	e.choose("store", 3, t0.Add(6*time.Hour), p, map[string]bool{"newsletter": true})
	if d := e.check("email", "anna@esempio.it", "newsletter"); d.Decision != hub.Allowed {
		t.Fatalf("re-grant: %+v", d)
	}

	// Head office withdraws; a grant captured before it arrives afterwards.
	e.st.Now = func() time.Time { return t0.Add(10 * time.Hour) }
	sid := sid(e, "anna@esempio.it")
	w, err := e.st.WithdrawSubject(ctx, sid, []string{"profiling"}, "newsletter-engine")
	if err != nil || len(w.Events) != 1 {
		t.Fatalf("withdraw: %+v %v", w, err)
	}
	e.choose("store", 2, t0.Add(9*time.Hour), p, map[string]bool{"profiling": true})
	if d := e.check("email", "anna@esempio.it", "profiling"); d.Decision != hub.Denied || d.EventID != w.Events[0] {
		t.Fatalf("profiling after withdrawal: %+v (withdrawal %s)", d, w.Events[0])
	}
	for _, bad := range []struct {
		purposes []string
		channel  string
		code     string
	}{
		{[]string{"profiling"}, "fair-milano-b12", apperr.EINVALID},
		{[]string{"nope"}, "head-office", apperr.EINVALID},
		{nil, "head-office", apperr.EINVALID},
	} {
		if _, err := e.st.WithdrawSubject(ctx, sid, bad.purposes, bad.channel); apperr.Code(err) != bad.code {
			t.Errorf("withdraw %v via %s: %v", bad.purposes, bad.channel, err)
		}
	}
	e.consistent(sid, "anna@esempio.it")
	x, err := e.st.Export(ctx, sid)
	if err != nil || len(x.Records) != 7 || x.Format == "" {
		t.Fatalf("export: %d records, %v", len(x.Records), err)
	}
}

// consistent checks that the state kept up to date at ingest answers as
// deciding again from the whole history does.
func (e *env) consistent(sid, email string) {
	e.t.Helper()
	sub, err := e.st.Subject(context.Background(), sid)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, st := range sub.States {
		if d := e.check("email", email, st.Purpose); d.Decision != st.Decision || d.EventID != st.EventID {
			e.t.Errorf("%s: check says %s by %s, history says %s by %s", st.Purpose, d.Decision, d.EventID, st.Decision, st.EventID)
		}
	}
}

func sid(e *env, email string) string {
	e.t.Helper()
	id, err := e.st.FindSubject(context.Background(), hub.Identifier{Kind: "email", Value: email})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestCommonNamesSuggestNothing(t *testing.T) {
	e := mustOpen(t)
	for i := range 6 {
		e.choose("fair", uint64(i+1), t0.Add(time.Duration(i)*time.Minute),
			record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: fmt.Sprintf("mario%d@esempio.it", i)}, map[string]bool{"sms": true})
	}
	sg, err := e.suggestions(100)
	if err != nil {
		t.Fatal(err)
	}
	// The 2nd, 3rd and 4th Mario Rossi each suggest the ones before; from
	// the 5th on the name is common and suggests nothing.
	if len(sg) != 1+2+3 {
		t.Fatalf("%d suggestions, want 6", len(sg))
	}
}
