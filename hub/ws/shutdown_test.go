package ws_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/ws"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/wire"
)

// fakeStore is a hub.SyncStore whose Ingest takes a while, as a commit does.
type fakeStore struct {
	IngestFn func(batch []hub.Incoming) (*hub.IngestResult, error)
	HelloFn  func(hub.Hello)             // if set, called by RecordHello
	AckFn    func(dev string, seq int64) // if set, called by AckConfig
}

func (f *fakeStore) DeviceByToken(ctx context.Context, token string) (*hub.Device, error) {
	return &hub.Device{ID: "dev-1"}, nil
}
func (f *fakeStore) RecordHello(_ context.Context, h hub.Hello) error {
	if f.HelloFn != nil {
		f.HelloFn(h)
	}
	return nil
}
func (f *fakeStore) Positions(context.Context, string, []string) ([]wire.Position, error) {
	return nil, nil
}
func (f *fakeStore) Ingest(ctx context.Context, dev string, batch []hub.Incoming) (*hub.IngestResult, error) {
	return f.IngestFn(batch)
}
func (f *fakeStore) Catalog(context.Context) (*catalog.Catalog, error) {
	return &catalog.Catalog{}, nil
}
func (f *fakeStore) AckConfig(_ context.Context, dev string, seq int64) error {
	if f.AckFn != nil {
		f.AckFn(dev, seq)
	}
	return nil
}

func dial(t *testing.T, url string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer tok"}}
	return (&websocket.Dialer{HandshakeTimeout: 5 * time.Second}).Dial("ws"+strings.TrimPrefix(url, "http")+wire.SyncPath, h)
}

// serve runs a sync server on store, with set applied before it serves,
// behind a test HTTP server whose URL it returns.
func serve(t *testing.T, store hub.SyncStore, set func(*ws.Server)) (*ws.Server, string) {
	srv := ws.NewServer(store, &hub.Keys{})
	srv.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if set != nil {
		set(srv)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+wire.SyncPath, srv)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}

// connect opens a session as collector dev-1 running config seq configSeq.
func connect(t *testing.T, url string, configSeq int64) *websocket.Conn {
	t.Helper()
	conn, _, err := dial(t, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	send(t, conn, &wire.Frame{Type: wire.THello, Hello: &wire.Hello{Collector: "dev-1", ConfigSeq: configSeq,
		DeviceTime: time.Now().Format(time.RFC3339Nano), HLC: hlc.NewClock().Tick()}})
	return conn
}

func send(t *testing.T, c *websocket.Conn, f *wire.Frame) {
	t.Helper()
	b, err := wire.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatal(err)
	}
}

// Shutdown stops reading, commits what was read, sends every one of those
// acks before the close frame, refuses new sessions with 429, and returns
// well within its deadline.
func TestShutdownAcksEverythingCommitted(t *testing.T) {
	var mu sync.Mutex
	committed := 0
	store := &fakeStore{IngestFn: func(batch []hub.Incoming) (*hub.IngestResult, error) {
		time.Sleep(30 * time.Millisecond)
		mu.Lock()
		committed++
		mu.Unlock()
		return &hub.IngestResult{Rejected: make([]wire.Rejection, len(batch))}, nil
	}}
	srv, url := serve(t, store, func(srv *ws.Server) { srv.Window = 4 })
	conn := connect(t, url, 0)
	const pushes = 40
	for i := 1; i <= pushes; i++ { // far more than the hub commits before it stops
		send(t, conn, &wire.Frame{Type: wire.TPush, Push: &wire.Push{Batch: uint64(i), Records: []record.Signed{{Envelope: []byte(`{}`), Sig: []byte{1}}}}})
	}
	for {
		mu.Lock()
		n := committed
		mu.Unlock()
		if n >= 2 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- srv.Shutdown(ctx) }()

	var acks []uint64
	var closeErr error
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			closeErr = err
			break
		}
		f, err := wire.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type == wire.TAck {
			acks = append(acks, f.Ack.Batch)
		}
	}
	conn.Close() // the hub lingers until the collector closes its end
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Shutdown took %s", took)
	}
	if !websocket.IsCloseError(closeErr, websocket.CloseNormalClosure) {
		t.Errorf("session ended with %v, want a normal close frame", closeErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if committed == pushes {
		t.Fatalf("all %d pushes were committed: the shutdown stopped nothing", pushes)
	}
	if len(acks) != committed {
		t.Fatalf("%d batches committed but %d acked (%v)", committed, len(acks), acks)
	}
	for i, b := range acks {
		if b != uint64(i+1) {
			t.Fatalf("acks %v are not batches 1..%d in order", acks, committed)
		}
	}
	if _, resp, err := dial(t, url); err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a session after Shutdown: %v %v, want 429 with Retry-After", err, resp)
	}
}

// Sessions cut off at the shutdown deadline stop committing: the batches
// they had read and verified are left for the collector to send again
// (their acks could not go out), instead of holding the hub past its
// deadline.
func TestAbortedSessionStopsCommitting(t *testing.T) {
	var started, aborted, afterAbort atomic.Int64
	store := &fakeStore{IngestFn: func(batch []hub.Incoming) (*hub.IngestResult, error) {
		started.Add(1)
		if aborted.Load() == 1 {
			afterAbort.Add(1)
		}
		time.Sleep(100 * time.Millisecond)
		return &hub.IngestResult{Rejected: make([]wire.Rejection, len(batch))}, nil
	}}
	srv, url := serve(t, store, func(srv *ws.Server) { srv.Window = 4 })
	conn := connect(t, url, 0)
	for i := 1; i <= 8; i++ {
		send(t, conn, &wire.Frame{Type: wire.TPush, Push: &wire.Push{Batch: uint64(i), Records: []record.Signed{{Envelope: []byte(`{}`), Sig: []byte{1}}}}})
	}
	for started.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the others are verified and wait
	aborted.Store(1)
	srv.Close() // the shutdown deadline has passed
	if n := afterAbort.Load(); n > 1 {
		t.Errorf("%d batches began committing after their session was cut off, want at most the one racing the cut", n)
	}
}
