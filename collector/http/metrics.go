package http

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/attesta/attesta/collector"
	"github.com/attesta/attesta/shared/metrics"
)

// figures are the server's running totals since start.
type figures struct {
	started  time.Time
	captures atomic.Int64
	refused  atomic.Int64
	mu       sync.Mutex
	last     time.Time // last capture
}

func (f *figures) captured(at time.Time) {
	f.captures.Add(1)
	f.mu.Lock()
	f.last = at
	f.mu.Unlock()
}

// figuresJSON is what the status adds to the outbox's figures.
type figuresJSON struct {
	DBSizeBytes        int64     `json:"db_size_bytes"`
	StartedAt          time.Time `json:"started_at"`
	CapturesSinceStart int64     `json:"captures_since_start"`
	RefusedSinceStart  int64     `json:"refused_since_start"`
	LastCaptureAt      time.Time `json:"last_capture_at,omitzero"`
}

func (s *Server) figuresJSON() figuresJSON {
	f := figuresJSON{StartedAt: s.figures.started.UTC(), CapturesSinceStart: s.figures.captures.Load(), RefusedSinceStart: s.figures.refused.Load()}
	if s.DBSize != nil {
		f.DBSizeBytes = s.DBSize()
	}
	s.figures.mu.Lock()
	f.LastCaptureAt = s.figures.last
	s.figures.mu.Unlock()
	return f
}

// SyncStats are the sync client's totals, when it keeps them.
type SyncStats interface {
	SyncSessions() int64
	RecordsAcked() int64
}

// ServeMetrics serves reg at GET /metrics (open, like the rest of the
// local API: the server listens on localhost) and counts every request of
// the server into it by route pattern. Call it before Open.
func (s *Server) ServeMetrics(reg *metrics.Registry) {
	reg.Register(metrics.CollectorFunc(s.collect))
	s.instrument = metrics.NewHTTP(reg, "attesta_collector").Wrap
	s.mux.Handle("GET /metrics", reg)
}

func (s *Server) collect(w *metrics.Writer) {
	gauge := func(name, help string, v float64, labels ...string) {
		w.Family(name, help, metrics.Gauge)
		w.Sample(name, v, labels...)
	}
	counter := func(name, help string, v int64) {
		w.Family(name, help, metrics.Counter)
		w.Sample(name, float64(v))
	}
	gauge("attesta_collector_build_info", "The running collector's version.", 1, "version", collector.Version)
	counter("attesta_collector_captures_total", "Consents captured and committed since start.", s.figures.captures.Load())
	counter("attesta_collector_captures_refused_total", "Capture submissions refused for a bad field since start.", s.figures.refused.Load())
	if st, ok := s.Sync.(SyncStats); ok {
		counter("attesta_collector_sync_sessions_total", "Sync sessions the hub welcomed since start.", st.SyncSessions())
		counter("attesta_collector_records_acked_total", "Records the hub acknowledged since start.", st.RecordsAcked())
	}
	connected, lastSync, _ := s.Sync.State()
	gauge("attesta_collector_connected", "1 while a sync session with the hub is up.", b2f(connected))
	last := 0.0
	if !lastSync.IsZero() {
		last = float64(lastSync.UnixMilli()) / 1000
	}
	gauge("attesta_collector_last_sync_timestamp_seconds", "When the outbox was last seen fully synced or a batch was acknowledged (Unix time; 0 never).", last)
	if s.DBSize != nil {
		gauge("attesta_collector_db_size_bytes", "Size of collector.db and its write-ahead log.", float64(s.DBSize()))
	}
	now := s.Now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	st, err := s.Outbox.Status(w.Context(), midnight)
	if err != nil {
		s.Logger.Warn("metrics: read outbox status", "err", err)
		return
	}
	gauge("attesta_collector_pending_records", "Records not yet acknowledged by the hub.", float64(st.Pending))
	gauge("attesta_collector_acked_through", "Sequence number the hub has acknowledged through in the current epoch.", float64(st.AckedThrough))
	gauge("attesta_collector_head_seq", "Last sequence number written in the current epoch.", float64(st.Head))
	gauge("attesta_collector_captures_today", "Consents captured since local midnight.", float64(st.CapturesToday))
	gauge("attesta_collector_records_rejected", "Records the hub quarantined.", float64(st.Rejected))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
