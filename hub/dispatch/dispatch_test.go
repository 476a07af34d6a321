package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/dispatch"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/metrics"
	"github.com/attesta/attesta/shared/webhook"
)

// clock is a fake clock that retry waits advance.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// feed appends notifications to the change feed as the hub's writers do.
func feed(t *testing.T, st *sqlite.Store, typ, subject string, n int) {
	t.Helper()
	for i := range n {
		if _, err := st.DB().W.Exec(`INSERT INTO notifications (type, subject_id, created_at, data) VALUES (?, ?, ?, ?)`,
			typ, subject, hub.FormatTime(time.Now()), fmt.Sprintf(`{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
}

// receiver records what it accepts after checking signatures.
type receiver struct {
	t      *testing.T
	secret string
	now    func() time.Time
	answer func(p dispatch.Payload) (int, http.Header) // nil: 204

	mu   sync.Mutex
	got  []dispatch.Payload
	hits int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := webhook.Verify(rc.secret, r.Header.Get(webhook.SignatureHeader), body, 0, rc.now()); err != nil {
		rc.t.Errorf("signature: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var p dispatch.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.ID != r.Header.Get(webhook.EventIDHeader) || p.Type != r.Header.Get(webhook.EventTypeHeader) {
		rc.t.Errorf("payload %s (%v), headers %v", body, err, r.Header)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hits++
	status, h := http.StatusNoContent, http.Header{}
	if rc.answer != nil {
		status, h = rc.answer(p)
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	if status < 300 {
		rc.got = append(rc.got, p)
	}
}

func (rc *receiver) delivered() []dispatch.Payload {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

func start(t *testing.T, d *dispatch.Dispatcher) {
	t.Helper()
	if err := d.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Error(err)
		}
	})
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReceiverDownForAnHour(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	back := clk.now.Add(time.Hour)
	rc := &receiver{t: t, now: clk.Now}
	rc.answer = func(p dispatch.Payload) (int, http.Header) {
		if clk.Now().Before(back) {
			return http.StatusServiceUnavailable, nil
		}
		return http.StatusOK, nil
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, err := st.CreateWebhook(ctx, hub.NewWebhook{URL: srv.URL, Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	rc.secret = wh.Secret
	feed(t, st, hub.NotifyConsentChanged, "s1", 3)

	d := dispatch.New(st)
	d.Now, d.Sleep, d.Poll, d.MaxBackoff = clk.Now, clk.Sleep, 5*time.Millisecond, 5*time.Minute
	start(t, d)
	fed, err := st.Notifications(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The receiver sees the third delivery before the hub logs it.
	eventually(t, "three deliveries and the cursor at the end", func() bool {
		w, _ := st.Webhook(ctx, wh.ID)
		return len(rc.delivered()) == 3 && w.Cursor == fed[len(fed)-1].Seq
	})

	// It never gave up: it kept trying for the whole hour, the waits grew
	// from a second to the 5-minute cap (with ±50% jitter) and stayed there.
	waits := clk.waits()
	var total time.Duration
	for i, w := range waits {
		total += w
		if w > 5*time.Minute*3/2 || w <= 0 {
			t.Fatalf("wait %d is %s", i, w)
		}
	}
	if total < time.Hour || waits[0] > 2*time.Second || len(waits) < 12 || len(waits) > 60 {
		t.Fatalf("%d waits totalling %s: %v", len(waits), total, waits)
	}
	capped := 0
	for _, w := range waits {
		if w >= 5*time.Minute/2 {
			capped++
		}
	}
	if capped < 6 {
		t.Fatalf("backoff did not reach its cap: %v", waits)
	}
	got := rc.delivered()
	for i, p := range got {
		if p.ID != fmt.Sprint(i+1) {
			t.Fatalf("delivered out of order or twice: %+v", got)
		}
	}
	// The log shows every attempt.
	ds, err := st.Deliveries(ctx, wh.ID, false, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(waits)+3 || ds[len(ds)-1].Outcome != hub.DeliveryRetry || ds[len(ds)-1].StatusCode != 503 || ds[0].Outcome != hub.DeliveryDelivered {
		t.Fatalf("%d log entries for %d waits: first %+v last %+v", len(ds), len(waits), ds[len(ds)-1], ds[0])
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	st := openStore(t)
	clk := &clock{now: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}
	rc := &receiver{t: t, now: clk.Now}
	rc.answer = func(p dispatch.Payload) (int, http.Header) {
		if rc.hits == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"120"}}
		}
		return http.StatusOK, nil
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, _ := st.CreateWebhook(context.Background(), hub.NewWebhook{URL: srv.URL, Events: []string{hub.NotifyConsentChanged}})
	rc.secret = wh.Secret
	feed(t, st, hub.NotifyConsentChanged, "s1", 1)
	d := dispatch.New(st)
	d.Now, d.Sleep, d.Poll = clk.Now, clk.Sleep, 5*time.Millisecond
	start(t, d)
	eventually(t, "the delivery", func() bool { return len(rc.delivered()) == 1 })
	if w := clk.waits(); len(w) != 1 || w[0] != 2*time.Minute {
		t.Fatalf("waits %v, want the 2 minutes asked", w)
	}
}

func TestOrderPerSubjectAndFilter(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	clk := &clock{now: time.Now()}
	rc := &receiver{t: t, now: time.Now}
	rc.answer = func(p dispatch.Payload) (int, http.Header) {
		if rc.hits%3 == 0 { // every third attempt fails
			return http.StatusBadGateway, nil
		}
		return http.StatusAccepted, nil
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, _ := st.CreateWebhook(ctx, hub.NewWebhook{URL: srv.URL, Events: []string{hub.NotifyConsentChanged, hub.NotifySubjectErased}})
	rc.secret = wh.Secret
	for i := range 40 {
		feed(t, st, hub.NotifyConsentChanged, fmt.Sprintf("s%d", i%4), 1)
		if i%10 == 0 {
			feed(t, st, hub.NotifyConfigChanged, "", 2) // not subscribed
		}
	}
	feed(t, st, hub.NotifyConfigChanged, "", 3) // trailing, passed over
	d := dispatch.New(st)
	d.Sleep, d.Poll, d.Batch = clk.Sleep, 5*time.Millisecond, 7
	start(t, d)
	eventually(t, "forty deliveries and the cursor at the end", func() bool {
		w, _ := st.Webhook(ctx, wh.ID)
		return len(rc.delivered()) == 40 && w.Cursor == 51
	})
	last := map[string]int{}
	seen := map[string]bool{}
	for _, p := range rc.delivered() {
		var seq int
		fmt.Sscan(p.ID, &seq)
		if p.Type != hub.NotifyConsentChanged || seen[p.ID] || seq <= last[p.SubjectID] {
			t.Fatalf("%+v after %d (seen %v)", p, last[p.SubjectID], seen[p.ID])
		}
		seen[p.ID], last[p.SubjectID] = true, seq
	}
}

func TestRefusalPausesUntilResumed(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	var broken sync.Map
	broken.Store("2", true)
	rc := &receiver{t: t, now: time.Now}
	rc.answer = func(p dispatch.Payload) (int, http.Header) {
		if _, ok := broken.Load(p.ID); ok {
			time.Sleep(20 * time.Millisecond) // a lower bound for the logged duration
			return http.StatusUnprocessableEntity, nil
		}
		return http.StatusOK, nil
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	wh, _ := st.CreateWebhook(ctx, hub.NewWebhook{URL: srv.URL, Events: []string{"*"}})
	rc.secret = wh.Secret
	feed(t, st, hub.NotifyConsentChanged, "s1", 3)
	d := dispatch.New(st)
	d.Poll = 5 * time.Millisecond
	start(t, d)
	eventually(t, "the pause", func() bool { w, _ := st.Webhook(ctx, wh.ID); return w.Paused != nil })
	w, _ := st.Webhook(ctx, wh.ID)
	if w.Paused.Seq != 2 || w.Cursor != 1 || !strings.Contains(w.Paused.Reason, "422") {
		t.Fatalf("paused %+v at cursor %d", w.Paused, w.Cursor)
	}
	failed, _ := st.Deliveries(ctx, wh.ID, true, 10)
	if len(failed) != 1 || failed[0].Seq != 2 || failed[0].StatusCode != 422 || failed[0].DurationMS < 20 {
		t.Fatalf("failed deliveries %+v", failed)
	}
	var out strings.Builder
	reg := metrics.NewRegistry()
	reg.Register(d)
	reg.Write(ctx, &out)
	for _, want := range []string{`attesta_hub_webhook_deliveries_total{webhook="` + wh.ID + `",outcome="failed"} 1`,
		`attesta_hub_webhook_paused{webhook="` + wh.ID + `"} 1`, `attesta_hub_webhook_pending{webhook="` + wh.ID + `"} 2`} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("metrics lack %s:\n%s", want, out.String())
		}
	}
	// The receiver is fixed; an admin resumes and the same notification goes.
	broken.Delete("2")
	if _, err := st.ResumeWebhook(ctx, wh.ID, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rest", func() bool { return len(rc.delivered()) == 3 })
	if _, err := st.ResumeWebhook(ctx, wh.ID, false); err == nil {
		t.Fatal("resumed a webhook that is not paused")
	}

	// Skipping: the refused notification is logged as skipped, the rest go.
	broken.Store("4", true)
	feed(t, st, hub.NotifyConsentChanged, "s1", 2)
	eventually(t, "the second pause", func() bool { w, _ := st.Webhook(ctx, wh.ID); return w.Paused != nil })
	if _, err := st.ResumeWebhook(ctx, wh.ID, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the one after the skipped", func() bool { return len(rc.delivered()) == 4 })
	if got := rc.delivered(); got[3].ID != "5" {
		t.Fatalf("delivered %+v", got)
	}
	ds, _ := st.Deliveries(ctx, wh.ID, false, 100)
	if !slices.ContainsFunc(ds, func(d hub.Delivery) bool { return d.Seq == 4 && d.Outcome == hub.DeliverySkipped }) {
		t.Fatalf("the skip is not logged: %+v", ds)
	}
}

func TestNoRedirectToAnotherHost(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	var elsewhere int
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere++ }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	wh, _ := st.CreateWebhook(ctx, hub.NewWebhook{URL: srv.URL, Events: []string{"*"}})
	feed(t, st, hub.NotifyConsentChanged, "s1", 1)
	d := dispatch.New(st)
	d.Poll = 5 * time.Millisecond
	start(t, d)
	eventually(t, "the pause", func() bool { w, _ := st.Webhook(ctx, wh.ID); return w.Paused != nil })
	w, _ := st.Webhook(ctx, wh.ID)
	if elsewhere != 0 || !strings.Contains(w.Paused.Reason, "not followed") {
		t.Fatalf("other host hit %d times; pause %+v", elsewhere, w.Paused)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"30":                            30 * time.Second,
		" 5 ":                           5 * time.Second,
		"-3":                            0,
		"0":                             0,
		"soon":                          0,
		"Mon, 04 May 2026 09:02:00 GMT": 2 * time.Minute,
		"Mon, 04 May 2026 08:00:00 GMT": 0,
		"99999999999999999999":          0,
	} {
		if got := dispatch.RetryAfter(v, now); got != want {
			t.Errorf("RetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "30", "-1", "Mon, 04 May 2026 09:02:00 GMT", "Monday, 04-May-26 09:02:00 GMT", "9223372036854775807"} {
		f.Add(s)
	}
	now := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := dispatch.RetryAfter(v, now); d < 0 {
			t.Fatalf("RetryAfter(%q) = %s", v, d)
		}
	})
}

// BenchmarkDeliver measures one webhook's throughput to a receiver on
// loopback that answers at once: deliveries go one at a time, each logged
// and its cursor committed.
func BenchmarkDeliver(b *testing.B) {
	const n = 2000
	for range b.N {
		b.StopTimer()
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "hub.db"))
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
		wh, _ := st.CreateWebhook(context.Background(), hub.NewWebhook{URL: srv.URL, Events: []string{"*"}})
		for i := range n {
			st.DB().W.Exec(`INSERT INTO notifications (type, subject_id, created_at, data) VALUES ('consent.changed', ?, ?, '{}')`,
				fmt.Sprint(i%50), hub.FormatTime(time.Now()))
		}
		d := dispatch.New(st)
		d.Poll = time.Millisecond
		b.StartTimer()
		start := time.Now()
		d.Open()
		for {
			w, _ := st.Webhook(context.Background(), wh.ID)
			if w.Cursor == n {
				break
			}
			time.Sleep(time.Millisecond)
		}
		b.ReportMetric(n/time.Since(start).Seconds(), "deliveries/s")
		b.StopTimer()
		d.Close(context.Background())
		srv.Close()
		st.Close()
	}
}
