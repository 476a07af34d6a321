package sqlite_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/record"
)

func rome(t *testing.T) *time.Location {
	loc, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// clock is a settable store clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func (e *env) create(nr hub.NewRequest) *hub.Request {
	e.t.Helper()
	r, err := e.st.CreateRequest(context.Background(), nr)
	if err != nil {
		e.t.Fatalf("create request: %v", err)
	}
	return r
}

func (e *env) act(action, note string, ids ...string) []hub.RequestOutcome {
	e.t.Helper()
	out, err := e.st.ActOnRequests(context.Background(), ids, hub.RequestAct{Action: action, Note: note, By: "dpo@acme"})
	if err != nil {
		e.t.Fatalf("%s: %v", action, err)
	}
	return out
}

func TestRequestDueDatesAcrossMonthEnds(t *testing.T) {
	e := mustOpen(t)
	loc := rome(t)
	c := &clock{}
	e.st.Now, e.st.Location = c.Now, loc
	for _, tc := range []struct {
		received      time.Time
		due, extended string
	}{
		{time.Date(2027, 1, 31, 10, 0, 0, 0, loc), "2027-02-28", "2027-04-30"},
		{time.Date(2028, 1, 31, 10, 0, 0, 0, loc), "2028-02-29", "2028-04-30"},
		{time.Date(2027, 3, 31, 9, 0, 0, 0, loc), "2027-04-30", "2027-06-30"},
		// 23:30 UTC on 31 January is already 1 February in Rome.
		{time.Date(2027, 1, 31, 23, 30, 0, 0, time.UTC), "2027-03-01", "2027-05-01"},
	} {
		c.now = tc.received
		r := e.create(hub.NewRequest{Kind: hub.RequestAccess, Email: "someone@example.com", Channel: "api"})
		if got := r.DueOn.Format("2006-01-02"); got != tc.due {
			t.Errorf("received %s: due %s, want %s", tc.received, got, tc.due)
		}
		// Extending on the last day of the first month is still in time.
		due, _ := time.ParseInLocation("2006-01-02", tc.due, loc)
		c.now = due.Add(23 * time.Hour)
		out := e.act(hub.ActExtend, "many records to gather", r.ID)
		if out[0].Error != "" {
			t.Fatalf("extend on the due date: %s", out[0].Error)
		}
		if got := out[0].Request.DueOn.Format("2006-01-02"); got != tc.extended || out[0].Request.Extended != "many records to gather" {
			t.Errorf("received %s: extended to %s (%q), want %s", tc.received, got, out[0].Request.Extended, tc.extended)
		}
	}
}

