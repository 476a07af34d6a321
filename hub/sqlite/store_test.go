package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
)

type env struct {
	t     *testing.T
	st    *sqlite.Store
	keys  *hub.Keys
	dev   *hub.Device
	token string
	priv  ed25519.PrivateKey
	v     *hub.Verifier
}

func mustOpen(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	indexChecks(t, st)
	cat, _ := fixtures.Catalog()
	if _, err := st.Publish(ctx, cat); err != nil {
		t.Fatal(err)
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	en, err := st.CreateEnrollment(ctx, "Booth", "fair-milano-b12", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	got, err := st.Enroll(ctx, en.Code, pub, "test", "")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, keys: keys, dev: got.Device, token: got.Token, priv: priv}
	e.v = &hub.Verifier{Device: got.Device, Keys: keys, SkewBound: 5 * time.Minute, Now: time.Now}
	return e
}

// suggestions works the suggestion queue off, as the hub's worker does
// after ingest, and lists the suggestions awaiting review.
func (e *env) suggestions(limit int) ([]hub.Suggested, error) {
	e.t.Helper()
	for {
		n, err := e.st.Suggest(context.Background(), 2)
		if err != nil {
			return nil, err
		}
		if n < 2 {
			break
		}
	}
	return e.st.Suggestions(context.Background(), limit)
}

// indexChecks turns the in-memory check index on and waits for it, so that
// every test's checks go through it (and e.check compares it with SQLite).
func indexChecks(t *testing.T, st *sqlite.Store) {
	t.Helper()
	st.ServeChecks(slog.New(slog.DiscardHandler), true)
	deadline := time.Now().Add(10 * time.Second)
	for !st.ChecksFromMemory() {
		if time.Now().After(deadline) {
			t.Fatal("check index never ready")
		}
		time.Sleep(time.Millisecond)
	}
}

// rec makes a signed consent record at seq with the given prev hash.
func (e *env) rec(epoch string, seq uint64, prev, email string) record.Signed {
	payload, _ := json.Marshal(record.Payload{Subject: record.Subject{GivenName: "A", FamilyName: "B", Email: email}, Receipt: "tok-" + email, Salt: []byte{1}})
	box, err := seal.Seal(&e.keys.SealPub, payload)
	if err != nil {
		e.t.Fatal(err)
	}
	id, _ := uuid.NewV7()
	s, err := record.Sign(&record.Envelope{Schema: 1, ID: id.String(), Kind: record.Given, Collector: e.dev.ID, Epoch: epoch, Seq: seq, Prev: prev,
		CapturedAt: time.Now().Format(time.RFC3339Nano), HLC: hlc.New(time.Now().UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
		Notice:   record.NoticeRef{ID: "privacy-it", Version: 1},
		Purposes: []record.Choice{{Purpose: "newsletter", Granted: true}}, PayloadSHA256: record.PayloadHash(payload), Sealed: box}, e.priv)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (e *env) ingest(recs ...record.Signed) *hub.IngestResult {
	e.t.Helper()
	in := make([]hub.Incoming, len(recs))
	for i, r := range recs {
		in[i] = e.v.Verify(r)
	}
	res, err := e.st.Ingest(context.Background(), e.dev.ID, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func TestIngestExactlyOnce(t *testing.T) {
	e := mustOpen(t)
	r1 := e.rec("e1", 1, "", "a@x.it")
	r2 := e.rec("e1", 2, r1.HashHex(), "b@x.it")
	if res := e.ingest(r1, r2); res.Accepted != 2 || res.Positions["e1"].Through != 2 || res.Positions["e1"].Hash != r2.HashHex() {
		t.Fatalf("first: %+v", res)
	}
	if res := e.ingest(r1, r2); res.Accepted != 0 || res.Duplicates != 2 {
		t.Fatalf("replay: %+v", res)
	}
	c, _ := e.st.Counts(context.Background())
	if c.Events != 2 {
		t.Fatalf("%d events after a replay", c.Events)
	}
	d, _ := e.st.Device(context.Background(), e.dev.ID)
	if d.Chain != hub.ChainOK || d.Received != 2 || d.AckedThrough != 2 {
		t.Fatalf("device: %+v", d)
	}
	if r, err := e.st.Receipt(context.Background(), "tok-a@x.it"); err != nil || r.Email != "a•••@x.it" {
		t.Fatalf("receipt: %+v %v", r, err)
	}
}

func TestIngestConflictForkGap(t *testing.T) {
	ctx := context.Background()
	e := mustOpen(t)
	r1 := e.rec("e1", 1, "", "a@x.it")
	e.ingest(r1)

	// Same id, different content: evidence, not an overwrite.
	var env1 record.Envelope
	json.Unmarshal(r1.Envelope, &env1)
	env1.Operator = "mallory"
	altered, _ := record.Sign(&env1, e.priv)
	if res := e.ingest(altered); res.Conflicts != 1 || res.Accepted != 0 {
		t.Fatalf("conflict: %+v", res)
	}
	// Another record at a taken position: a fork, kept.
	fork := e.rec("e1", 1, "", "c@x.it")
	if res := e.ingest(fork); res.Forks != 1 || res.Accepted != 1 {
		t.Fatalf("fork: %+v", res)
	}
	// A jump ahead opens a gap, a late arrival closes it.
	r3 := e.rec("e1", 3, "", "d@x.it")
	e.ingest(r3)
	d, _ := e.st.Device(ctx, e.dev.ID)
	if d.Chain != hub.ChainFork || d.Forks != 1 || d.Conflicts != 1 || len(d.Gaps) != 1 || d.Gaps[0] != (hub.Gap{Epoch: d.Gaps[0].Epoch, From: 2, To: 2}) || d.Gaps[0].Epoch == "" || len(d.ForkList) != 1 || len(d.ConflictList) != 1 {
		t.Fatalf("device: %+v", d)
	}
	e.ingest(e.rec("e1", 2, "", "e@x.it"))
	d, _ = e.st.Device(ctx, e.dev.ID)
	if len(d.Gaps) != 0 {
		t.Fatalf("gap not closed: %+v", d.Gaps)
	}
	evs, _ := e.st.Events(ctx, 0, 100)
	if len(evs) != 4 {
		t.Fatalf("%d events", len(evs))
	}
	if evs[1].Flags[0] != hub.FlagFork {
		t.Fatalf("fork not flagged: %v", evs[1].Flags)
	}
}

func TestQuarantineDoesNotBlock(t *testing.T) {
	e := mustOpen(t)
	good1 := e.rec("e1", 1, "", "a@x.it")
	forged := e.rec("e1", 2, good1.HashHex(), "b@x.it")
	forged.Sig[0] ^= 1
	good3 := e.rec("e1", 3, forged.HashHex(), "c@x.it")
	res := e.ingest(good1, forged, good3)
	if res.Accepted != 2 || len(res.Rejected) != 1 || res.Rejected[0].Seq != 2 || res.Rejected[0].Reason != "device signature does not verify" {
		t.Fatalf("%+v", res)
	}
	if res.Positions["e1"].Through != 3 {
		t.Fatalf("position %+v", res.Positions)
	}
	q, _ := e.st.Quarantine(context.Background(), 10)
	if len(q) != 1 || q[0].Code != apperr.EINVALID {
		t.Fatalf("quarantine %+v", q)
	}
}

// A withdrawal that names its consent with "Ref" is quarantined: encoding/json
// would read it as "ref" and the hub would apply it, while the queries that
// find withdrawals with json_extract(envelope, '$.ref') (receipt page, proof
// bundles, erasure) would not see it.
func TestIngestRefusesCaseFoldedKey(t *testing.T) {
	e := mustOpen(t)
	r1 := e.rec("e1", 1, "", "a@x.it")
	consent, _ := r1.Decode()
	id, _ := uuid.NewV7()
	w := &record.Envelope{Schema: 1, ID: id.String(), Kind: record.Withdrawn, Collector: e.dev.ID, Epoch: "e1", Seq: 2, Prev: r1.HashHex(),
		CapturedAt: time.Now().Format(time.RFC3339Nano), HLC: hlc.New(time.Now().UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
		Notice: consent.Notice, Purposes: []record.Choice{{Purpose: "newsletter"}}, Ref: consent.ID}
	b, _ := w.Marshal()
	b = []byte(strings.Replace(string(b), `"ref"`, `"Ref"`, 1))
	withdrawal := record.Signed{Envelope: b, Sig: ed25519.Sign(e.priv, append([]byte("attesta/record/v1\n"), b...))}
	if err := withdrawal.Verify(e.dev.SignKey); err != nil {
		t.Fatal(err)
	}
	res := e.ingest(r1, withdrawal)
	if res.Accepted != 1 || len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0].Reason, `unknown key "Ref"`) {
		t.Fatalf("%+v", res)
	}
	r, err := e.st.Receipt(context.Background(), "tok-a@x.it")
	if err != nil || !r.Purposes[0].Granted || r.Purposes[0].WithdrawnAt != nil {
		t.Fatalf("receipt %+v %v", r, err)
	}
}

// A signed envelope followed by a stray "}" is quarantined; SQLite calls it
// malformed JSON, so storing it failed the whole batch, again on every retry.
func TestIngestRefusesTrailingCloser(t *testing.T) {
	e := mustOpen(t)
	r1 := e.rec("e1", 1, "", "a@x.it")
	b := append(append([]byte(nil), e.rec("e1", 2, r1.HashHex(), "b@x.it").Envelope...), '}')
	bad := record.Signed{Envelope: b, Sig: ed25519.Sign(e.priv, append([]byte("attesta/record/v1\n"), b...))}
	if err := bad.Verify(e.dev.SignKey); err != nil {
		t.Fatal(err)
	}
	in := []hub.Incoming{e.v.Verify(r1), e.v.Verify(bad)}
	res, err := e.st.Ingest(context.Background(), e.dev.ID, in)
	if err != nil || res.Accepted != 1 || len(res.Rejected) != 1 || res.Rejected[0].Reason != "malformed envelope: trailing data" {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestEnrollmentRefusals(t *testing.T) {
	ctx := context.Background()
	e := mustOpen(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := e.st.Enroll(ctx, "NOPE-NOPE-NOPE-NOPE", pub, "", ""); apperr.Code(err) != apperr.ENOTFOUND {
		t.Fatalf("unknown code: %v", err)
	}
	en, _ := e.st.CreateEnrollment(ctx, "Booth", "fair-milano-b12", time.Hour)
	if _, err := e.st.Enroll(ctx, en.Code, pub, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Enroll(ctx, en.Code, pub, "", ""); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("used code: %v", err)
	}
	e.st.Now = func() time.Time { return time.Now().Add(-25 * time.Hour) }
	old, _ := e.st.CreateEnrollment(ctx, "Booth", "fair-milano-b12", 24*time.Hour)
	e.st.Now = time.Now
	if _, err := e.st.Enroll(ctx, old.Code, pub, "", ""); apperr.Code(err) != apperr.EGONE {
		t.Fatalf("expired code: %v", err)
	}
	if _, err := e.st.CreateEnrollment(ctx, "Booth", "receipt-page", time.Hour); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("rtp touchpoint: %v", err)
	}
	if err := e.st.RevokeDevice(ctx, e.dev.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.DeviceByToken(ctx, e.token); apperr.Code(err) != apperr.EFORBIDDEN {
		t.Fatalf("revoked: %v", err)
	}
	if _, err := e.st.DeviceByToken(ctx, "atd_nope"); apperr.Code(err) != apperr.EUNAUTHORIZED {
		t.Fatalf("unknown: %v", err)
	}
}

func TestWithdrawFromReceipt(t *testing.T) {
	ctx := context.Background()
	e := mustOpen(t)
	e.ingest(e.rec("e1", 1, "", "a@x.it"))
	if _, err := e.st.Withdraw(ctx, "tok-a@x.it", []string{"sms"}, "receipt-page"); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("withdrawing a purpose never granted: %v", err)
	}
	r, err := e.st.Withdraw(ctx, "tok-a@x.it", []string{"newsletter"}, "receipt-page")
	if err != nil || r.Purposes[0].WithdrawnAt == nil {
		t.Fatalf("%+v %v", r, err)
	}
	evs, _ := e.st.Events(ctx, 0, 10)
	last := evs[len(evs)-1]
	if last.Kind != record.Withdrawn || last.Ref != r.ConsentID || last.Collector != sqlite.HubCollector {
		t.Fatalf("withdrawal event %+v", last)
	}
	if _, err := e.st.Receipt(ctx, "tok-unknown"); apperr.Code(err) != apperr.ENOTFOUND {
		t.Fatal(err)
	}
}

// One batch holding a record twice, an altered copy, a broken link and a
// fork ends as the same records sent one batch at a time would: ingest
// looks ids up once per batch and links records to positions the batch
// itself wrote without a query.
func TestIngestWithinOneBatch(t *testing.T) {
	ctx := context.Background()
	e := mustOpen(t)
	r1 := e.rec("e1", 1, "", "a@x.it")
	r2 := e.rec("e1", 2, r1.HashHex(), "b@x.it")
	var env1 record.Envelope
	json.Unmarshal(r1.Envelope, &env1)
	env1.Operator = "mallory"
	altered, _ := record.Sign(&env1, e.priv)
	broken := e.rec("e1", 3, strings.Repeat("0", 64), "c@x.it")
	r4 := e.rec("e1", 4, broken.HashHex(), "d@x.it")
	fork := e.rec("e1", 2, r1.HashHex(), "f@x.it")
	res := e.ingest(r1, r2, r1, altered, broken, r4, fork)
	if res.Accepted != 5 || res.Duplicates != 1 || res.Conflicts != 1 || res.Forks != 1 || res.Positions["e1"].Through != 4 {
		t.Fatalf("%+v", res)
	}
	evs, err := e.st.Events(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	flags := map[string]string{}
	for _, ev := range evs {
		flags[ev.ID] = strings.Join(ev.Flags, ",")
	}
	id := func(s record.Signed) string { v, _ := s.Decode(); return v.ID }
	want := map[string]string{id(r1): "", id(r2): "", id(broken): hub.FlagChainBreak, id(r4): "", id(fork): hub.FlagFork}
	if len(flags) != len(want) {
		t.Fatalf("events %v, want %v", flags, want)
	}
	for k, v := range want {
		if flags[k] != v {
			t.Errorf("%s flagged %q, want %q", k, flags[k], v)
		}
	}
	d, _ := e.st.Device(ctx, e.dev.ID)
	if d.Conflicts != 1 || d.Forks != 1 || len(d.Gaps) != 0 {
		t.Fatalf("device: %+v", d)
	}
}
