package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
	"github.com/attesta/attesta/shared/wire"
)

// FakeDevice is an enrolled device driven at the wire level: it builds
// records itself (valid ones, and whatever a test wants to break) and
// speaks the sync protocol over its own websocket.
type FakeDevice struct {
	tb      testing.TB
	ID      string
	Token   string
	Key     ed25519.PrivateKey
	SealKey *seal.PublicKey
	Catalog catalog.Catalog
	Epoch   string

	seq   uint64
	prev  string
	clock *hlc.Clock
}

// EnrollFake spends code at hubURL (POST /v1/enroll) with a fresh key.
func EnrollFake(tb testing.TB, hubURL, code string) *FakeDevice {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := json.Marshal(wire.EnrollRequest{Code: code, SignKey: record.PublicKeyString(pub), AppVersion: "e2e-fake"})
	resp, err := http.Post(hubURL+wire.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		tb.Fatalf("enroll: %s %s", resp.Status, b)
	}
	var er wire.EnrollResponse
	if err := json.Unmarshal(b, &er); err != nil {
		tb.Fatal(err)
	}
	sk, err := seal.ParsePublicKey(er.HubSealKey)
	if err != nil {
		tb.Fatal(err)
	}
	epoch := make([]byte, 16)
	rand.Read(epoch)
	return &FakeDevice{tb: tb, ID: er.CollectorID, Token: er.Token, Key: priv, SealKey: sk, Catalog: er.Catalog,
		Epoch: hex.EncodeToString(epoch), clock: hlc.NewClock()}
}

// Envelope returns a valid consent envelope at the device's next position,
// with its personal payload sealed to the hub, without advancing.
func (d *FakeDevice) Envelope() *record.Envelope {
	d.tb.Helper()
	pngBytes, _ := base64.StdEncoding.DecodeString(signaturePNG)
	salt := make([]byte, 16)
	rand.Read(salt)
	p := record.Payload{
		Subject:   record.Subject{GivenName: "Fake", FamilyName: "Device", Email: fmt.Sprintf("fake%d@example.com", captureSeq.Add(1))},
		Signature: &record.Handwriting{PNG: pngBytes, Points: [][]record.Point{{{X: 1, Y: 1}, {X: 5, Y: 5, T: 20}}}},
		Salt:      salt,
	}
	pb, _ := json.Marshal(p)
	sealed, err := seal.Seal(d.SealKey, pb)
	if err != nil {
		d.tb.Fatal(err)
	}
	n := d.Catalog.Notices[0]
	pu := d.Catalog.Purposes[0]
	return &record.Envelope{
		Schema: record.Schema, ID: uuid.Must(uuid.NewV7()).String(), Kind: record.Given, Collector: d.ID,
		Epoch: d.Epoch, Seq: d.seq + 1, Prev: d.prev, CapturedAt: time.Now().Format(time.RFC3339Nano), HLC: d.clock.Tick(),
		Controller: record.Controller(d.Catalog.Controller), Jurisdiction: d.Catalog.Jurisdiction, Language: "it",
		Touchpoint: "fair-milano-b12", AppVersion: "e2e-fake",
		Notice:        record.NoticeRef{ID: n.ID, Version: n.Version, SHA256: n.SHA256},
		Purposes:      []record.Choice{{Purpose: pu.Code, DPV: pu.DPV, Granted: true, LegalBasis: pu.LegalBasis, RetentionDays: pu.RetentionDays}},
		PayloadSHA256: record.PayloadHash(pb), SignatureSHA256: record.SHA256Hex(pngBytes), Sealed: sealed,
	}
}

// Sign signs env with the device key.
func (d *FakeDevice) Sign(env *record.Envelope) record.Signed {
	d.tb.Helper()
	s, err := record.Sign(env, d.Key)
	if err != nil {
		d.tb.Fatal(err)
	}
	return s
}

// Append signs env and makes it the device's chain head: the next envelope
// follows it.
func (d *FakeDevice) Append(env *record.Envelope) record.Signed {
	d.tb.Helper()
	s := d.Sign(env)
	d.seq, d.prev = env.Seq, s.HashHex()
	return s
}

// Next is Append(Envelope()): the next good record.
func (d *FakeDevice) Next() record.Signed { return d.Append(d.Envelope()) }

// Dial opens the sync websocket with token; a refusal comes back as the
// HTTP response.
func Dial(hubURL, token string) (*websocket.Conn, *http.Response, error) {
	u := "ws" + strings.TrimPrefix(hubURL, "http") + wire.SyncPath
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	return d.Dial(u, h)
}

// FakeSession is an open sync session of a FakeDevice.
type FakeSession struct {
	tb      testing.TB
	Conn    *websocket.Conn
	Welcome *wire.Welcome
	Timeout time.Duration // how long Read waits for a frame; 0 means 30 s
	batch   uint64
}

// Session dials the hub, says hello and reads the welcome.
func (d *FakeDevice) Session(hubURL string) *FakeSession {
	d.tb.Helper()
	conn, resp, err := Dial(hubURL, d.Token)
	if err != nil {
		status := ""
		if resp != nil {
			status = resp.Status
		}
		d.tb.Fatalf("dial: %v %s", err, status)
	}
	d.tb.Cleanup(func() { conn.Close() })
	s := &FakeSession{tb: d.tb, Conn: conn}
	s.Send(&wire.Frame{Type: wire.THello, Hello: &wire.Hello{Collector: d.ID, DeviceTime: time.Now().Format(time.RFC3339Nano),
		HLC: d.clock.Tick(), Streams: []wire.Stream{{Epoch: d.Epoch, Head: d.seq, HeadHash: d.prev}},
		ConfigSeq: d.Catalog.Seq, AppVersion: "e2e-fake"}})
	f, err := s.Read()
	if err != nil {
		d.tb.Fatalf("waiting for welcome: %v", err)
	}
	if f.Type != wire.TWelcome {
		d.tb.Fatalf("got %s frame instead of welcome", f.Type)
	}
	s.Welcome = f.Welcome
	return s
}

// Send writes a frame.
func (s *FakeSession) Send(f *wire.Frame) {
	s.tb.Helper()
	b, err := wire.Encode(f)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.SendRaw(b)
}

// SendRaw writes a text message as is.
func (s *FakeSession) SendRaw(b []byte) {
	s.tb.Helper()
	s.Conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if err := s.Conn.WriteMessage(websocket.TextMessage, b); err != nil {
		s.tb.Fatalf("write: %v", err)
	}
}

// Read reads one frame, waiting at most Timeout.
func (s *FakeSession) Read() (*wire.Frame, error) {
	wait := s.Timeout
	if wait == 0 {
		wait = 30 * time.Second
	}
	s.Conn.SetReadDeadline(time.Now().Add(wait))
	_, b, err := s.Conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	return wire.Decode(b)
}

// Push sends records as one batch and returns the hub's ack.
func (s *FakeSession) Push(recs ...record.Signed) *wire.Ack {
	s.tb.Helper()
	s.batch++
	s.Send(&wire.Frame{Type: wire.TPush, Push: &wire.Push{Batch: s.batch, Records: recs}})
	for {
		f, err := s.Read()
		if err != nil {
			s.tb.Fatalf("waiting for ack of batch %d: %v", s.batch, err)
		}
		switch f.Type {
		case wire.TAck:
			if f.Ack.Batch != s.batch {
				s.tb.Fatalf("ack for batch %d, want %d", f.Ack.Batch, s.batch)
			}
			return f.Ack
		case wire.TError:
			s.tb.Fatalf("hub error instead of ack: %s: %s", f.Error.Code, f.Error.Message)
		}
	}
}
