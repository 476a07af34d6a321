package ws

import (
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/metrics"
	"github.com/attesta/attesta/shared/wire"
)

// figures are the running totals Stats has no room for: refusals by code
// and when each device last said hello or had a batch committed.
type figures struct {
	mu       sync.Mutex
	rejected map[string]int64
	active   map[string]time.Time
}

func (f *figures) touch(device string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.active == nil {
		f.active = map[string]time.Time{}
	}
	f.active[device] = at
}

func (f *figures) committed(device string, at time.Time, rejected []wire.Rejection) {
	f.touch(device, at)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejected == nil {
		f.rejected = map[string]int64{}
	}
	for _, r := range rejected {
		f.rejected[r.Code]++
	}
}

func (f *figures) snapshot() (rejected map[string]int64, active map[string]time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.rejected), maps.Clone(f.active)
}

// Collect writes the sync figures for /metrics (metrics.Collector). The
// per-device families need a store that is a hub.DeviceSyncStore.
func (s *Server) Collect(w *metrics.Writer) {
	counter := func(name, help string, v int64) {
		w.Family(name, help, metrics.Counter)
		w.Sample(name, float64(v))
	}
	counter("attesta_hub_records_ingested_total", "Records stored for the first time.", s.Stats.Accepted.Load())
	counter("attesta_hub_records_duplicate_total", "Records received again with the same content (a resend), stored once.", s.Stats.Duplicates.Load())
	counter("attesta_hub_records_conflict_total", "Records with a known id but other content, kept as conflict evidence.", s.Stats.Conflicts.Load())
	counter("attesta_hub_records_fork_total", "Records at a device position the hub already holds with another history (a restored database), kept as a fork.", s.Stats.Forks.Load())
	rejected, active := s.figures.snapshot()
	w.Family("attesta_hub_records_rejected_total", "Records quarantined, by refusal code.", metrics.Counter)
	for _, code := range sortedKeys(rejected) {
		w.Sample("attesta_hub_records_rejected_total", float64(rejected[code]), "code", code)
	}
	counter("attesta_hub_sync_batches_total", "Batches committed and acknowledged.", s.Stats.Batches.Load())
	counter("attesta_hub_sync_protocol_errors_total", "Sync sessions ended for a protocol error.", s.Stats.ProtocolErrors.Load())
	counter("attesta_hub_sync_auth_failures_total", "Sync connections refused before the upgrade (unknown or revoked device).", s.Stats.AuthFailures.Load())
	w.Family("attesta_hub_connected_devices", "Devices with a live sync session.", metrics.Gauge)
	w.Sample("attesta_hub_connected_devices", float64(s.Stats.Sessions.Load()))

	store, ok := s.Store.(hub.DeviceSyncStore)
	if !ok {
		return
	}
	devs, err := store.DeviceSyncs(w.Context())
	if err != nil {
		s.Logger.Warn("metrics: read device sync state", "err", err)
		return
	}
	connected := map[string]bool{}
	for _, id := range s.Connected() {
		connected[id] = true
	}
	now := s.Now()
	w.Family("attesta_hub_device_sync_lag_seconds",
		"Seconds since the device was last heard from (hello or a committed batch); 0 while connected, -1 if never.", metrics.Gauge)
	for _, d := range devs {
		last := d.LastSeen
		if t := active[d.ID]; t.After(last) {
			last = t
		}
		lag := -1.0
		switch {
		case connected[d.ID]:
			lag = 0
		case !last.IsZero():
			lag = max(now.Sub(last).Seconds(), 0)
		}
		w.Sample("attesta_hub_device_sync_lag_seconds", lag, "device", d.ID)
	}
	w.Family("attesta_hub_device_pending_records", "Records the device held unacknowledged when it last said hello.", metrics.Gauge)
	for _, d := range devs {
		w.Sample("attesta_hub_device_pending_records", float64(d.PendingReported), "device", d.ID)
	}
}

func sortedKeys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
