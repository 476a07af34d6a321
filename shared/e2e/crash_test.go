package e2e

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The collector is killed (SIGKILL) in the middle of a burst of captures
// from several kiosk clients while it syncs: after a restart on the same
// data folder, every consent that got a 201 reaches the hub, once, on an
// unbroken chain; at most the requests in flight at the kill may arrive
// without having been answered.
func TestCollectorKilledDuringCaptureBurst(t *testing.T) {
	t.Parallel()
	const workers = 4
	killAt := scale(800, 200)
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))
	c.Start()

	var once sync.Once
	ids, unanswered := c.CaptureBurst(workers, func(total int) {
		if total >= killAt {
			once.Do(func() { c.Proc.cmd.Process.Signal(syscall.SIGKILL) })
		}
	})
	c.Kill() // reaps it
	t.Logf("killed the collector after %d answered captures; %d requests got no answer", len(ids), unanswered)
	if unanswered == 0 || unanswered > workers {
		t.Fatalf("%d requests unanswered, want 1..%d: the kill did not land mid-burst", unanswered, workers)
	}

	c.Start()
	ids = append(ids, c.CaptureN(10, 1)...) // and it goes on capturing on the same chain
	c.WaitSynced(60 * time.Second)
	waitConsents(t, h, c.ID, ids, 30*time.Second)
	checkExactlyOnce(t, h, c.ID, ids, exactly{extra: unanswered})
}

// The hub is killed (SIGKILL) in the middle of ingesting a backlog. Every
// record the collector holds an ack for is at the restarted hub before the
// collector can send anything again, and after it syncs every consent is
// there exactly once.
func TestHubKilledDuringIngest(t *testing.T) {
	t.Parallel()
	testHubDiesDuringIngest(t, (*Hub).Kill)
}

// The hub is restarted (SIGTERM, then start) in the middle of an ingest:
// nothing it acknowledged is lost, and the rest arrives exactly once.
func TestHubRestartLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	testHubDiesDuringIngest(t, (*Hub).Stop)
}

func testHubDiesDuringIngest(t *testing.T, stop func(*Hub)) {
	n := scale(2000, 500)
	// Batches of 100 records (about 140 KB), so the backlog is many batches.
	h := NewHub(t, "--sync-max-batch", "100")
	p := newProxy(t, h)
	c := EnrollCollector(t, p.URL(), h.EnrollCode("Booth B12"))
	p.SetDown(true)
	c.Start()
	ids := c.CaptureN(n, 4)

	// ~2.8 KB a record pair: hold the link somewhere between a fifth and
	// four fifths of the backlog (always past the first batch), and stop the
	// hub once the collector holds some acks, so there is surely both
	// something acknowledged and something in flight when the hub stops.
	seed := time.Now().UnixNano()
	hold := int64(n) * 2800 * (20 + rand.New(rand.NewPCG(uint64(seed), 0)).Int64N(61)) / 100
	t.Logf("seed %d: holding the link after %d bytes towards the hub", seed, hold)
	p.HoldUpAfter(hold)
	p.SetDown(false)
	nudge(t, c)
	Eventually(t, 60*time.Second, "the link held with acks at the collector", func() (bool, string) {
		up, _ := p.Bytes()
		st := c.MustStatus()
		return up >= hold && st.AckedThrough > 0, fmt.Sprintf("%d bytes up, acked through %d", up, st.AckedThrough)
	})
	stop(h)

	// The collector's acks are final now. Keep it away from the hub while
	// the hub restarts, so nothing can be resent before we look.
	p.SetDown(true)
	acked := c.MustStatus().AckedThrough
	h.Start()
	d := h.Device(c.ID)
	t.Logf("stopped the hub with %d of %d records received; the collector held acks through seq %d, the hub has through %d",
		d.Received, 2*n, acked, d.AckedThrough)
	if d.Received >= int64(2*n) {
		t.Fatalf("the hub had received all %d records before it was stopped: nothing was in flight", 2*n)
	}
	if acked == 0 {
		t.Fatalf("the collector held no ack when the hub stopped: nothing acknowledged to lose")
	}
	if d.AckedThrough < acked {
		t.Errorf("the hub restarted at seq %d but had acknowledged through %d: acknowledged records lost", d.AckedThrough, acked)
	}
	seqs := map[uint64]bool{}
	for _, e := range byDevice(h.MustEvents(), c.ID) {
		seqs[e.Seq] = true
	}
	for s := uint64(1); s <= acked; s++ {
		if !seqs[s] {
			t.Fatalf("seq %d was acknowledged but is not at the restarted hub", s)
		}
	}

	p.HoldUpAfter(0)
	p.SetDown(false)
	c.WaitSynced(60 * time.Second)
	waitConsents(t, h, c.ID, ids, 30*time.Second)
	checkExactlyOnce(t, h, c.ID, ids, exactly{})
}
