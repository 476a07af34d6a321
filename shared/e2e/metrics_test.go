package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/attesta/attesta/shared/wire"
)

// parseMetrics reads the text format with Prometheus' own parser.
func parseMetrics(t *testing.T, body string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("the Prometheus text parser refused /metrics: %v\n%s", err, body)
	}
	return fams
}

// hubMetrics scrapes the hub with a read token and parses the answer.
func hubMetrics(t *testing.T, h *Hub) map[string]*dto.MetricFamily {
	t.Helper()
	status, body, err := h.Metrics(true)
	if err != nil || status != 200 {
		t.Fatalf("GET /metrics: %d %v\n%s", status, err, body)
	}
	return parseMetrics(t, body)
}

func collectorMetrics(t *testing.T, c *Collector) map[string]*dto.MetricFamily {
	t.Helper()
	status, body, err := c.Metrics()
	if err != nil || status != 200 {
		t.Fatalf("GET /metrics: %d %v\n%s", status, err, body)
	}
	return parseMetrics(t, body)
}

// series finds the sample of family name whose labels include want (name,
// value pairs); ok is false when there is none.
func series(fams map[string]*dto.MetricFamily, name string, want ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// value is series that fails the test when the sample is missing.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := series(fams, name, labels...)
	if !ok {
		t.Fatalf("/metrics has no %s%v", name, labels)
	}
	return v
}

// /metrics on a real hub and collector parses with the Prometheus text
// parser, has the expected families, and its values follow a sync: records
// ingested, a quarantined record by its code, connected devices, the
// device's lag and pending count, API requests by route pattern with their
// latency, the database size; on the kiosk, captures, acks and pending.
func TestMetricsFollowASync(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))

	if status, _, err := h.Metrics(false); err != nil || status != 401 {
		t.Fatalf("GET /metrics without a token: %d %v, want 401", status, err)
	}
	before := hubMetrics(t, h)
	for name, want := range map[string]float64{"attesta_hub_records_ingested_total": 0, "attesta_hub_connected_devices": 0,
		"attesta_hub_records_duplicate_total": 0, "attesta_hub_records_conflict_total": 0, "attesta_hub_records_fork_total": 0,
		"attesta_hub_devices_enrolled": 1} {
		if got := value(t, before, name); got != want {
			t.Errorf("before the sync: %s = %v, want %v", name, got, want)
		}
	}
	if lag := value(t, before, "attesta_hub_device_sync_lag_seconds", "device", c.ID); lag != -1 {
		t.Errorf("a device that never connected has lag %v, want -1", lag)
	}
	dbBefore := value(t, before, "attesta_hub_db_size_bytes")
	if dbBefore <= 0 {
		t.Errorf("attesta_hub_db_size_bytes = %v", dbBefore)
	}

	c.Start()
	kiosk := collectorMetrics(t, c)
	if v := value(t, kiosk, "attesta_collector_captures_total"); v != 0 {
		t.Errorf("captures before any: %v", v)
	}
	const n = 25
	ids := c.CaptureN(n, 2)
	c.WaitSynced(60 * time.Second)
	waitConsents(t, h, c.ID, ids, 30*time.Second)
	h.Device(c.ID) // GET /api/v1/devices, counted below

	// One bad record from a fake device: quarantined with code "invalid".
	fake := EnrollFake(t, h.URL(), h.EnrollCode("Fake"))
	bad := fake.Next()
	bad.Sig[0] ^= 0xff
	sess := fake.Session(h.URL())
	if ack := sess.Push(bad); len(ack.Rejected) != 1 {
		t.Fatalf("ack %+v, want one rejection", ack)
	}
	sess.Send(&wire.Frame{Type: wire.THello}) // a protocol error ends the fake's session
	Eventually(t, 10*time.Second, "the fake's session to end", func() (bool, string) {
		v, _ := series(hubMetrics(t, h), "attesta_hub_connected_devices")
		return v == 1, ""
	})

	after := hubMetrics(t, h)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"attesta_hub_records_ingested_total", nil, 2 * n}, // each consent and its notice_viewed record
		{"attesta_hub_records_rejected_total", []string{"code", "invalid"}, 1},
		{"attesta_hub_records_duplicate_total", nil, 0},
		{"attesta_hub_connected_devices", nil, 1},
		{"attesta_hub_device_sync_lag_seconds", []string{"device", c.ID}, 0},
		{"attesta_hub_devices_enrolled", nil, 2},
		{"attesta_hub_sync_protocol_errors_total", nil, 1},
	}
	for _, ck := range checks {
		if got := value(t, after, ck.name, ck.labels...); got != ck.want {
			t.Errorf("after the sync: %s%v = %v, want %v", ck.name, ck.labels, got, ck.want)
		}
	}
	if v := value(t, after, "attesta_hub_device_pending_records", "device", c.ID); v < 0 {
		t.Errorf("pending at hello = %v", v)
	}
	if v := value(t, after, "attesta_hub_sync_batches_total"); v < 1 {
		t.Errorf("batches = %v", v)
	}
	if v := value(t, after, "attesta_hub_http_requests_total", "route", "/api/v1/devices", "method", "GET", "code", "200"); v < 1 {
		t.Errorf("GET /api/v1/devices counted %v times", v)
	}
	if v := value(t, after, "attesta_hub_http_request_duration_seconds", "route", "/api/v1/events", "method", "GET"); v < 1 {
		t.Errorf("GET /api/v1/events timed %v times", v)
	}
	if v := value(t, after, "attesta_hub_http_requests_total", "route", "/v1/sync", "method", "GET", "code", "101"); v != 1 {
		t.Errorf("sync sessions counted %v times, want the fake's, which ended (a session is counted when it ends)", v)
	}
	for _, m := range after["attesta_hub_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), c.ID) {
				t.Errorf("a raw path made a route label: %q", l.GetValue())
			}
		}
	}
	if v := value(t, after, "attesta_hub_db_size_bytes"); v <= dbBefore {
		t.Errorf("hub.db did not grow: %v then %v bytes", dbBefore, v)
	}
	if after["attesta_hub_http_request_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("request latency is not a histogram")
	}

	kiosk = collectorMetrics(t, c)
	for _, ck := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"attesta_collector_captures_total", nil, n},
		{"attesta_collector_captures_today", nil, n},
		{"attesta_collector_pending_records", nil, 0},
		{"attesta_collector_records_acked_total", nil, 2 * n},
		{"attesta_collector_acked_through", nil, 2 * n},
		{"attesta_collector_connected", nil, 1},
		{"attesta_collector_http_requests_total", []string{"route", "/api/v1/consents", "method", "POST", "code", "201"}, n},
	} {
		if got := value(t, kiosk, ck.name, ck.labels...); got != ck.want {
			t.Errorf("kiosk: %s%v = %v, want %v", ck.name, ck.labels, got, ck.want)
		}
	}
	if v := value(t, kiosk, "attesta_collector_db_size_bytes"); v <= 0 {
		t.Errorf("collector db size %v", v)
	}
	if v := value(t, kiosk, "attesta_collector_last_sync_timestamp_seconds"); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("last sync at %v", v)
	}
	st := c.MustStatus()
	var extra struct {
		DBSizeBytes        int64 `json:"db_size_bytes"`
		CapturesSinceStart int64 `json:"captures_since_start"`
	}
	getJSON(t, c.URL()+"/api/v1/status", &extra)
	if extra.DBSizeBytes <= 0 || extra.CapturesSinceStart != n || st.Pending != 0 {
		t.Errorf("status: %+v %+v", st, extra)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
