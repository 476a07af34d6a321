package e2e

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// Consents captured while the hub is down all arrive exactly once after it
// starts, and the device's chain verifies.
func TestOfflineBacklogArrivesExactlyOnce(t *testing.T) {
	t.Parallel()
	n := scale(5000, 1000)
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))
	h.Stop()
	c.Start()

	start := time.Now()
	ids := c.CaptureN(n, 4)
	t.Logf("captured %d consents with the hub down in %s", n, time.Since(start).Round(time.Millisecond))
	if st := c.MustStatus(); st.Pending != int64(2*n) || st.Connected {
		t.Fatalf("with the hub down: status %+v, want %d pending and not connected", st, 2*n)
	}

	h.Start()
	c.SyncNow() // the operator's "sync now": skip the backoff the offline burst grew
	start = time.Now()
	c.WaitSynced(90 * time.Second)
	waitConsents(t, h, c.ID, ids, 30*time.Second)
	t.Logf("synced %d records in %s", 2*n, time.Since(start).Round(time.Millisecond))
	checkExactlyOnce(t, h, c.ID, ids, exactly{})
}

// newProxy starts a proxy to the hub, closed with the test.
func newProxy(t *testing.T, h *Hub) *Proxy {
	t.Helper()
	p, err := NewProxy(h.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// A proxy between collector and hub cuts connections at random byte counts
// in both directions (mid-handshake, mid-push, mid-config, mid-ack) during a
// large sync, while the kiosk keeps capturing: nothing is lost and nothing
// doubled.
func TestProxyCutsLoseAndDoubleNothing(t *testing.T) {
	t.Parallel()
	n := scale(3000, 600)
	const cuts = 8
	h := NewHub(t)
	p := newProxy(t, h)
	c := EnrollCollector(t, p.URL(), h.EnrollCode("Booth B12"))
	p.SetDown(true)
	c.Start()
	ids := c.CaptureN(n, 4)

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var mu sync.Mutex
	p.CutAfter(func() (int64, int64) {
		mu.Lock()
		defer mu.Unlock()
		if p.Cuts() >= cuts {
			return 0, 0
		}
		if rng.IntN(2) == 0 { // towards the hub: hello and pushes (~700 KB a batch)
			return 1 + rng.Int64N(700<<10), 0
		}
		return 0, 1 + rng.Int64N(600) // back: welcome, config, acks
	})
	accepted := p.Accepted()
	p.SetDown(false)
	start := time.Now()
	nudge(t, c)
	// Keep capturing while the faults last, so the sync is never idle
	// before every planned cut has happened.
	stop := make(chan struct{})
	more := make(chan []string)
	go func() {
		var ids []string
		defer func() { more <- ids }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			id, err := c.Capture()
			if err != nil {
				t.Errorf("capture during the sync: %v", err)
				return
			}
			ids = append(ids, id)
		}
	}()
	Eventually(t, 60*time.Second, fmt.Sprintf("%d cuts", cuts), func() (bool, string) {
		return p.Cuts() >= cuts, fmt.Sprint(p.Cuts())
	})
	close(stop)
	ids = append(ids, <-more...)
	c.WaitSynced(90 * time.Second)
	up, down := p.Bytes()
	t.Logf("synced %d records in %s over %d connections, %d cut; %d bytes up, %d down",
		2*len(ids), time.Since(start).Round(time.Millisecond), p.Accepted()-accepted, p.Cuts(), up, down)
	checkExactlyOnce(t, h, c.ID, ids, exactly{})
}
