package e2e

import (
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
