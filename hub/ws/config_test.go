package ws_test

import (
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