func TestRequestActionsAndRefusals(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	loc := rome(t)
	c := &clock{now: time.Date(2027, 1, 31, 10, 0, 0, 0, loc)}
	e.st.Now, e.st.Location = c.Now, loc

	a := e.create(hub.NewRequest{Kind: hub.RequestAccess, Email: " Anna@Example.COM ", Channel: "dashboard", By: "dpo@acme"})
	if a.Identifier != (hub.Identifier{Kind: "email", Value: "anna@example.com"}) || a.State != hub.RequestOpen || a.SubjectID != "" {
		t.Fatalf("created %+v", a)
	}
	b := e.create(hub.NewRequest{Kind: hub.RequestAccess, Phone: "333 123 4567"})
	if b.Identifier.Value != "+393331234567" || b.Channel != "api" {
		t.Fatalf("phone request %+v", b)
	}

	// Bulk start with an unknown id in the middle: the others go on.
	out := e.act(hub.ActStart, "", a.ID, "no-such-request", b.ID)
	if out[0].Error != "" || out[2].Error != "" || out[0].Request.State != hub.RequestInProgress {
		t.Fatalf("start: %+v", out)
	}
	if !strings.Contains(out[1].Error, "no request no-such-request") || out[1].Request != nil {
		t.Fatalf("unknown id: %+v", out[1])
	}
	// Starting twice.
	if out := e.act(hub.ActStart, "", a.ID); !strings.Contains(out[0].Error, "already in_progress") {
		t.Fatalf("start twice: %+v", out)
	}
	// Extending needs a reason, once, within the first month.
	if _, err := e.st.ActOnRequests(ctx, []string{a.ID}, hub.RequestAct{Action: hub.ActExtend}); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("extend without a reason: %v", err)
	}
	if out := e.act(hub.ActExtend, "complex", a.ID); out[0].Error != "" {
		t.Fatal(out[0].Error)
	}
	if out := e.act(hub.ActExtend, "again", a.ID); !strings.Contains(out[0].Error, "already extended") {
		t.Fatalf("extend twice: %+v", out)
	}
	c.now = time.Date(2027, 3, 1, 0, 30, 0, 0, loc) // the first month ended on 28 February
	if out := e.act(hub.ActExtend, "late", b.ID); !strings.Contains(out[0].Error, "first month ended on 2027-02-28") {
		t.Fatalf("extend after the first month: %+v", out)
	}
	if _, err := e.st.ActOnRequests(ctx, []string{a.ID}, hub.RequestAct{Action: "archive"}); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("unknown action: %v", err)
	}
	// Refuse, then nothing but a note.
	if out := e.act(hub.ActRefuse, "manifestly unfounded", b.ID); out[0].Request.State != hub.RequestRefused || out[0].Request.Outcome != "manifestly unfounded" {
		t.Fatalf("refuse: %+v", out)
	}
	for _, action := range []string{hub.ActStart, hub.ActComplete} {
		if out := e.act(action, "x", b.ID); !strings.Contains(out[0].Error, "already refused") {
			t.Fatalf("%s on a closed request: %+v", action, out)
		}
	}
	if out := e.act(hub.ActRefuse, "again", b.ID); !strings.Contains(out[0].Error, "already refused") {
		t.Fatalf("refuse twice: %+v", out)
	}
	if out := e.act(hub.ActNote, "person called back", b.ID); out[0].Error != "" {
		t.Fatal(out[0].Error)
	}
	got, err := e.st.Request(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, s := range got.Trail {
		actions = append(actions, s.Action+":"+string(s.State))
	}
	if strings.Join(actions, " ") != "create:open start:in_progress refuse:refused note:refused" || got.Trail[2].By != "dpo@acme" {
		t.Fatalf("trail %v %+v", actions, got.Trail)
	}
	// The queue: due date order, closed ones only when asked.
	q, err := e.st.Requests(ctx, hub.RequestFilter{})
	if err != nil || len(q) != 1 || q[0].ID != a.ID {
		t.Fatalf("queue %+v %v", q, err)
	}
	q, err = e.st.Requests(ctx, hub.RequestFilter{States: []hub.RequestState{hub.RequestRefused}})
	if err != nil || len(q) != 1 || q[0].ID != b.ID {
		t.Fatalf("refused %+v %v", q, err)
	}
	// Creation refusals.
	for _, nr := range []hub.NewRequest{
		{Kind: "delete", Email: "a@example.com"},
		{Kind: hub.RequestAccess},
		{Kind: hub.RequestAccess, Email: "not-an-address"},
		{Kind: hub.RequestAccess, Email: "a@example.com", Phone: "+393331234567"},
		{Kind: hub.RequestRectification, Email: "a@example.com"},
		{Kind: hub.RequestAccess, SubjectID: "nobody"},
	} {
		if _, err := e.st.CreateRequest(ctx, nr); err == nil || apperr.Code(err) == apperr.EINTERNAL {
			t.Errorf("%+v: %v", nr, err)
		}
	}
	ns, err := e.st.Notifications(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, n := range ns {
		if n.Type == hub.NotifyConfigChanged {
			continue // the catalog published when the store was made
		}
		types = append(types, n.Type)
		if strings.Contains(string(n.Data), "anna") || strings.Contains(string(n.Data), "393331234567") {
			t.Fatalf("personal data in a notification: %s", n.Data)
		}
	}
	if len(types) != 7 || types[0] != hub.NotifyRequestCreated || types[6] != hub.NotifyRequestUpdated {
		t.Fatalf("notifications %v", types)
	}
}

// Working the queue page by page (extending what a page shows, which moves
// those requests months later) must not make the next page skip any.
func TestRequestPagesWhileExtending(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	loc := rome(t)
	c := &clock{now: time.Date(2027, 1, 4, 10, 0, 0, 0, loc)}
	e.st.Now, e.st.Location = c.Now, loc
	var ids []string
	for i := range 6 {
		ids = append(ids, e.create(hub.NewRequest{Kind: hub.RequestAccess, Email: fmt.Sprintf("p%d@example.com", i)}).ID)
		c.now = c.now.Add(24 * time.Hour)
	}
	var seen []string
	f := hub.RequestFilter{Limit: 2}
	for range 10 {
		page, err := e.st.Requests(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			seen = append(seen, r.ID)
			if r.Extended == "" {
				if out := e.act(hub.ActExtend, "many records", r.ID); out[0].Error != "" {
					t.Fatal(out[0].Error)
				}
			}
		}
		if len(page) < f.Limit {
			break
		}
		f.After = page[len(page)-1].Place().String()
	}
	// Each in its place, then each again at its extended place.
	if want := append(slices.Clone(ids), ids...); !slices.Equal(seen, want) {
		t.Errorf("pages showed\n%v\nwant\n%v", seen, want)
	}
	// The older cursor, a bare id, continues from where that request is now.
	page, err := e.st.Requests(ctx, hub.RequestFilter{After: ids[3]})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range page {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, ids[4:]) {
		t.Errorf("after the id %s: %v, want %v", ids[3], got, ids[4:])
	}
	if _, err := e.st.Requests(ctx, hub.RequestFilter{After: "2027-02-30_x_" + ids[0]}); apperr.Code(err) != apperr.EINVALID || !strings.Contains(apperr.Message(err), "after") {
		t.Errorf("a malformed cursor: %v", err)
	}
}

func TestCompleteAccessObjectionRectification(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.st.Now = func() time.Time { return t0.Add(24 * time.Hour) }
	e.choose("fair", 1, t0, mario, map[string]bool{"newsletter": true, "sms": true, "phone": false})
	sid := sid(e, "mario.rossi@esempio.it")

	acc := e.create(hub.NewRequest{Kind: hub.RequestAccess, Email: "MARIO.ROSSI@esempio.it"})
	nobody := e.create(hub.NewRequest{Kind: hub.RequestPortability, Email: "nobody@esempio.it"})
	obj := e.create(hub.NewRequest{Kind: hub.RequestObjection, SubjectID: sid})
	rect := e.create(hub.NewRequest{Kind: hub.RequestRectification, Phone: "+39 333 123 4567", Details: "family name is Rossini"})
	if acc.SubjectID != sid || obj.SubjectID != sid || rect.SubjectID != sid || nobody.SubjectID != "" {
		t.Fatalf("resolved to %q %q %q %q, want %s", acc.SubjectID, obj.SubjectID, rect.SubjectID, nobody.SubjectID, sid)
	}
	if _, err := e.st.RequestExport(ctx, acc.ID); apperr.Code(err) != apperr.ECONFLICT {
		t.Fatalf("export before completion: %v", err)
	}
	out := e.act(hub.ActComplete, "", acc.ID, nobody.ID, obj.ID, rect.ID)
	for _, o := range out {
		if o.Error != "" || o.Request.State != hub.RequestDone || o.Request.ClosedAt == nil {
			t.Fatalf("complete: %+v", o)
		}
	}
	x, err := e.st.RequestExport(ctx, acc.ID)
	// The export is made when downloaded: the objection's withdrawal shows.
	if err != nil || x.Subject.ID != sid || len(x.Records) != 2 || x.Records[0].Subject.Email != mario.Email || x.Records[1].Kind != record.Withdrawn {
		t.Fatalf("export %+v %v", x, err)
	}
	x, err = e.st.RequestExport(ctx, nobody.ID)
	if err != nil || x.Subject != nil || len(x.Records) != 0 {
		t.Fatalf("empty export %+v %v", x, err)
	}
	if _, err := e.st.RequestExport(ctx, obj.ID); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("export of an objection: %v", err)
	}
	for _, p := range []string{"newsletter", "sms", "phone"} {
		if d := e.check("email", "mario.rossi@esempio.it", p); d.Decision != hub.Denied {
			t.Errorf("%s after objection: %+v", p, d)
		}
	}
	if !strings.Contains(out[2].Request.Outcome, "withdrew newsletter, sms") {
		t.Errorf("objection outcome %q", out[2].Request.Outcome)
	}
	sub, err := e.st.Subject(ctx, sid)
	if err != nil || len(sub.Corrections) != 1 || sub.Corrections[0].Correction != "family name is Rossini" || sub.Corrections[0].RequestID != rect.ID {
		t.Fatalf("corrections %+v %v", sub.Corrections, err)
	}
	// The signed records are untouched: the captured name is as captured.
	if sub.Events[0].Subject.FamilyName != "Rossi" {
		t.Fatalf("record rewritten: %+v", sub.Events[0].Subject)
	}
}

