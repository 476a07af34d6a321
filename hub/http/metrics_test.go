package http_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	hubhttp "github.com/attesta/attesta/hub/http"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/metrics"
)

func serveMetrics(t *testing.T, open bool) (*hubhttp.Server, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	cat, _ := fixtures.Catalog()
	st.Publish(ctx, cat)
	s := hubhttp.NewServer(st, http.NotFoundHandler())
	s.Addr, s.Logger = "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := metrics.NewRegistry()
	reg.Register(st)
	s.ServeMetrics(reg, open)
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx); st.Close() })
	return s, st
}

func scrape(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /metrics needs a read token unless open, and counts requests by route
// pattern: receipt tokens in paths never become labels.
func TestMetricsEndpoint(t *testing.T) {
	s, st := serveMetrics(t, false)
	read, _ := st.CreateToken(context.Background(), hub.ScopeRead)
	check, _ := st.CreateToken(context.Background(), hub.ScopeCheck)
	if code, _ := scrape(t, s.URL(), ""); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := scrape(t, s.URL(), check); code != 403 {
		t.Errorf("check token: %d", code)
	}
	resp, err := http.Get(s.URL() + "/r/secret-receipt-token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	code, body := scrape(t, s.URL(), read)
	if code != 200 {
		t.Fatalf("read token: %d", code)
	}
	if strings.Contains(body, "secret-receipt-token") {
		t.Errorf("a receipt token reached /metrics:\n%s", body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	for _, name := range []string{"attesta_hub_db_size_bytes", "attesta_hub_devices_enrolled", "attesta_hub_build_info", "attesta_hub_suggestions_queued",
		"attesta_hub_http_requests_total", "attesta_hub_http_request_duration_seconds"} {
		if fams[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	found := false
	for _, m := range fams["attesta_hub_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			found = found || (l.GetName() == "route" && l.GetValue() == "/r/{token}")
		}
	}
	if !found {
		t.Errorf("the receipt page is not counted as /r/{token}:\n%s", body)
	}

	open, _ := serveMetrics(t, true)
	if code, _ := scrape(t, open.URL(), ""); code != 200 {
		t.Errorf("metrics_open: %d without a token", code)
	}
}
