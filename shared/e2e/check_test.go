package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// scale picks the count, or a smaller one under -short.
func scale(full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

// byDevice keeps the events of one collector.
func byDevice(evs []Event, dev string) []Event {
	var out []Event
	for _, e := range evs {
		if e.Collector == dev {
			out = append(out, e)
		}
	}
	return out
}

// waitConsents waits until the hub's events feed holds every consent in
// want for device dev.
func waitConsents(t *testing.T, h *Hub, dev string, want []string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, fmt.Sprintf("%d consents of %s at the hub", len(want), dev), func() (bool, string) {
		evs, err := h.Events()
		if err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, e := range byDevice(evs, dev) {
			have[e.ID] = true
		}
		missing := 0
		for _, id := range want {
			if !have[id] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(want))
	})
}

// exactly says what checkExactlyOnce may tolerate.
type exactly struct {
	extra   int    // consents at the hub that got no 201 (a request in flight when a process died)
	forks   bool   // the device's chain is expected to fork
	flagged string // the one flag every record must carry ("" for none)
}

// checkExactlyOnce proves that the hub holds each consent in want exactly
// once for device dev, each with its notice_viewed record, and nothing
// else from dev beyond opt.extra consents; that every sequence number of
// every epoch is present once with no hole; and that the devices API agrees:
// received equals the events held, no gaps, nothing quarantined, chain "ok".
func checkExactlyOnce(t *testing.T, h *Hub, dev string, want []string, opt exactly) []Event {
	t.Helper()
	evs := byDevice(h.MustEvents(), dev)
	given := map[string]int{}
	views := map[string]int{}
	ids := map[string]int{}
	seqs := map[string]map[uint64]int{}
	for _, e := range evs {
		ids[e.ID]++
		switch e.Kind {
		case "given":
			given[e.ID]++
		case "notice_viewed":
			views[e.Ref]++
		default:
			t.Errorf("unexpected %s event %s", e.Kind, e.ID)
		}
		if seqs[e.Epoch] == nil {
			seqs[e.Epoch] = map[uint64]int{}
		}
		seqs[e.Epoch][e.Seq]++
	}
	for id, n := range ids {
		if n != 1 {
			t.Errorf("record %s is at the hub %d times", id, n)
		}
	}
	missing := 0
	wantSet := map[string]bool{}
	for _, id := range want {
		if wantSet[id] {
			t.Fatalf("the collector answered 201 with id %s twice", id)
		}
		wantSet[id] = true
		if given[id] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("consent %s got a 201 but is not at the hub", id)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d consents answered 201 are missing at the hub", missing, len(want))
	}
	extra := 0
	for id := range given {
		if !wantSet[id] {
			extra++
		}
		if views[id] != 1 {
			t.Errorf("consent %s has %d notice_viewed records at the hub, want 1", id, views[id])
		}
	}
	for ref := range views {
		if given[ref] == 0 {
			t.Errorf("notice_viewed for consent %s, which is not at the hub", ref)
		}
	}
	if extra > opt.extra {
		t.Errorf("%d consents at the hub were never answered 201 (at most %d may be: requests in flight)", extra, opt.extra)
	}
	if !opt.forks {
		for epoch, s := range seqs {
			max := uint64(0)
			for seq, n := range s {
				if n != 1 {
					t.Errorf("epoch %s seq %d held %d times", epoch, seq, n)
				}
				max = maxu(max, seq)
			}
			if int(max) != len(s) {
				t.Errorf("epoch %s: %d records but seq runs to %d: a hole in the chain", epoch, len(s), max)
			}
		}
	}
	d := h.Device(dev)
	if d.Received != int64(len(evs)) {
		t.Errorf("devices API: received %d, events feed holds %d", d.Received, len(evs))
	}
	if d.Quarantined != 0 {
		t.Errorf("devices API: %d records quarantined, want 0", d.Quarantined)
	}
	if !opt.forks {
		if d.Chain != "ok" || len(d.Gaps) != 0 || d.Forks != 0 || d.Conflicts != 0 {
			t.Errorf("devices API: chain %q gaps %v forks %d conflicts %d, want a whole chain", d.Chain, d.Gaps, d.Forks, d.Conflicts)
		}
		for _, e := range evs {
			if want := []string{opt.flagged}; (opt.flagged == "" && len(e.Flags) != 0) ||
				(opt.flagged != "" && fmt.Sprint(e.Flags) != fmt.Sprint(want)) {
				t.Errorf("record %s (seq %d) flagged %v, want %q", e.ID, e.Seq, e.Flags, opt.flagged)
				break
			}
		}
	}
	t.Logf("hub holds %d consents (+%d without a 201) and %d records of %s in %d epoch(s); chain %s",
		len(given), extra, len(evs), dev, len(seqs), d.Chain)
	return evs
}

func maxu(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}

// nudge presses the collector's "sync now" whenever it is disconnected, until
// the test ends, so that reconnect backoff (seconds, growing) does not
// dominate the run time; what is under test is what each reconnect does.
func nudge(t *testing.T, c *Collector) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	t.Cleanup(func() { close(done); wg.Wait() })
	go func() {
		defer wg.Done()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if st, err := c.Status(); err == nil && !st.Connected {
				if resp, err := c.http.Post(c.URL()+"/api/v1/sync", "application/json", nil); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
}
