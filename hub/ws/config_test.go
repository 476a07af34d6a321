package ws_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/wire"
)

// The hello is recorded by the commit stage, which may be slow to get the
// writer; a config ack that follows the hello must still land after it, or
// the devices API would show the collector on the config it had before.
func TestConfigAckLandsAfterTheHello(t *testing.T) {
	var mu sync.Mutex
	var configSeq int64
	var writes []string
	helloed, acked := make(chan struct{}), make(chan struct{})
	store := &fakeStore{
		HelloFn: func(h hub.Hello) {
			time.Sleep(200 * time.Millisecond) // the writer is busy with other devices
			mu.Lock()
			defer mu.Unlock()
			configSeq = h.ConfigSeq
			writes = append(writes, "hello")
			close(helloed)
		},
		AckFn: func(_ string, seq int64) {
			mu.Lock()
			defer mu.Unlock()
			configSeq = seq
			writes = append(writes, "ack")
			close(acked)
		},
	}
	_, url := serve(t, store, nil)
	conn := connect(t, url, 1)
	send(t, conn, &wire.Frame{Type: wire.TConfigAck, ConfigAck: &wire.ConfigAck{Seq: 3}})
	for _, ch := range []chan struct{}{helloed, acked} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("the hello or the config ack was never recorded")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if configSeq != 3 {
		t.Errorf("device config_seq %d after hello(1) then ack(3), want 3; writes in order %v", configSeq, writes)
	}
}

// A kiosk whose connection is cut reconnects while the hub's writer is
// still busy with the first session's hello. That late hello (config 1)
// must not land over the new session's hello and config ack (3): a
// device's row is written by one session at a time.
func TestReplacedSessionsHelloLandsFirst(t *testing.T) {
	var mu sync.Mutex
	var configSeq int64
	var writes []string
	gate, entered, acked := make(chan struct{}), make(chan struct{}), make(chan struct{})
	first := true
	store := &fakeStore{
		HelloFn: func(h hub.Hello) {
			mu.Lock()
			isFirst := first
			first = false
			mu.Unlock()
			if isFirst { // the writer is busy with other devices
				close(entered)
				<-gate
			}
			mu.Lock()
			defer mu.Unlock()
			configSeq = h.ConfigSeq
			writes = append(writes, fmt.Sprintf("hello(%d)", h.ConfigSeq))
		},
		AckFn: func(_ string, seq int64) {
			mu.Lock()
			defer mu.Unlock()
			configSeq = seq
			writes = append(writes, fmt.Sprintf("ack(%d)", seq))
			close(acked)
		},
	}
	_, url := serve(t, store, nil)
	a := connect(t, url, 1)
	<-entered
	a.Close() // the kiosk's connection is cut; it reconnects at once
	b := connect(t, url, 2)
	send(t, b, &wire.Frame{Type: wire.TConfigAck, ConfigAck: &wire.ConfigAck{Seq: 3}})
	time.Sleep(100 * time.Millisecond) // the new session's writes would land now
	close(gate)
	select {
	case <-acked:
	case <-time.After(10 * time.Second):
		t.Fatal("the new session's config ack was never recorded")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"hello(1)", "hello(2)", "ack(3)"}; configSeq != 3 || !slices.Equal(writes, want) {
		t.Errorf("device config_seq %d, writes %v; want 3 and %v", configSeq, writes, want)
	}
}