// dbBytes returns the database file and its WAL.
func dbBytes(t *testing.T, e *env) []byte {
	t.Helper()
	var all []byte
	for _, p := range []string{e.st.DB().Path, e.st.DB().Path + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestErasureLeavesOnlyATombstone(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	email := "ada.erasable@example.org"
	view, consent := e.capture("ep", 1, "", email)
	v2, c2 := e.capture("ep", 3, consent.HashHex(), "other@example.org") // someone else, later in the same chain
	if res := e.ingest(view, consent, v2, c2); res.Accepted != 4 {
		t.Fatalf("ingest %+v", res)
	}
	// A copy of theirs refused with a broken signature: quarantined, with
	// their sealed payload inside, and linked to nobody.
	bad := e.rec("quarantine-epoch", 1, "", email)
	bad.Sig = append([]byte{bad.Sig[0] ^ 1}, bad.Sig[1:]...)
	if res := e.ingest(bad); len(res.Rejected) != 1 {
		t.Fatalf("ingest broken record %+v", res)
	}
	badEnv, _ := bad.Decode()
	sealed := []byte(base64.StdEncoding.EncodeToString(badEnv.Sealed))
	consentID, viewID := idOf(consent), idOf(view)
	sid := sid(e, email)
	if !bytes.Contains(dbBytes(t, e), sealed) {
		t.Fatal("the quarantined sealed payload is not in the database file before erasure")
	}
	if !bytes.Contains(dbBytes(t, e), []byte(email)) {
		t.Fatal("the email is not in the database file before erasure: the test below proves nothing")
	}
	// A kiosk that is offline holds another consent of theirs, made now.
	lateView, lateConsent := e.capture("offline-epoch", 1, "", email)
	r := e.create(hub.NewRequest{Kind: hub.RequestErasure, Email: email, Details: "please forget me, Ada"})
	if r.SubjectID != sid {
		t.Fatalf("request resolved to %q", r.SubjectID)
	}
	// The same person asks twice; both are completed in one bulk call.
	r2 := e.create(hub.NewRequest{Kind: hub.RequestErasure, Email: email, Channel: "receipt"})
	out := e.act(hub.ActComplete, "", r.ID, r2.ID)
	if out[0].Error != "" || out[1].Error != "" {
		t.Fatalf("complete: %+v", out)
	}
	if !strings.Contains(out[1].Request.Outcome, "already erased") || out[1].Request.Identifier.Value != "" {
		t.Fatalf("second erasure request: %+v", out[1].Request)
	}
	if out[0].Request.Identifier.Value != "" || out[0].Request.Details != "" {
		t.Fatalf("the request kept personal data: %+v", out[0].Request)
	}

	sub, err := e.st.Subject(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if sub.Erasure == nil || sub.Erasure.RequestID != r.ID || len(sub.Erasure.IdentifierHashes) != 1 || len(sub.Identifiers) != 0 {
		t.Fatalf("tombstone %+v identifiers %v", sub.Erasure, sub.Identifiers)
	}
	if len(sub.Events) != 2 || len(sub.History) != 1 || sub.History[0].Purpose != "newsletter" {
		t.Fatalf("tombstone records %+v history %+v", sub.Events, sub.History)
	}
	for _, ev := range sub.Events {
		if ev.Subject != nil || ev.Hash == "" {
			t.Fatalf("erased record %+v", ev)
		}
	}
	if sub.Events[1].Hash != consent.HashHex() {
		t.Fatalf("envelope hash changed: %s", sub.Events[1].Hash)
	}
	// Asked again with the same address: erased, not unknown.
	if _, err := e.st.FindSubject(ctx, hub.Identifier{Kind: "email", Value: email}); apperr.Code(err) != apperr.EGONE || !strings.Contains(apperr.Message(err), sid) {
		t.Fatalf("find erased: %v", err)
	}
	if _, err := e.st.Proof(ctx, consentID); apperr.Code(err) != apperr.EGONE || !strings.Contains(apperr.Message(err), "erased") {
		t.Fatalf("proof of erased: %v", err)
	}
	if _, err := e.st.Receipt(ctx, "tok-"+email); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("receipt of erased: %v", err)
	}
	if _, err := e.st.Proof(ctx, viewID); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("proof of erased view: %v", err)
	}
	// Someone else's bundle from before the erased record stops short of
	// it and says why; theirs after it is whole.
	if b, _ := e.prove(idOf(c2)); b.Record.Payload == nil {
		t.Fatal("the other person's proof lost its payload")
	}
	evs, err := e.st.Events(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if (ev.ID == consentID || ev.ID == viewID) && ev.Subject != nil {
			t.Fatalf("events feed shows %+v", ev)
		}
	}
	raw, _ := json.Marshal(evs)
	if bytes.Contains(raw, []byte(email)) || !bytes.Contains(raw, []byte("other@example.org")) {
		t.Fatal("events feed shows the erased person")
	}
	if got := dbBytes(t, e); bytes.Contains(got, []byte(email)) || bytes.Contains(got, []byte("forget me")) {
		t.Fatal("the email or the request's words are still in the database file")
	}
	if bytes.Contains(dbBytes(t, e), sealed) {
		t.Fatal("the quarantined copy still holds the sealed payload")
	}
	// The offline kiosk's consent, captured before the erasure, arrives
	// after it: it joins the tombstone, erased, and makes no new subject.
	if res := e.ingest(lateView, lateConsent); res.Accepted != 2 {
		t.Fatalf("ingest late %+v", res)
	}
	if _, err := e.st.FindSubject(ctx, hub.Identifier{Kind: "email", Value: email}); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("a record from before the erasure brought the person back: %v", err)
	}
	if sub, err := e.st.Subject(ctx, sid); err != nil || len(sub.Events) != 4 || sub.Events[3].Subject != nil {
		t.Fatalf("late record in the tombstone: %+v %v", sub, err)
	}
	if _, err := e.st.Receipt(ctx, "tok-"+email); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("receipt of the late record: %v", err)
	}
	if got := dbBytes(t, e); bytes.Contains(got, []byte(email)) {
		t.Fatal("the late record's email is in the database file")
	}
	// A late copy that is refused (broken signature) is kept as evidence
	// without its sealed payload: the hub could open it.
	lateBad := e.rec("offline-epoch-2", 1, "", email)
	lateBad.Sig = append([]byte{lateBad.Sig[0] ^ 1}, lateBad.Sig[1:]...)
	if res := e.ingest(lateBad); len(res.Rejected) != 1 {
		t.Fatalf("ingest late broken record %+v", res)
	}
	lateBadEnv, _ := lateBad.Decode()
	if bytes.Contains(dbBytes(t, e), []byte(base64.StdEncoding.EncodeToString(lateBadEnv.Sealed))) {
		t.Fatal("a refused copy arriving after the erasure brought the sealed payload back")
	}
	// Erasing twice is refused; a later consent starts a new subject.
	if _, err := e.st.Erase(ctx, sid, hub.ErasedByRequest); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("erase twice: %v", err)
	}
	v3, c3 := e.capture("ep", 5, c2.HashHex(), email)
	if res := e.ingest(v3, c3); res.Accepted != 2 {
		t.Fatalf("ingest later %+v", res)
	}
	again := sid2(t, e, email)
	if again == sid {
		t.Fatal("a later consent joined the erased subject")
	}
	later, err := e.st.Subject(ctx, again)
	if err != nil || later.Erasure != nil || len(later.Events) != 2 {
		t.Fatalf("new history %+v %v", later, err)
	}
	// The hub chain state is intact: the device's stream is whole.
	d, err := e.st.Device(ctx, e.dev.ID)
	if err != nil || d.Chain != hub.ChainOK || d.Received != 8 {
		t.Fatalf("device chain %s received %d %v", d.Chain, d.Received, err)
	}
	ns, _ := e.st.Notifications(ctx, 0, 100)
	found := false
	for _, n := range ns {
		found = found || n.Type == hub.NotifySubjectErased && n.SubjectID == sid
	}
	if !found {
		t.Fatal("no subject.erased notification")
	}
}

