package e2e

import (
	"math"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/hlc"
)

// Collectors whose clocks are three days behind and three days ahead still
// sync. Their records carry the device time as captured and the hub's
// corrected time, are flagged clock_suspect, and the device's measured
// offset is reported. The clock that is ahead does not drag the hub's
// clock: a collector with a good clock that syncs afterwards still stamps
// today's HLC.
func TestSkewedClocksStillSync(t *testing.T) {
	t.Parallel()
	const n = 20
	const skew = 72 * time.Hour
	h := NewHub(t)
	for _, off := range []time.Duration{-skew, skew} {
		c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth "+off.String()))
		c.Env = []string{"ATTESTA_CLOCK_OFFSET=" + off.String()}
		c.Start()
		ids := c.CaptureN(n, 2)
		c.WaitSynced(30 * time.Second)
		waitConsents(t, h, c.ID, ids, 30*time.Second)
		evs := checkExactlyOnce(t, h, c.ID, ids, exactly{flagged: "clock_suspect"})
		for _, e := range evs {
			captured, err := time.Parse(time.RFC3339Nano, e.CapturedAt)
			if err != nil {
				t.Fatalf("captured_at %q: %v", e.CapturedAt, err)
			}
			if d := captured.Sub(e.ReceivedAt) - off; d.Abs() > 5*time.Minute {
				t.Errorf("offset %s: captured_at %s is not the device's time (received %s)", off, e.CapturedAt, e.ReceivedAt)
			}
			if d := e.CorrectedAt.Sub(e.ReceivedAt); d.Abs() > 5*time.Minute {
				t.Errorf("offset %s: corrected_at %s is not hub time (received %s)", off, e.CorrectedAt, e.ReceivedAt)
			}
			if d := time.Duration(e.ClockOffsetMS)*time.Millisecond - off; d.Abs() > time.Minute {
				t.Errorf("offset %s: record's clock_offset_ms %d", off, e.ClockOffsetMS)
			}
			if e.HLC == "" {
				t.Errorf("record %s has no HLC", e.ID)
			}
		}
		if d := time.Duration(h.Device(c.ID).ClockOffsetMS)*time.Millisecond - off; math.Abs(d.Seconds()) > 60 {
			t.Errorf("offset %s: devices API clock_offset_ms %d", off, h.Device(c.ID).ClockOffsetMS)
		}
		c.Stop()
	}

	good := EnrollCollector(t, h.URL(), h.EnrollCode("Booth on time"))
	good.Start()
	ids := good.CaptureN(3, 1)
	good.WaitSynced(30 * time.Second)
	ids = append(ids, good.CaptureN(3, 1)...) // after a welcome from the hub
	good.WaitSynced(30 * time.Second)
	waitConsents(t, h, good.ID, ids, 30*time.Second)
	for _, e := range checkExactlyOnce(t, h, good.ID, ids, exactly{}) {
		ts, err := hlc.Parse(e.HLC)
		if err != nil {
			t.Fatal(err)
		}
		if d := ts.Time().Sub(e.ReceivedAt); d.Abs() > 5*time.Minute {
			t.Errorf("a good clock's record has HLC %s, %s off the hub: the hub's clock was dragged", ts.Time(), d)
		}
	}
}
