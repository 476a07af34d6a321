package ws

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/attesta/attesta/collector/kiosktest"
	"github.com/attesta/attesta/collector/sqlite"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/wire"
)

// slowAck is an outbox whose acks take a while to commit, as on a busy
// kiosk's disk; a context ended meanwhile aborts the commit, as SQLite's does.
type slowAck struct{ *sqlite.Outbox }

func (o slowAck) Ack(ctx context.Context, epoch string, through uint64, rejected []wire.Rejection) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(100 * time.Millisecond):
	}
	return o.Outbox.Ack(ctx, epoch, through, rejected)
}

// closingHub welcomes a session with a window of three batches of two
// records, reads three pushes, acks them all and closes at once, as a hub
// that shuts down does.
func closingHub(t *testing.T) *httptest.Server {
	upgrader := websocket.Upgrader{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		write := func(f *wire.Frame) {
			b, _ := wire.Encode(f)
			conn.WriteMessage(websocket.TextMessage, b)
		}
		conn.ReadMessage() // hello
		write(&wire.Frame{Type: wire.TWelcome, Welcome: &wire.Welcome{HubTime: time.Now().Format(time.RFC3339Nano),
			HLC: hlc.NewClock().Tick(), MaxBatch: 2, MaxBatchBytes: 1 << 20, Window: 3}})
		var pushes []*wire.Push
		for len(pushes) < 3 {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			f, err := wire.Decode(b)
			if err != nil || f.Type != wire.TPush {
				t.Errorf("expected a push: %v", err)
				return
			}
			pushes = append(pushes, f.Push)
		}
		for _, p := range pushes {
			write(&wire.Frame{Type: wire.TAck, Ack: &wire.Ack{Batch: p.Batch, Accepted: len(p.Records)}})
		}
		conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		for { // until the collector closes its end
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

// The hub acks the batches in flight and closes at once, as it does when it
// shuts down. The session ends with the collector's next write while those
// acks are still being committed; every one is recorded all the same, so
// the kiosk shows those records synced while the hub is away.
func TestAcksBeforeTheHubsCloseAreKept(t *testing.T) {
	ctx := context.Background()
	hub := closingHub(t)
	k := kiosktest.Enroll(t, hub.URL, "")
	for range 4 { // two records each: more than the hub takes, so the collector keeps filling its window
		k.Capture(t, "giulietta@verona.it")
	}
	o := k.Outbox

	c := NewClient(slowAck{o}, k.Identity, k.Recorder.Clock)
	c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c.PingInterval = 10 * time.Millisecond // a write soon after the close frame, if no push comes first
	if _, err := c.session(ctx); err == nil {
		t.Fatal("the session ended without an error although the hub closed it")
	}
	streams, err := o.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := streams[0]; st.Acked != 6 {
		t.Errorf("the collector holds an ack through %d of the 6 records the hub acked before closing", st.Acked)
	}
}