func sid2(t *testing.T, e *env, email string) string {
	t.Helper()
	id, err := e.st.FindSubject(context.Background(), hub.Identifier{Kind: "email", Value: email})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRetentionSweep(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	c := &clock{now: t0}
	e.st.Now = c.Now
	keep := record.Subject{GivenName: "Keep", FamilyName: "Me", Email: "keep@example.com"}
	gone := record.Subject{GivenName: "Old", FamilyName: "Timer", Email: "old@example.com"}
	asks := record.Subject{GivenName: "Asks", FamilyName: "Something", Email: "asks@example.com"}
	e.choose("fair", 1, t0, gone, map[string]bool{"newsletter": true, "profiling": true})
	e.choose("fair", 2, t0, asks, map[string]bool{"newsletter": true})
	// 740 days later: every grant from t0 is past its 730 (or 365) days.
	c.now = t0.Add(740 * 24 * time.Hour)
	e.choose("fair", 3, c.now.Add(-time.Hour), keep, map[string]bool{"newsletter": true})
	e.create(hub.NewRequest{Kind: hub.RequestAccess, Email: "asks@example.com"})
	goneID, asksID := sid(e, "old@example.com"), sid(e, "asks@example.com")

	dry, err := e.st.SweepRetention(ctx, true, "cli")
	if err != nil {
		t.Fatal(err)
	}
	if dry.ID != 0 || dry.Expired != 3 || dry.Anonymised != 1 || dry.Subjects[0] != goneID {
		t.Fatalf("dry run %+v", dry)
	}
	if runs, _ := e.st.RetentionRuns(ctx, 10); len(runs) != 0 {
		t.Fatalf("a dry run was recorded: %+v", runs)
	}
	if _, err := e.st.FindSubject(ctx, hub.Identifier{Kind: "email", Value: "old@example.com"}); err != nil {
		t.Fatalf("a dry run changed data: %v", err)
	}
	run, err := e.st.SweepRetention(ctx, false, "schedule")
	if err != nil {
		t.Fatal(err)
	}
	if run.ID == 0 || run.Expired != 3 || run.Anonymised != 1 {
		t.Fatalf("run %+v", run)
	}
	if _, err := e.st.FindSubject(ctx, hub.Identifier{Kind: "email", Value: "old@example.com"}); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("after the sweep: %v", err)
	}
	sub, err := e.st.Subject(ctx, goneID)
	if err != nil || sub.Erasure == nil || sub.Erasure.Reason != hub.ErasedByRetention {
		t.Fatalf("tombstone %+v %v", sub, err)
	}
	for _, who := range []string{"keep@example.com", "asks@example.com"} {
		if _, err := e.st.FindSubject(ctx, hub.Identifier{Kind: "email", Value: who}); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
	}
	if got := dbBytes(t, e); bytes.Contains(got, []byte("old@example.com")) {
		t.Fatal("the anonymised email is still in the database file")
	}
	again, err := e.st.SweepRetention(ctx, false, "schedule")
	if err != nil || again.Expired != 0 || again.Anonymised != 0 {
		t.Fatalf("second run %+v %v", again, err)
	}
	runs, err := e.st.RetentionRuns(ctx, 10)
	if err != nil || len(runs) != 2 || runs[0].ID != again.ID || runs[1].Anonymised != 1 {
		t.Fatalf("runs %+v %v", runs, err)
	}
	ns, _ := e.st.Notifications(ctx, 0, 1000)
	expired := 0
	for _, n := range ns {
		if n.Type == hub.NotifyConsentChanged && strings.Contains(string(n.Data), `"decision":"expired"`) {
			expired++
		}
	}
	if expired != 3 {
		t.Fatalf("%d consent.changed expired notifications, want 3", expired)
	}
	// The one with an open request is kept until it closes.
	if sub, err := e.st.Subject(ctx, asksID); err != nil || sub.Erasure != nil || len(sub.Identifiers) != 1 {
		t.Fatalf("subject with an open request %+v %v", sub, err)
	}
}

