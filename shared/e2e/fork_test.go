package e2e

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A collector restored from an old copy of its database captures new
// consents at sequence numbers the hub already holds with other content.
// The hub keeps both histories, reports a fork for the device, and holds
// every consent either history answered with a 201; the collector goes on
// in a new epoch.
func TestRestoredCollectorIsReportedAsFork(t *testing.T) {
	t.Parallel()
	const k = 5
	h := NewHub(t)
	p := newProxy(t, h)
	c := EnrollCollector(t, p.URL(), h.EnrollCode("Booth B12"))
	c.Start()
	nudge(t, c)
	early := c.CaptureN(k, 1)
	c.WaitSynced(30 * time.Second)
	c.Stop()
	backup := t.TempDir()
	for _, f := range c.DBFiles() {
		copyFile(t, f, filepath.Join(backup, filepath.Base(f)))
	}

	c.Start()
	lost := c.CaptureN(k, 1) // the history the backup does not know
	c.WaitSynced(30 * time.Second)
	before := c.MustStatus()
	c.Stop()

	for _, f := range c.DBFiles() {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(backup)
	for _, e := range entries {
		copyFile(t, filepath.Join(backup, e.Name()), filepath.Join(c.Dir, e.Name()))
	}
	p.SetDown(true) // the restored kiosk captures before it reaches the hub
	c.Start()
	if st := c.MustStatus(); st.Head != 2*k || st.Epoch != before.Epoch {
		t.Fatalf("restored collector at epoch %s head %d, want the backup's epoch %s head %d", st.Epoch, st.Head, before.Epoch, 2*k)
	}
	forked := c.CaptureN(k, 1) // same seqs as lost, other content
	p.SetDown(false)
	c.WaitSynced(30 * time.Second)
	after := c.CaptureN(3, 1)
	st := c.WaitSynced(30 * time.Second)
	if st.Epoch == before.Epoch {
		t.Errorf("the collector stayed in epoch %s after the hub showed it a fork", st.Epoch)
	}

	all := append(append(append(append([]string{}, early...), lost...), forked...), after...)
	waitConsents(t, h, c.ID, all, 30*time.Second)
	evs := checkExactlyOnce(t, h, c.ID, all, exactly{forks: true})
	d := h.Device(c.ID)
	if d.Chain != "fork" || d.Forks != 2*k {
		t.Errorf("devices API: chain %q forks %d, want \"fork\" and %d (each record of the restored history)", d.Chain, d.Forks, 2*k)
	}
	isForked := map[string]bool{}
	for _, id := range forked {
		isForked[id] = true
	}
	atSeq := map[uint64]int{}
	for _, e := range evs {
		if e.Epoch == before.Epoch {
			atSeq[e.Seq]++
		}
		if e.Kind == "given" && isForked[e.ID] != e.HasFlag("fork") {
			t.Errorf("consent %s (seq %d) flags %v; only the restored history's records are flagged fork", e.ID, e.Seq, e.Flags)
		}
	}
	for seq := uint64(1); seq <= 4*k; seq++ {
		want := 1
		if seq > 2*k {
			want = 2 // both histories kept
		}
		if atSeq[seq] != want {
			t.Errorf("epoch %s seq %d: the hub holds %d records, want %d", before.Epoch, seq, atSeq[seq], want)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
