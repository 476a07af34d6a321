package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/metrics"
)

var _ hub.DeviceSyncStore = (*Store)(nil)

// DeviceSyncs lists every unrevoked device's last hello and the pending
// count it reported then.
func (s *Store) DeviceSyncs(ctx context.Context) ([]hub.DeviceSync, error) {
	rows, err := s.db.R.QueryContext(ctx, `SELECT id, last_seen, pending_reported FROM devices WHERE revoked_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list device sync state: %w", err)
	}
	defer rows.Close()
	var out []hub.DeviceSync
	for rows.Next() {
		var d hub.DeviceSync
		var seen sql.NullString
		if err := rows.Scan(&d.ID, &seen, &d.PendingReported); err != nil {
			return nil, err
		}
		if seen.Valid {
			d.LastSeen = parseTime(seen.String)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Collect writes the database's figures for /metrics (metrics.Collector).
func (s *Store) Collect(w *metrics.Writer) {
	w.Family("attesta_hub_db_size_bytes", "Size of hub.db and its write-ahead log.", metrics.Gauge)
	w.Sample("attesta_hub_db_size_bytes", float64(s.db.Size()))
	var n int64
	if err := s.db.R.QueryRowContext(w.Context(), `SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL`).Scan(&n); err == nil {
		w.Family("attesta_hub_devices_enrolled", "Enrolled devices not revoked.", metrics.Gauge)
		w.Sample("attesta_hub_devices_enrolled", float64(n))
	}
	if n, err := s.SuggestQueued(w.Context()); err == nil {
		w.Family("attesta_hub_suggestions_queued", "Ingested records whose match suggestions are still to be made.", metrics.Gauge)
		w.Sample("attesta_hub_suggestions_queued", float64(n))
	}
	var subjects, idents int
	if x := s.checks.Load(); x != nil {
		subjects, idents = x.size()
	}
	w.Family("attesta_hub_check_index_subjects", "Subjects held by the in-memory consent-check index (0 while it is built, or off).", metrics.Gauge)
	w.Sample("attesta_hub_check_index_subjects", float64(subjects))
	w.Family("attesta_hub_check_index_identifiers", "Identifiers held by the in-memory consent-check index.", metrics.Gauge)
	w.Sample("attesta_hub_check_index_identifiers", float64(idents))
	var seq, behind int64
	if err := s.db.R.QueryRowContext(w.Context(), `SELECT COALESCE(MAX(seq), 0),
		(SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL AND config_seq < (SELECT COALESCE(MAX(seq), 0) FROM config_log))
		FROM config_log`).Scan(&seq, &behind); err == nil {
		w.Family("attesta_hub_config_seq", "Newest entry of the config log (notices, purposes, touchpoints).", metrics.Gauge)
		w.Sample("attesta_hub_config_seq", float64(seq))
		w.Family("attesta_hub_devices_config_behind", "Devices not revoked that have not applied the newest config.", metrics.Gauge)
		w.Sample("attesta_hub_devices_config_behind", float64(behind))
	}
}