// The sweep reads whom to anonymise, then erases them one transaction at a
// time. Whatever happens in between is honoured: someone who consents again
// keeps their data and their consent (and no stale "expired" goes out), and
// someone merged meanwhile into a person who consents takes nobody with them.
func TestRetentionSweepRereadsBeforeActing(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	c := &clock{now: t0}
	e.st.Now = c.Now
	again := record.Subject{GivenName: "Comes", FamilyName: "Back", Email: "back@example.com"}
	merged := record.Subject{GivenName: "Old", FamilyName: "Phone", Email: "oldphone@example.com", Phone: "+39 333 111 2222"}
	active := record.Subject{GivenName: "Active", FamilyName: "Person", Email: "active@example.com"}
	gone := record.Subject{GivenName: "Long", FamilyName: "Gone", Email: "gone@example.com"}
	e.choose("fair", 1, t0, again, map[string]bool{"newsletter": true})
	e.choose("fair", 2, t0, merged, map[string]bool{"newsletter": true})
	e.choose("fair", 3, t0, gone, map[string]bool{"newsletter": true})
	c.now = t0.Add(740 * 24 * time.Hour)
	e.choose("fair", 4, c.now.Add(-time.Hour), active, map[string]bool{"newsletter": true})
	mergedID, activeID, goneID := sid(e, merged.Email), sid(e, active.Email), sid(e, gone.Email)

	defer sqlite.SetRetentionBetween(func() {
		e.choose("fair", 5, c.now, again, map[string]bool{"newsletter": true})
		withPhone := active
		withPhone.Phone = merged.Phone // the email's subject wins: the old one joins the active person
		e.choose("fair", 6, c.now, withPhone, map[string]bool{"newsletter": true})
	})()
	run, err := e.st.SweepRetention(ctx, false, "schedule")
	if err != nil {
		t.Fatal(err)
	}
	if run.Anonymised != 1 || run.Subjects[0] != goneID || run.Expired != 1 || run.Expiries[0].SubjectID != run.Subjects[0] {
		t.Errorf("run anonymised %v, expired %+v; want only the long-gone person", run.Subjects, run.Expiries)
	}
	for _, email := range []string{again.Email, active.Email, merged.Email} {
		if d := e.check("email", email, "newsletter"); d.Decision != hub.Allowed {
			t.Errorf("%s after the sweep: %+v, want allowed", email, d)
		}
	}
	if root := sid(e, merged.Email); root != activeID {
		t.Errorf("the merged person's email leads to %s, want the active person %s (merged from %s)", root, activeID, mergedID)
	}
	ns, err := e.st.Notifications(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		var c sqlite.ConsentChange
		json.Unmarshal(n.Data, &c)
		if c.Decision == hub.Expired && n.SubjectID != goneID {
			t.Errorf("an expiry went out for someone who consented meanwhile: %s", n.Data)
		}
	}
}

