package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/wire"
)

// Bad input, each kind answered clearly, logged and counted, while an
// honest collector keeps syncing beside it: a forged signature, an envelope
// altered after signing, a sealed payload that does not match its hash, a
// record claiming another collector, a record replayed from another device
// and a malformed record are quarantined from one batch whose good records
// are accepted; a malformed frame gets an error frame and a close; a frame
// over the read limit closes the connection and the hub serves on; unknown
// and revoked devices are refused before the upgrade.
func TestBadInputIsRefusedAndTheRestSyncs(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Honest booth"))
	c.Start()
	honest := c.CaptureN(20, 2)

	a := EnrollFake(t, h.URL(), h.EnrollCode("Fake A"))
	b := EnrollFake(t, h.URL(), h.EnrollCode("Fake B"))
	replayed := b.Next()
	if ack := b.Session(h.URL()).Push(replayed); ack.Accepted != 1 {
		t.Fatalf("B's own record: ack %+v", ack)
	}

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	good1 := a.Next()
	forged := a.Append(a.Envelope())
	forged.Sig = mustSign(t, forged.Envelope, otherKey)
	altered := a.Append(a.Envelope())
	altered.Envelope = bytes.Replace(altered.Envelope, []byte(`"granted":true`), []byte(`"granted":false`), 1)
	swapped := a.Envelope()
	swapped.Sealed = a.Envelope().Sealed // another visitor's sealed payload under this record's hash
	payload := a.Append(swapped)
	claim := a.Envelope()
	claim.Collector = b.ID
	claiming := a.Sign(claim)
	malformed := record.Signed{Envelope: json.RawMessage(`{"schema":1,"id":"x","extra":true}`), Sig: make([]byte, 64)}
	good2 := a.Next()

	sa := a.Session(h.URL())
	ack := sa.Push(good1, forged, altered, payload, claiming, replayed, malformed, good2)
	if ack.Accepted != 2 || len(ack.Rejected) != 6 {
		t.Fatalf("ack %+v: want the 2 good records accepted and 6 rejected", ack)
	}
	wantReasons := []struct{ code, reason string }{
		{"invalid", "device signature does not verify"},
		{"invalid", "device signature does not verify"},
		{"invalid", "sealed payload does not match payload_sha256"},
		{"forbidden", "record claims collector " + `"` + b.ID + `"`},
		{"forbidden", "record claims collector " + `"` + b.ID + `"`},
		{"invalid", "malformed envelope"},
	}
	for i, w := range wantReasons {
		r := ack.Rejected[i]
		if r.Code != w.code || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("rejection %d: %s %q, want %s %q", i, r.Code, r.Reason, w.code, w.reason)
		}
	}
	for i, s := range []uint64{2, 3, 4} { // the device's own positions are taken, so its chain goes on
		if r := ack.Rejected[i]; r.Seq != s || r.Epoch != a.Epoch {
			t.Errorf("rejection %d at %s/%d, want %s/%d", i, r.Epoch, r.Seq, a.Epoch, s)
		}
	}
	good3 := a.Next()
	if ack := sa.Push(good3); ack.Accepted != 1 || len(ack.Rejected) != 0 {
		t.Errorf("a good record after the bad batch: ack %+v", ack)
	}
	if d := h.Device(a.ID); d.Quarantined != 6 || d.Received != 3 || len(d.Gaps) != 0 || d.AckedThrough != 6 {
		t.Errorf("devices API for A: quarantined %d received %d gaps %v through %d, want 6, 3, none, 6", d.Quarantined, d.Received, d.Gaps, d.AckedThrough)
	}
	q := h.Quarantine()
	if len(q) != 6 {
		t.Errorf("quarantine table holds %d rows, want 6: %+v", len(q), q)
	}
	for i, r := range q {
		if r.Collector != a.ID || i < len(wantReasons) && !strings.Contains(r.Reason, wantReasons[i].reason) {
			t.Errorf("quarantine row %d: %+v", i, r)
		}
	}

	// A malformed frame: an error frame that says why, then a close.
	s2 := a.Session(h.URL())
	s2.SendRaw([]byte(`{"v":1,"type":"push","push":{"batch":1,"records":[`))
	f, err := s2.Read()
	if err != nil || f.Type != wire.TError || f.Error.Code != "invalid" || !strings.Contains(f.Error.Message, "malformed frame") {
		t.Errorf("after a malformed frame: frame %+v, err %v; want an error frame about the malformed frame", f, err)
	}
	if f, err := s2.Read(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("after the error frame: frame %+v, err %v; want a close", f, err)
	}

	// A hello in the name of another collector.
	s3, _, err := Dial(h.URL(), a.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	fs := &FakeSession{tb: t, Conn: s3}
	fs.Send(&wire.Frame{Type: wire.THello, Hello: &wire.Hello{Collector: b.ID, DeviceTime: time.Now().Format(time.RFC3339Nano)}})
	if f, err := fs.Read(); err != nil || f.Type != wire.TError || f.Error.Code != "forbidden" {
		t.Errorf("hello on another collector's behalf: frame %+v, err %v; want a forbidden error", f, err)
	}

	// A frame over the hub's read limit (16 MiB): the connection ends.
	s4 := a.Session(h.URL())
	big := append([]byte(`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":"`), bytes.Repeat([]byte("A"), 17<<20)...)
	s4.Conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	s4.Conn.WriteMessage(websocket.TextMessage, append(big, `"}]}}`...)) // may fail: the hub hangs up mid-frame
	if f, err := s4.Read(); err == nil {
		t.Errorf("after a frame over the read limit the hub answered %+v; want the connection closed", f)
	} else {
		t.Logf("over the read limit: %v", err)
	}

	// The hub serves on: the fake device and the honest collector sync.
	good4 := a.Next()
	if ack := a.Session(h.URL()).Push(good4); ack.Accepted != 1 {
		t.Errorf("after the bad frames: ack %+v", ack)
	}
	honest = append(honest, c.CaptureN(20, 2)...)

	// Unknown and revoked devices are refused before the upgrade.
	for _, tc := range []struct {
		name, token string
		status      int
		message     string
	}{
		{"no token", "", http.StatusUnauthorized, "missing device token"},
		{"unknown token", "atd_not-a-device", http.StatusUnauthorized, "unknown device token"},
	} {
		expectRefused(t, h.URL(), tc.token, tc.status, tc.message)
	}
	h.Revoke(b.ID)
	expectRefused(t, h.URL(), b.Token, http.StatusForbidden, "revoked")

	c.WaitSynced(30 * time.Second)
	waitConsents(t, h, c.ID, honest, 30*time.Second)
	checkExactlyOnce(t, h, c.ID, honest, exactly{})

	log := h.Log()
	for _, want := range []string{
		`msg="record quarantined"`, "device signature does not verify", "sealed payload does not match payload_sha256",
		"record claims collector", "malformed envelope", `msg="sync protocol error"`, "malformed frame",
		`msg="sync frame over the read limit"`, `msg="sync refused"`, "unknown device token", "was revoked",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("hub log does not mention %q", want)
		}
	}
	if n := strings.Count(log, `msg="record quarantined"`); n != 6 {
		t.Errorf("hub logged %d quarantined records, want 6", n)
	}
}

