package ws_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/ws"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/wire"
)

// Verified records wait for the writer in a bounded number, across
// sessions; a session that ends with some of them uncommitted (the
// collector gone, the store failing) gives their places back, so the next
// collector still syncs.
func TestVerifiedAheadReturnedWhenASessionDies(t *testing.T) {
	gate := make(chan struct{})
	entered := make(chan struct{}, 100)
	var failing atomic.Bool
	failing.Store(true)
	store := &fakeStore{IngestFn: func(batch []hub.Incoming) (*hub.IngestResult, error) {
		entered <- struct{}{}
		<-gate
		if failing.Load() {
			return nil, errors.New("disk I/O error")
		}
		return &hub.IngestResult{Rejected: make([]wire.Rejection, len(batch))}, nil
	}}
	srv, url := serve(t, store, func(srv *ws.Server) { srv.MaxBatch = 2 }) // four batches of two may wait

	// push connects, says hello and pushes n batches of two records.
	push := func(n int) *websocket.Conn {
		conn := connect(t, url, 0)
		rec := record.Signed{Envelope: []byte(`{}`), Sig: []byte{1}}
		for i := 1; i <= n; i++ {
			send(t, conn, &wire.Frame{Type: wire.TPush, Push: &wire.Push{Batch: uint64(i), Records: []record.Signed{rec, rec}}})
		}
		return conn
	}

	// More batches than may wait: the first is in the writer, three more
	// wait verified, the rest wait to be verified. Then the collector
	// goes, and the store fails the batch it was writing.
	gone := push(8)
	<-entered
	time.Sleep(100 * time.Millisecond) // let the others be verified and queue up
	if srv.AheadFree() {
		t.Fatal("no place is taken while batches wait for the writer")
	}
	gone.Close()
	time.Sleep(100 * time.Millisecond) // the session sees the connection gone
	close(gate)

	deadline := time.Now().Add(5 * time.Second)
	for !srv.AheadFree() {
		if time.Now().After(deadline) {
			t.Fatal("places are still taken after the session ended")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The next collector's batches all get through.
	failing.Store(false)
	const n = 12
	conn := push(n)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	acks := 0
	for acks < n {
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d acks: %v", acks, err)
		}
		if f, err := wire.Decode(b); err == nil && f.Type == wire.TAck {
			acks++
		}
	}
}
