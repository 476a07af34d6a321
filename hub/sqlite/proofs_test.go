package sqlite_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/proof"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
)

// capture signs a notice view and its consent at seq and seq+1 of epoch,
// as a kiosk does, with a payload holding a handwritten signature and the
// receipt token "tok-"+email.
func (e *env) capture(epoch string, seq uint64, prev, email string) (view, consent record.Signed) {
	e.t.Helper()
	cat, _ := fixtures.Catalog()
	n, _ := cat.Notice("privacy-it", 1)
	var pic bytes.Buffer
	png.Encode(&pic, image.NewGray(image.Rect(0, 0, 6, 3)))
	payload, _ := json.Marshal(record.Payload{Subject: record.Subject{GivenName: "Ada", FamilyName: "Lovelace", Email: email},
		Signature: &record.Handwriting{PNG: pic.Bytes(), Points: [][]record.Point{{{X: 1, Y: 1}, {X: 5, Y: 2, T: 30}}}},
		Receipt:   "tok-" + email, Salt: []byte{7}})
	box, err := seal.Seal(&e.keys.SealPub, payload)
	if err != nil {
		e.t.Fatal(err)
	}
	viewID, _ := uuid.NewV7()
	consentID, _ := uuid.NewV7()
	now := time.Now()
	base := record.Envelope{Schema: record.Schema, Collector: e.dev.ID, Epoch: epoch, CapturedAt: now.Format(time.RFC3339Nano),
		HLC: hlc.New(now.UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it", Controller: record.Controller(cat.Controller),
		Notice: record.NoticeRef{ID: n.ID, Version: n.Version, SHA256: n.SHA256, ViewedAt: now.Format(time.RFC3339Nano)}}
	v := base
	v.ID, v.Kind, v.Ref, v.Seq, v.Prev = viewID.String(), record.NoticeViewed, consentID.String(), seq, prev
	view, err = record.Sign(&v, e.priv)
	if err != nil {
		e.t.Fatal(err)
	}
	c := base
	c.ID, c.Kind, c.Seq, c.Prev = consentID.String(), record.Given, seq+1, view.HashHex()
	c.Purposes = []record.Choice{{Purpose: "newsletter", DPV: "dpv:DirectMarketing", Granted: true, LegalBasis: "consent", RetentionDays: 730}}
	c.PayloadSHA256, c.SignatureSHA256, c.Sealed = record.PayloadHash(payload), record.SHA256Hex(pic.Bytes()), box
	consent, err = record.Sign(&c, e.priv)
	if err != nil {
		e.t.Fatal(err)
	}
	return view, consent
}

func idOf(s record.Signed) string { env, _ := s.Decode(); return env.ID }

// prove gathers, builds and verifies the bundle of id; it must be valid.
func (e *env) prove(id string) (*proof.Bundle, string) {
	e.t.Helper()
	b, err := e.st.Proof(context.Background(), id)
	if err != nil {
		e.t.Fatalf("proof of %s: %v", id, err)
	}
	z, err := proof.Build(b, e.keys.SignPriv)
	if err != nil {
		e.t.Fatal(err)
	}
	rep := proof.Verify(z)
	var text strings.Builder
	rep.WriteText(&text)
	if !rep.Valid {
		e.t.Fatalf("bundle of %s does not verify:\n%s", id, text.String())
	}
	return b, text.String()
}

func TestProofOfConsent(t *testing.T) {
	e := mustOpen(t)
	view, consent := e.capture("e1", 1, "", "a@x.it")
	v2, c2 := e.capture("e1", 3, consent.HashHex(), "b@x.it")
	e.ingest(view, consent, v2, c2)

	b, report := e.prove(idOf(consent))
	if !bytes.Equal(b.Record.Signed.Envelope, consent.Envelope) || b.Record.Payload == nil {
		t.Fatal("the bundle does not hold the consent and its payload")
	}
	if len(b.Related) != 1 || idOf(b.Related[0].Signed) != idOf(view) {
		t.Fatalf("related %d records, want the notice view", len(b.Related))
	}
	if len(b.Chain.Records) != 2 || b.Chain.HeadSeq != 4 || b.Chain.HeadSHA256 != c2.HashHex() || b.Chain.Note != "" {
		t.Fatalf("chain %d records to head %d (%q)", len(b.Chain.Records), b.Chain.HeadSeq, b.Chain.Note)
	}
	for _, r := range b.Chain.Records {
		if r.Payload != nil {
			t.Fatal("a chain record carries another visitor's payload")
		}
	}
	if len(b.Devices) != 1 || !bytes.Contains(b.Devices[0].Enrollment, []byte(e.dev.ID)) || len(b.Notices) != 1 || len(b.Touchpoints) != 1 {
		t.Fatalf("devices %d, notices %d, touchpoints %d", len(b.Devices), len(b.Notices), len(b.Touchpoints))
	}
	if !strings.Contains(report, "reaches the hub's acknowledged head") {
		t.Fatalf("report:\n%s", report)
	}
	// The notice view's own bundle brings the consent with it.
	b, _ = e.prove(idOf(view))
	if len(b.Related) != 1 || idOf(b.Related[0].Signed) != idOf(consent) || b.Related[0].Payload == nil {
		t.Fatal("the notice view's bundle lacks its consent")
	}
}

// A withdrawal from the receipt page is signed by the hub: its bundle
// verifies with the hub as the device, and the consent's bundle lists it.
func TestProofOfHubWithdrawal(t *testing.T) {
	ctx := context.Background()
	e := mustOpen(t)
	view, consent := e.capture("e1", 1, "", "a@x.it")
	e.ingest(view, consent)
	if _, err := e.st.Withdraw(ctx, "tok-a@x.it", []string{"newsletter"}, "receipt-page"); err != nil {
		t.Fatal(err)
	}
	evs, _ := e.st.Events(ctx, 0, 10)
	w := evs[len(evs)-1]
	if w.Collector != sqlite.HubCollector {
		t.Fatalf("last event %+v", w)
	}
	b, report := e.prove(w.ID)
	if len(b.Related) != 2 || len(b.Devices) != 1 || b.Chain.HeadSeq != 1 {
		t.Fatalf("withdrawal bundle: %d related, %d devices, head %d", len(b.Related), len(b.Devices), b.Chain.HeadSeq)
	}
	if !strings.Contains(report, "of hub, seq 1; hub signature verifies") {
		t.Fatalf("report:\n%s", report)
	}
	b, _ = e.prove(idOf(consent))
	if len(b.Related) != 2 {
		t.Fatalf("consent bundle has %d related records, want the view and the withdrawal", len(b.Related))
	}
}

// A conflicting copy is noted, and the accepted record is what is proved;
// a quarantined record and an unknown id have no proof, and say why.
func TestProofConflictQuarantineUnknown(t *testing.T) {
	ctx := context.Background()
	e := mustOpen(t)
	view, consent := e.capture("e1", 1, "", "a@x.it")
	e.ingest(view, consent)
	var env record.Envelope
	json.Unmarshal(consent.Envelope, &env)
	env.Operator = "mallory"
	altered, _ := record.Sign(&env, e.priv)
	if res := e.ingest(altered); res.Conflicts != 1 {
		t.Fatalf("%+v", res)
	}
	b, _ := e.prove(env.ID)
	if !bytes.Equal(b.Record.Signed.Envelope, consent.Envelope) || len(b.Conflicts) != 1 || b.Conflicts[0].SHA256 != altered.HashHex() {
		t.Fatalf("conflicts %+v", b.Conflicts)
	}

	v2, c2 := e.capture("e1", 3, consent.HashHex(), "b@x.it")
	c2.Sig[0] ^= 1
	e.ingest(v2, c2)
	_, err := e.st.Proof(ctx, idOf(c2))
	if apperr.Code(err) != apperr.ENOTFOUND || !strings.Contains(apperr.Message(err), "quarantined (invalid: device signature does not verify)") {
		t.Fatalf("quarantined: %v", err)
	}
	// The view before it stops its chain there, and says why.
	b, _ = e.prove(idOf(v2))
	if b.Chain.Note != "the record at seq 4 was refused by the hub (quarantined, invalid: device signature does not verify)" {
		t.Fatalf("note %q", b.Chain.Note)
	}
	id, _ := uuid.NewV7()
	if _, err := e.st.Proof(ctx, id.String()); apperr.Code(err) != apperr.ENOTFOUND || !strings.Contains(apperr.Message(err), "no record") {
		t.Fatalf("unknown: %v", err)
	}
}

// The chain stops at a gap, at a fork and at the limit, and says why;
// each bundle still verifies.
func TestProofChainStops(t *testing.T) {
	e := mustOpen(t)
	v1, c1 := e.capture("e1", 1, "", "a@x.it")
	_, c2 := e.capture("e1", 3, c1.HashHex(), "b@x.it") // seq 3 (its view) never arrives
	e.ingest(v1, c1, c2)
	b, _ := e.prove(idOf(v1))
	if len(b.Chain.Records) != 1 || b.Chain.Note != "seq 3 has not reached the hub (a gap in the stream)" {
		t.Fatalf("gap: %d records, note %q", len(b.Chain.Records), b.Chain.Note)
	}

	f := mustOpen(t)
	v1, c1 = f.capture("e1", 1, "", "a@x.it")
	_, fork := f.capture("e1", 1, "", "c@x.it") // a restored copy signs seq 2 again
	f.ingest(v1, c1, fork)
	b, _ = f.prove(idOf(v1))
	if len(b.Chain.Records) != 1 || idOf(b.Chain.Records[0].Signed) != idOf(c1) || !strings.Contains(b.Chain.Note, "the stream forked") {
		t.Fatalf("fork: %d records, note %q", len(b.Chain.Records), b.Chain.Note)
	}

	g := mustOpen(t)
	defer sqlite.SetProofChainMax(2)()
	v1, c1 = g.capture("e1", 1, "", "a@x.it")
	v2, c2 := g.capture("e1", 3, c1.HashHex(), "b@x.it")
	g.ingest(v1, c1, v2, c2)
	b, _ = g.prove(idOf(v1))
	if len(b.Chain.Records) != 2 || b.Chain.Note != "the bundle holds at most 2 later records; the chain goes on at the hub" {
		t.Fatalf("limit: %d records, note %q", len(b.Chain.Records), b.Chain.Note)
	}
}