// Receivers heard "expired" from the sweep; a new grant by the same person
// is news to them (expired → allowed), though the state was a grant before
// and is one again.
func TestGrantAfterAnnouncedExpiry(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	c := &clock{now: t0}
	e.st.Now = c.Now
	p := record.Subject{GivenName: "Re", FamilyName: "Grant", Email: "regrant@example.com"}
	e.choose("fair", 1, t0, p, map[string]bool{"newsletter": true})
	c.now = t0.Add(740 * 24 * time.Hour)
	e.choose("fair", 2, c.now.Add(-time.Hour), p, map[string]bool{"sms": false}) // recent: not anonymised
	if run, err := e.st.SweepRetention(ctx, false, "schedule"); err != nil || run.Expired != 1 {
		t.Fatalf("sweep %+v %v", run, err)
	}
	e.choose("fair", 3, c.now, p, map[string]bool{"newsletter": true})
	var last sqlite.ConsentChange
	ns, err := e.st.Notifications(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		var ch sqlite.ConsentChange
		if n.Type == hub.NotifyConsentChanged && json.Unmarshal(n.Data, &ch) == nil && ch.Purpose == "newsletter" {
			last = ch
		}
	}
	if last.Decision != hub.Allowed || last.Previous != hub.Expired {
		t.Errorf("the feed's last word on the newsletter: %s after %s; want allowed after expired", last.Decision, last.Previous)
	}
	if d := e.check("email", p.Email, "newsletter"); d.Decision != hub.Allowed {
		t.Errorf("check %+v", d)
	}
}
