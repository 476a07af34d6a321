package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

// incoming makes a verified record as collector "fair" at position seq:
// a consent for person, or (person nil) a notice view referencing ref.
func (e *env) incoming(seq uint64, at time.Time, person *record.Subject, ref string, choices map[string]bool) hub.Incoming {
	e.t.Helper()
	id, _ := uuid.NewV7()
	env := &record.Envelope{Schema: 1, ID: id.String(), Kind: record.NoticeViewed, Collector: "fair", Epoch: "ep", Seq: seq,
		CapturedAt: at.Format(time.RFC3339Nano), HLC: hlc.New(at.UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
		Notice: record.NoticeRef{ID: "privacy-it", Version: 1}, Ref: ref}
	var payload []byte
	if person != nil {
		payload, _ = json.Marshal(record.Payload{Subject: *person, Salt: []byte{1}})
		env.Kind, env.PayloadSHA256, env.Sealed = record.Refused, record.PayloadHash(payload), []byte{1}
		for _, code := range []string{"newsletter", "sms", "phone", "profiling", "third_party"} {
			if granted, ok := choices[code]; ok {
				if granted {
					env.Kind = record.Given
				}
				env.Purposes = append(env.Purposes, record.Choice{Purpose: code, Granted: granted})
			}
		}
	}
	s, err := record.Sign(env, e.priv)
	if err != nil {
		e.t.Fatal(err)
	}
	return hub.Incoming{Signed: s, Env: env, Hash: s.HashHex(), Payload: payload, Subject: person, ReceivedAt: at,
		CorrectedAt: at, Countersig: []byte{1}}
}

// outcome is what a hub made of a set of records, in terms that do not
// depend on the subject ids it drew: for each identifier, the events,
// states and merges of its subject; and the consent changes announced.
func (e *env) outcome(idents []hub.Identifier) string {
	e.t.Helper()
	ctx := context.Background()
	out := ""
	for _, id := range idents {
		sid, err := e.st.FindSubject(ctx, id)
		if err != nil {
			e.t.Fatalf("%v: %v", id, err)
		}
		sub, err := e.st.Subject(ctx, sid)
		if err != nil {
			e.t.Fatal(err)
		}
		var evs, states []string
		for _, ev := range sub.Events {
			evs = append(evs, ev.ID)
		}
		for _, st := range sub.States {
			states = append(states, fmt.Sprintf("%s=%s by %s", st.Purpose, st.Decision, st.EventID))
		}
		slices.Sort(evs)
		slices.Sort(states)
		out += fmt.Sprintf("%s: %d identifiers, %d merges, events %v, states %v\n", id.Value, len(sub.Identifiers), len(sub.Merged), evs, states)
	}
	// Which events are linked to a subject at all (a view whose consent
	// had not arrived is not).
	rows, err := e.st.DB().R.QueryContext(ctx, `SELECT event_id FROM subject_events ORDER BY event_id`)
	if err != nil {
		e.t.Fatal(err)
	}
	var linked []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		linked = append(linked, id)
	}
	rows.Close()
	out += fmt.Sprintf("linked %v\n", linked)
	changes, _ := e.changes(0)
	var cs []string
	for _, c := range changes {
		cs = append(cs, fmt.Sprintf("%s %s→%s by %s merged:%v", c.Purpose, c.Previous, c.Decision, c.EventID, c.MergedInto != ""))
	}
	slices.Sort(cs)
	return out + fmt.Sprintf("changes %v\n", cs)
}

// A batch is reconciled as if its records came one by one: a person
// matched by a record earlier in the same batch, a merge in the middle of
// it, notice views referencing consents in the batch and before it (the
// hub reads a batch's identifiers and references in one query each).
func TestBatchReconciledAsRecordByRecord(t *testing.T) {
	one, each := mustOpen(t), mustOpen(t)
	ctx := context.Background()
	a := record.Subject{GivenName: "Anna", FamilyName: "Bianchi", Email: "anna@esempio.it"}
	b := record.Subject{GivenName: "Anna", FamilyName: "B", Phone: "+39 333 123 4567"}
	ab := record.Subject{GivenName: "Anna", FamilyName: "Bianchi", Email: "ANNA@esempio.it ", Phone: "3331234567"}
	b2 := record.Subject{GivenName: "Anna", FamilyName: "B", Phone: "333 1234567", Email: "anna.b@esempio.it"}
	c := record.Subject{GivenName: "Carlo", FamilyName: "Verdi", Email: "carlo@esempio.it", Phone: "+39 347 000 1111"}
	c2 := record.Subject{GivenName: "Carlo", FamilyName: "Verdi", Email: " Carlo@Esempio.it"}
	early := one.incoming(1, t0, &c, "", map[string]bool{"newsletter": true, "sms": true})
	seq := uint64(1)
	next := func() (uint64, time.Time) { seq++; return seq, t0.Add(time.Duration(seq) * time.Minute) }
	var batch []hub.Incoming
	add := func(person *record.Subject, ref string, choices map[string]bool) string {
		s, at := next()
		in := one.incoming(s, at, person, ref, choices)
		batch = append(batch, in)
		return in.Env.ID
	}
	add(nil, early.Env.ID, nil) // a view of a consent stored before the batch
	ca := add(&a, "", map[string]bool{"newsletter": true, "profiling": true})
	add(nil, ca, nil) // a view of a consent earlier in the batch
	cb := add(&b, "", map[string]bool{"sms": false, "phone": true})
	add(&c2, "", map[string]bool{"newsletter": false})              // matches a person stored before
	add(&ab, "", map[string]bool{"newsletter": false})              // merges a and b
	add(nil, cb, nil)                                               // a view of b's consent, now merged
	add(&b2, "", map[string]bool{"sms": true, "third_party": true}) // finds the merged group
	add(&a, "", map[string]bool{"profiling": false, "sms": true, "sms ": true})
	later := "later"
	s, at := next()
	view := one.incoming(s, at, nil, later, nil) // references nothing held
	batch = append(batch, view)

	for _, e := range []*env{one, each} {
		if _, err := e.st.Ingest(ctx, "fair", []hub.Incoming{early}); err != nil {
			t.Fatal(err)
		}
	}
	if res, err := one.st.Ingest(ctx, "fair", batch); err != nil || res.Accepted != len(batch) {
		t.Fatalf("batch: %+v %v", res, err)
	}
	for _, in := range batch {
		if res, err := each.st.Ingest(ctx, "fair", []hub.Incoming{in}); err != nil || res.Accepted != 1 {
			t.Fatalf("record: %+v %v", res, err)
		}
	}
	idents := []hub.Identifier{{Kind: "email", Value: "anna@esempio.it"}, {Kind: "phone", Value: "+393331234567"},
		{Kind: "email", Value: "anna.b@esempio.it"}, {Kind: "email", Value: "carlo@esempio.it"}}
	got, want := one.outcome(idents), each.outcome(idents)
	if got != want {
		t.Fatalf("one batch:\n%s\nrecord by record:\n%s", got, want)
	}
	for _, id := range idents[:3] {
		if sid(one, "anna@esempio.it") != func() string { s, _ := one.st.FindSubject(ctx, id); return s }() {
			t.Errorf("%s is not in the merged group", id.Value)
		}
	}
	t.Log(got)
}
