package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const shutdownTimeout = 5 * time.Second

// stopWithin sends SIGTERM through stop and fails the test unless the
// process exits within the shutdown timeout (plus a second for the
// process itself) and logs a clean shutdown.
func stopWithin(t *testing.T, name string, p *Process, stop func()) time.Duration {
	t.Helper()
	start := time.Now()
	stop()
	took := time.Since(start)
	if took > shutdownTimeout+time.Second {
		t.Errorf("%s took %s to exit after SIGTERM; the bound is %s", name, took.Round(time.Millisecond), shutdownTimeout)
	}
	out := p.Output()
	if !strings.Contains(out, "shutdown complete") {
		t.Errorf("%s logged no clean shutdown:\n%s", name, tail(out, 20))
	}
	if strings.Contains(out, "deadline reached") {
		t.Errorf("%s ran into its shutdown deadline:\n%s", name, tail(out, 20))
	}
	return took
}

// The hub gets SIGTERM in the middle of a large sync. It exits within its
// shutdown timeout, and before it goes it commits the batches it has read
// and sends their acks: the collector holds an ack for everything the hub
// committed. After a restart the rest arrives, nothing lost or doubled, and
// nothing is even sent twice.
func TestHubSIGTERMDuringLargeSync(t *testing.T) {
	t.Parallel()
	n := scale(4000, 1000)
	// Small batches and a narrow window stretch the sync out to seconds.
	h := NewHub(t, "--shutdown-timeout", shutdownTimeout.String(), "--sync-window", "2", "--sync-max-batch", "100")
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))
	h.Stop()
	c.Start()
	ids := c.CaptureN(n, 4)

	h.Start()
	c.SyncNow()
	Eventually(t, 30*time.Second, "the hub ingesting", func() (bool, string) {
		ds, err := h.Devices()
		if err != nil {
			return false, err.Error()
		}
		return ds[c.ID].Received >= 200, fmt.Sprint(ds[c.ID].Received)
	})
	took := stopWithin(t, "attesta-hub", h.Proc, h.Stop)

	through := h.Through(c.ID)
	t.Logf("the hub exited %s after SIGTERM with %d of %d records committed", took.Round(time.Millisecond), through, 2*n)
	if through == 0 || through >= uint64(2*n) {
		t.Fatalf("the hub had committed %d of %d records: not stopped in the middle", through, 2*n)
	}
	// The hub is down, so the collector's acks can only come from what the
	// hub sent before it exited.
	Eventually(t, 5*time.Second, "the collector holding an ack for every committed record", func() (bool, string) {
		st, err := c.Status()
		if err != nil {
			return false, err.Error()
		}
		return st.AckedThrough == through, fmt.Sprintf("collector acked through %d, hub committed through %d", st.AckedThrough, through)
	})

	h.Start()
	c.SyncNow()
	c.WaitSynced(90 * time.Second)
	waitConsents(t, h, c.ID, ids, 30*time.Second)
	checkExactlyOnce(t, h, c.ID, ids, exactly{})
	fams := hubMetrics(t, h)
	if d := value(t, fams, "attesta_hub_records_duplicate_total"); d != 0 {
		t.Errorf("the restarted hub received %v records it already had", d)
	}
	if got := value(t, fams, "attesta_hub_records_ingested_total"); got != float64(uint64(2*n)-through) {
		t.Errorf("the restarted hub ingested %v records, want the %d it did not have", got, uint64(2*n)-through)
	}
}

// The collector gets SIGTERM while kiosk clients keep capturing and a large
// backlog syncs. It exits within its shutdown timeout; every capture
// answered 201 reaches the hub exactly once after a restart, and no
// capture that went unanswered was stored.
func TestCollectorSIGTERMDuringLargeSync(t *testing.T) {
	t.Parallel()
	n := scale(3000, 800)
	const workers = 4
	h := NewHub(t, "--sync-window", "2", "--sync-max-batch", "100")
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))
	c.Args = []string{"--shutdown-timeout", shutdownTimeout.String()}
	h.Stop()
	c.Start()
	ids := c.CaptureN(n, workers)
	h.Start()
	c.SyncNow()

	var burst []string
	var unanswered int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); burst, unanswered = c.CaptureBurst(workers, nil) }()
	Eventually(t, 30*time.Second, "the hub ingesting", func() (bool, string) {
		ds, err := h.Devices()
		if err != nil {
			return false, err.Error()
		}
		return ds[c.ID].Received >= 200, fmt.Sprint(ds[c.ID].Received)
	})
	took := stopWithin(t, "attesta-collector", c.Proc, c.Stop)
	wg.Wait()
	received := h.Device(c.ID).Received
	t.Logf("the collector exited %s after SIGTERM; %d captures answered during the burst, %d requests unanswered; the hub had %d of at least %d records",
		took.Round(time.Millisecond), len(burst), unanswered, received, 2*(n+len(burst)))
	if len(burst) == 0 || received >= int64(2*(n+len(burst))) {
		t.Fatalf("nothing was in progress when the collector stopped")
	}

	c.Start()
	all := append(ids, burst...)
	c.WaitSynced(90 * time.Second)
	waitConsents(t, h, c.ID, all, 30*time.Second)
	checkExactlyOnce(t, h, c.ID, all, exactly{}) // extra 0: no unanswered capture was stored
	if d := value(t, hubMetrics(t, h), "attesta_hub_records_duplicate_total"); d != 0 {
		t.Errorf("the hub received %v records twice", d)
	}
}
