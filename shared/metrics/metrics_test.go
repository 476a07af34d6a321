package metrics_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/attesta/attesta/shared/metrics"
)

// parse reads the text format with Prometheus' own parser.
func parse(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("prometheus parser: %v\n%s", err, text)
	}
	return fams
}

func scrape(t *testing.T, r *metrics.Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.Write(context.Background(), &b); err != nil {
		t.Fatalf("write: %v\n%s", err, b.String())
	}
	return b.String()
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestExpositionParses(t *testing.T) {
	r := metrics.NewRegistry()
	c := metrics.NewCounter("x_records_total", "Records, with a \\ backslash\nand a newline.", "code")
	g := metrics.NewGauge("x_lag_seconds", "Lag.", "device")
	h := metrics.NewHistogram("x_latency_seconds", "Latency.", []float64{0.1, 1}, "route")
	plain := metrics.NewGauge("x_up", "Up.")
	r.Register(c, g, h, plain)
	odd := "a \"quoted\" \\ value\nwith a newline"
	c.With("invalid").Add(3)
	c.With(odd).Inc()
	c.With("invalid").Add(-5) // ignored: counters only go up
	g.With("dev-1").Set(1.5)
	g.With("dev-2").Set(math.Inf(1))
	plain.With().Set(1e20)
	for _, v := range []float64{0.05, 0.1, 0.5, 3} {
		h.With("/api/v1/events").Observe(v)
	}
	text := scrape(t, r)
	fams := parse(t, text)

	rec := fams["x_records_total"]
	if rec.GetType() != dto.MetricType_COUNTER || rec.GetHelp() != "Records, with a \\ backslash\nand a newline." {
		t.Errorf("records family: %v", rec)
	}
	got := map[string]float64{}
	for _, m := range rec.GetMetric() {
		got[label(m, "code")] = m.GetCounter().GetValue()
	}
	if got["invalid"] != 3 || got[odd] != 1 || len(got) != 2 {
		t.Errorf("counter values %v", got)
	}
	lag := map[string]float64{}
	for _, m := range fams["x_lag_seconds"].GetMetric() {
		lag[label(m, "device")] = m.GetGauge().GetValue()
	}
	if lag["dev-1"] != 1.5 || !math.IsInf(lag["dev-2"], 1) {
		t.Errorf("gauge values %v", lag)
	}
	if v := fams["x_up"].GetMetric()[0].GetGauge().GetValue(); v != 1e20 {
		t.Errorf("x_up = %v", v)
	}
	hist := fams["x_latency_seconds"].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 4 || math.Abs(hist.GetSampleSum()-3.65) > 1e-9 {
		t.Errorf("histogram count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	wantCum := map[float64]uint64{0.1: 2, 1: 3} // le is inclusive: 0.1 falls in le="0.1"
	for _, b := range hist.GetBucket() {
		if want, ok := wantCum[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if !strings.Contains(text, `x_latency_seconds_bucket{route="/api/v1/events",le="+Inf"} 4`) {
		t.Errorf("no +Inf bucket:\n%s", text)
	}
}

func TestWriterRefusesBadFamilies(t *testing.T) {
	r := metrics.NewRegistry()
	r.Register(metrics.CollectorFunc(func(w *metrics.Writer) {
		w.Family("ok_total", "fine", metrics.Counter)
		w.Sample("ok_total", 1)
		w.Family("ok_total", "again", metrics.Counter)
		w.Sample("ok_total", 2)
		w.Family("bad name", "no", metrics.Gauge)
		w.Sample("bad name", 1)
	}))
	var b bytes.Buffer
	err := r.Write(context.Background(), &b)
	if err == nil || !strings.Contains(err.Error(), `"ok_total" written twice`) {
		t.Fatalf("err = %v", err)
	}
	fams := parse(t, b.String())
	if len(fams) != 1 || fams["ok_total"].GetMetric()[0].GetCounter().GetValue() != 1 {
		t.Fatalf("the duplicate or the bad family was written:\n%s", b.String())
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1e6: "1000000", 0.25: "0.25", -3: "-3", math.Inf(-1): "-Inf", 1e300: "1e+300"} {
		if got := metrics.FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
	if metrics.FormatValue(math.NaN()) != "NaN" {
		t.Error("NaN")
	}
}

// Requests are counted by the pattern that matched, not the path, and a
// hijacked connection is counted without a latency.
func TestHTTPByRoutePattern(t *testing.T) {
	r := metrics.NewRegistry()
	h := metrics.NewHTTP(r, "x")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /devices/{id}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /upgrade", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: close\r\n\r\n")
		rw.Flush()
		c.Close()
	})
	srv := httptest.NewServer(h.Wrap(mux))
	defer srv.Close()
	for _, p := range []string{"/devices/a", "/devices/b", "/ok", "/nothing-here"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET /upgrade HTTP/1.1\r\nHost: x\r\n\r\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.Contains(line, "101") {
		t.Fatalf("upgrade answered %q", line)
	}
	// The hijacked request is counted when its handler returns, which may
	// be just after the client has read the 101.
	var fams map[string]*dto.MetricFamily
	counts := map[string]float64{}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		fams = parse(t, scrape(t, r))
		clear(counts)
		for _, m := range fams["x_http_requests_total"].GetMetric() {
			counts[label(m, "route")+" "+label(m, "method")+" "+label(m, "code")] = m.GetCounter().GetValue()
		}
		if counts["/upgrade GET 101"] > 0 || time.Now().After(deadline) {
			break
		}
	}
	want := map[string]float64{"/devices/{id} GET 404": 2, "/ok GET 200": 1, "unmatched GET 404": 1, "/upgrade GET 101": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("requests %q = %v, want %v (all: %v)", k, counts[k], v, counts)
		}
	}
	timed := 0
	for _, m := range fams["x_http_request_duration_seconds"].GetMetric() {
		if label(m, "route") == "/upgrade" {
			t.Error("a hijacked connection was timed")
		}
		timed += int(m.GetHistogram().GetSampleCount())
	}
	if timed != 4 {
		t.Errorf("%d requests timed, want 4", timed)
	}
}
