package http_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	chttp "github.com/attesta/attesta/collector/http"
	"github.com/attesta/attesta/collector/kiosktest"
	"github.com/attesta/attesta/collector/sqlite"
)

type offline struct{}

func (offline) State() (bool, time.Time, string) { return false, time.Time{}, "" }
func (offline) SyncNow()                         {}

// kiosk is a collector's HTTP server on loopback over a real outbox,
// enrolled with operator PIN 1234, on a clock the test moves.
type kiosk struct {
	url    string
	outbox *sqlite.Outbox
	mu     sync.Mutex
	now    time.Time
}

func (k *kiosk) advance(d time.Duration) { k.mu.Lock(); k.now = k.now.Add(d); k.mu.Unlock() }

func newKiosk(t *testing.T) *kiosk {
	e := kiosktest.Enroll(t, "http://hub.example", chttp.HashPIN("1234"))
	k := &kiosk{outbox: e.Outbox, now: time.Now()}
	s := chttp.NewServer(e.Outbox, e.Recorder, offline{})
	s.Addr, s.Logger = "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil))
	s.Now = func() time.Time { k.mu.Lock(); defer k.mu.Unlock(); return k.now }
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	k.url = s.URL()
	return k
}

// do sends a request and returns its status and error message.
func (k *kiosk) do(t *testing.T, method, path, host string, body []byte, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, k.url+path, bytes.NewReader(body))
	if host != "" {
		req.Host = host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Error struct{ Message string } }
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Message
}

func captureBody(t *testing.T, operator string) []byte {
	var sig bytes.Buffer
	png.Encode(&sig, image.NewGray(image.Rect(0, 0, 4, 4)))
	c := map[string]any{
		"subject":   map[string]string{"given_name": "Anna", "family_name": "Rossi", "email": "anna@example.com"},
		"purposes":  map[string]bool{"newsletter": true},
		"notice":    map[string]any{"id": "privacy-it", "version": 1},
		"language":  "it",
		"signature": map[string]any{"png": base64.StdEncoding.EncodeToString(sig.Bytes()), "points": [][]map[string]float64{{{"x": 1, "y": 1}}}},
	}
	if operator != "" {
		c["operator"] = operator
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A web page whose name was re-pointed at 127.0.0.1 (DNS rebinding) is
// same-origin with the kiosk; the kiosk answers only to its address.
func TestKioskAnswersOnlyToItsAddress(t *testing.T) {
	k := newKiosk(t)
	port := k.url[strings.LastIndex(k.url, ":")+1:]
	for _, host := range []string{"", "localhost:" + port, "[::1]:" + port, "192.168.1.20:" + port} {
		if code, msg := k.do(t, "GET", "/api/v1/status", host, nil); code != http.StatusOK {
			t.Errorf("Host %q: %d %s", host, code, msg)
		}
	}
	for _, path := range []string{"/api/v1/status", "/"} {
		if code, msg := k.do(t, "GET", path, "evil.example:"+port, nil); code != http.StatusForbidden || !strings.Contains(msg, `"evil.example:`+port+`"`) {
			t.Errorf("GET %s on a rebound name: %d %q", path, code, msg)
		}
	}
	code, msg := k.do(t, "POST", "/api/v1/consents", "evil.example:"+port, captureBody(t, ""), "Origin", "http://evil.example:"+port)
	if code != http.StatusForbidden {
		t.Errorf("capture through a rebound name: %d %s", code, msg)
	}
}

// Anything after the capture object is refused, not ignored.
func TestCaptureWithTrailingDataRefused(t *testing.T) {
	k := newKiosk(t)
	for _, tail := range []string{`{"subject":"garbage"}`, ` ]]]`, ` 1`} {
		code, msg := k.do(t, "POST", "/api/v1/consents", "", append(captureBody(t, ""), tail...))
		if code != http.StatusBadRequest || !strings.Contains(msg, "data after the capture") {
			t.Errorf("trailing %q: %d %s", tail, code, msg)
		}
	}
	if code, msg := k.do(t, "POST", "/api/v1/consents", "", captureBody(t, "")); code != http.StatusCreated {
		t.Fatalf("a plain capture: %d %s", code, msg)
	}
}

// Who collected a consent is part of its proof: a capture naming its
// operator needs the operator PIN, as signing in on the operator screen does.
func TestOperatorInCaptureNeedsThePIN(t *testing.T) {
	k := newKiosk(t)
	body := captureBody(t, "mario.rossi")
	if code, msg := k.do(t, "POST", "/api/v1/consents", "", body); code != http.StatusForbidden || !strings.Contains(msg, "operator") {
		t.Errorf("without the PIN: %d %s", code, msg)
	}
	if code, msg := k.do(t, "POST", "/api/v1/consents", "", body, "X-Operator-PIN", "1234"); code != http.StatusCreated {
		t.Fatalf("with the PIN: %d %s", code, msg)
	}
	pending, err := k.outbox.Pending(context.Background(), "", 0, 10)
	if err != nil || len(pending) == 0 {
		t.Fatalf("pending %v %v", pending, err)
	}
	env, err := pending[len(pending)-1].Signed.Decode()
	if err != nil || env.Operator != "mario.rossi" {
		t.Errorf("record operator %q (%v)", env.Operator, err)
	}
}

// Five wrong PINs lock the operator screen; each lock is twice the last,
// so guessing slows down, and a right PIN starts over.
func TestPINLocksGrow(t *testing.T) {
	k := newKiosk(t)
	signIn := func(pin string) (int, string) {
		b, _ := json.Marshal(map[string]string{"operator": "mario.rossi", "pin": pin})
		return k.do(t, "POST", "/api/v1/operator/session", "", b)
	}
	fail5 := func() {
		t.Helper()
		for range 5 {
			if code, msg := signIn("0000"); code != http.StatusForbidden || !strings.Contains(msg, "wrong operator PIN") {
				t.Fatalf("a wrong PIN: %d %s", code, msg)
			}
		}
	}
	locked := func(want bool) {
		t.Helper()
		code, msg := signIn("1234")
		if got := code == http.StatusForbidden && strings.Contains(msg, "too many wrong PINs"); got != want {
			t.Fatalf("locked %v, want %v: %d %s", got, want, code, msg)
		}
	}
	fail5()
	locked(true)
	k.advance(61 * time.Second)
	fail5() // the lock is over; five more
	k.advance(61 * time.Second)
	locked(true) // the second lock is two minutes
	k.advance(60 * time.Second)
	locked(false) // a right PIN starts over
	fail5()
	k.advance(61 * time.Second)
	locked(false)
}