func mustSign(t *testing.T, env []byte, key ed25519.PrivateKey) []byte {
	t.Helper()
	// The device signature covers the envelope under record's context; a
	// signature by the wrong key over the right message is the forgery.
	env2 := &record.Envelope{}
	if err := json.Unmarshal(env, env2); err != nil {
		t.Fatal(err)
	}
	s, err := record.Sign(env2, key)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Envelope, env) {
		t.Fatal("envelope did not re-encode to the same bytes")
	}
	return s.Sig
}

// expectRefused dials the sync endpoint and wants an HTTP refusal with a
// JSON error naming the reason, before any upgrade.
func expectRefused(t *testing.T, hubURL, token string, status int, message string) {
	t.Helper()
	conn, resp, err := Dial(hubURL, token)
	if err == nil {
		conn.Close()
		t.Errorf("token %q: the hub upgraded the connection; want %d", token, status)
		return
	}
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
		t.Errorf("token %q: %v; want an HTTP %d", token, err, status)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.Unmarshal(b, &body)
	if resp.StatusCode != status || !strings.Contains(body.Error.Message, message) {
		t.Errorf("token %q: %s %s; want %d with a message about %q", token, resp.Status, b, status, message)
	}
}

// A kiosk revoked while its session is open (stolen, say) stores nothing
// more on that session: its next push is refused with the reason, the
// session ends, and the record is not at the hub.
func TestRevokedDeviceStopsOnItsOpenSession(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	a := EnrollFake(t, h.URL(), h.EnrollCode("Stolen kiosk"))
	s := a.Session(h.URL())
	if ack := s.Push(a.Next()); ack.Accepted != 1 {
		t.Fatalf("before revocation: %+v", ack)
	}
	h.Revoke(a.ID) // the CLI: another process than the one holding the session
	after := a.Next()
	s.Send(&wire.Frame{Type: wire.TPush, Push: &wire.Push{Batch: 2, Records: []record.Signed{after}}})
	var refusal *wire.Error
	for refusal == nil {
		f, err := s.Read()
		if err != nil {
			t.Fatalf("the session ended without saying why: %v", err)
		}
		switch f.Type {
		case wire.TAck:
			t.Fatalf("a push after the revocation was acknowledged: %+v", f.Ack)
		case wire.TError:
			refusal = f.Error
		}
	}
	if refusal.Code != apperr.EFORBIDDEN || !strings.Contains(refusal.Message, "revoked") {
		t.Errorf("refusal %s: %s, want forbidden naming the revocation", refusal.Code, refusal.Message)
	}
	if _, err := s.Read(); err == nil {
		t.Error("the session goes on after the refusal")
	}
	var env record.Envelope
	json.Unmarshal(after.Envelope, &env)
	if resp, _ := getProof(t, h, env.ID, h.Token()); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the record pushed after the revocation: proof %s, want 404", resp.Status)
	}
}
