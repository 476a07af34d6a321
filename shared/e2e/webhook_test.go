package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type hookInfo struct {
	ID     string `json:"id"`
	Cursor int64  `json:"cursor"`
	Paused *struct {
		Seq int64 `json:"seq"`
	} `json:"paused"`
}

// addWebhook adds a webhook for r with the CLI and returns its id.
func addWebhook(t *testing.T, h *Hub, r *Receiver, events string) string {
	t.Helper()
	out, stderr, err := RunErr(Binaries.Hub, "webhook", "add", r.URL(), "--events", events, "--description", "CRM", "--data", h.Dir)
	if err != nil {
		t.Fatalf("webhook add: %v %s", err, stderr)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "whsec_") || strings.Contains(secret, "\n") {
		t.Fatalf("webhook add printed %q, want the secret alone", out)
	}
	r.mu.Lock()
	r.Secret = secret
	r.mu.Unlock()
	var hooks []hookInfo
	if err := json.Unmarshal([]byte(Run(t, Binaries.Hub, "webhook", "list", "--json", "--data", h.Dir)), &hooks); err != nil || len(hooks) != 1 {
		t.Fatalf("webhook list: %v %v", hooks, err)
	}
	if strings.Contains(Run(t, Binaries.Hub, "webhook", "list", "--json", "--data", h.Dir), secret) {
		t.Fatal("webhook list shows the secret")
	}
	return hooks[0].ID
}

type deliveryRow struct {
	Seq        int64  `json:"seq"`
	Outcome    string `json:"outcome"`
	StatusCode int    `json:"status_code"`
	Error      string `json:"error"`
}

func deliveryLog(t *testing.T, h *Hub, id string) []deliveryRow {
	t.Helper()
	var ds []deliveryRow
	if err := json.Unmarshal([]byte(Run(t, Binaries.Hub, "webhook", "deliveries", id, "--json", "--limit", "10000", "--data", h.Dir)), &ds); err != nil {
		t.Fatal(err)
	}
	return ds
}

// consentFeed is the seqs of the hub's consent.changed notifications.
func consentFeed(h *Hub) []string {
	var out []string
	for _, n := range h.Feed() {
		if n.Type == "consent.changed" {
			out = append(out, fmt.Sprint(n.Seq))
		}
	}
	return out
}

// A CRM's receiver is down (connection refused), then answers 503, then
// comes up: it gets every consent change once, signed, in feed order, and
// each subject's changes follow on from each other.
func TestWebhookReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	h := NewHub(t, "--webhook-max-backoff", "2s")
	rc := NewReceiver(t)
	id := addWebhook(t, h, rc, "consent.changed,subject.erased")
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth"))
	c.Start()
	for i := range 4 {
		if _, err := c.CaptureJSON(person("Ada", fmt.Sprintf("Visitor%d", i), fmt.Sprintf("v%d@esempio.it", i), "",
			map[string]bool{"newsletter": true, "sms": i%2 == 0})); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitSynced(30 * time.Second)
	check := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "check"))
	for i := range 2 { // two unsubscribe from the newsletter
		body := fmt.Sprintf(`{"email":"v%d@esempio.it","purposes":["newsletter"],"channel":"newsletter-engine"}`, i)
		if code := api(t, h, check, "POST", "/api/v1/withdrawals", body, nil); code != 201 {
			t.Fatalf("withdrawal: %d", code)
		}
	}
	want := consentFeed(h)
	if len(want) != 4*2+2 {
		t.Fatalf("%d consent.changed notifications, want 10", len(want))
	}

	Eventually(t, 30*time.Second, "refused connections in the delivery log", func() (bool, string) {
		ds := deliveryLog(t, h, id)
		refused := 0
		for _, d := range ds {
			if d.Outcome == "retry" && d.StatusCode == 0 && strings.Contains(d.Error, "refused") {
				refused++
			}
		}
		return refused >= 2, fmt.Sprint(ds)
	})
	rc.mu.Lock()
	rc.Answer = func(d Delivery, attempt int) int {
		if attempt <= 3 {
			return 503
		}
		return 200
	}
	rc.mu.Unlock()
	rc.Up()
	Eventually(t, 60*time.Second, "every change delivered", func() (bool, string) {
		return len(rc.Accepted()) >= len(want), fmt.Sprintf("%d of %d", len(rc.Accepted()), len(want))
	})
	if bad := rc.Bad(); len(bad) > 0 {
		t.Fatalf("deliveries failed verification: %v", bad)
	}
	got := rc.Accepted()
	if len(got) != len(want) || rc.Attempts() != len(want)+3 {
		t.Fatalf("accepted %d (attempts %d), want %d once each after 3 refusals", len(got), rc.Attempts(), len(want))
	}
	last := map[string]string{} // subject/purpose → decision
	for i, d := range got {
		if d.ID != want[i] || d.Type != "consent.changed" {
			t.Fatalf("delivery %d is %s %s, want %s (feed order, once each)", i, d.ID, d.Type, want[i])
		}
		var c struct {
			SubjectID string `json:"subject_id"`
			Purpose   string `json:"purpose"`
			Decision  string `json:"decision"`
			Previous  string `json:"previous"`
		}
		if err := json.Unmarshal(d.Data, &c); err != nil {
			t.Fatal(err)
		}
		key := d.SubjectID + "/" + c.Purpose
		prev, ok := last[key]
		if !ok {
			prev = "unknown"
		}
		if c.Previous != prev || c.SubjectID != d.SubjectID {
			t.Fatalf("delivery %s: %+v follows %q for %s", d.ID, c, prev, key)
		}
		last[key] = c.Decision
	}
	if last[got[0].SubjectID+"/newsletter"] != "denied" {
		t.Fatalf("the first visitor's withdrawal is not the last word: %v", last)
	}
	var retries503 int
	for _, d := range deliveryLog(t, h, id) {
		if d.Outcome == "retry" && d.StatusCode == 503 {
			retries503++
		}
	}
	if retries503 != 3 {
		t.Fatalf("%d 503s in the delivery log, want 3", retries503)
	}
	// A second receiver added later --from-start gets the whole history.
	late := NewReceiver(t)
	late.Up()
	out, stderr, err := RunErr(Binaries.Hub, "webhook", "add", late.URL(), "--events", "consent.changed", "--from-start", "--data", h.Dir)
	if err != nil {
		t.Fatalf("webhook add --from-start: %v %s", err, stderr)
	}
	late.mu.Lock()
	late.Secret = strings.TrimSpace(out)
	late.mu.Unlock()
	Eventually(t, 30*time.Second, "the history delivered to a webhook added later", func() (bool, string) {
		return len(late.Accepted()) >= len(want), fmt.Sprint(len(late.Accepted()))
	})
	for i, d := range late.Accepted() {
		if i >= len(want) || d.ID != want[i] {
			t.Fatalf("from the start: delivery %d is %s, want %v", i, d.ID, want)
		}
	}

	_, metrics, err := h.Metrics(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`attesta_hub_webhook_deliveries_total{webhook=%q,outcome="delivered"} %d`, id, len(want)),
		fmt.Sprintf(`attesta_hub_webhook_lag_seconds{webhook=%q} 0`, id),
	} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, metrics)
		}
	}
}

// The hub is killed while a delivery is in flight: after a restart it goes
// on from its durable cursor. What was acknowledged before is not sent
// again; the one in flight is (at least once: receivers deduplicate by id).
func TestWebhookResumesAfterHubRestart(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	rc := NewReceiver(t)
	inFlight := make(chan string, 1)
	release := make(chan struct{})
	var first atomic.Bool
	rc.Answer = func(d Delivery, attempt int) int {
		if attempt == 4 && first.CompareAndSwap(false, true) {
			inFlight <- d.ID
			<-release // the hub dies before this answer reaches it
		}
		return 200
	}
	rc.Up()
	id := addWebhook(t, h, rc, "consent.changed")
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth"))
	c.Start()
	for i := range 3 {
		if _, err := c.CaptureJSON(person("Ada", "Lovelace", fmt.Sprintf("ada%d@esempio.it", i), "",
			map[string]bool{"newsletter": true, "sms": true, "profiling": false})); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitSynced(30 * time.Second)
	want := consentFeed(h)
	if len(want) != 9 {
		t.Fatalf("feed %v, want 3 changes for each of 3 visitors", want)
	}
	var cut string
	select {
	case cut = <-inFlight:
	case <-time.After(60 * time.Second):
		t.Fatal("the fourth delivery never came")
	}
	h.Kill()
	close(release)
	var before hookInfo
	if err := json.Unmarshal([]byte(Run(t, Binaries.Hub, "webhook", "list", "--json", "--data", h.Dir)), &[]*hookInfo{&before}); err != nil {
		t.Fatal(err)
	}
	third, _ := strconv.ParseInt(want[2], 10, 64)
	fourth, _ := strconv.ParseInt(want[3], 10, 64)
	if before.Cursor < third || before.Cursor >= fourth {
		t.Fatalf("cursor %d after three deliveries, want from %s to before %s", before.Cursor, want[2], want[3])
	}
	h.Start()
	Eventually(t, 60*time.Second, "every change delivered after the restart", func() (bool, string) {
		return len(rc.Accepted()) >= len(want)+1, fmt.Sprintf("%d of %d", len(rc.Accepted()), len(want)+1)
	})
	got := rc.Accepted()
	count := map[string]int{}
	for _, d := range got {
		count[d.ID]++
	}
	for _, w := range want {
		n := count[w]
		if (w == cut && n != 2) || (w != cut && n != 1) {
			t.Fatalf("%s delivered %d times (in flight at the kill: %s): %v", w, n, cut, count)
		}
	}
	if len(got) != len(want)+1 || len(rc.Bad()) > 0 {
		t.Fatalf("%d deliveries for %d changes; bad %v", len(got), len(want), rc.Bad())
	}

	// A graceful stop does not wait for a receiver that hangs: the attempt
	// is cut off and made again after the restart.
	hang := make(chan struct{})
	hanging := make(chan string, 1)
	rc.mu.Lock()
	rc.Answer = func(d Delivery, attempt int) int {
		select {
		case hanging <- d.ID:
			<-hang
			return 500
		default:
			return 200
		}
	}
	rc.mu.Unlock()
	defer close(hang)
	check := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "check"))
	if code := api(t, h, check, "POST", "/api/v1/withdrawals", `{"email":"ada0@esempio.it","purposes":["newsletter"],"channel":"newsletter-engine"}`, nil); code != 201 {
		t.Fatalf("withdrawal: %d", code)
	}
	var withdrawn string
	select {
	case withdrawn = <-hanging:
	case <-time.After(60 * time.Second):
		t.Fatal("the withdrawal was never delivered")
	}
	h.Stop()
	if out := h.Proc.Output(); !strings.Contains(out, "shutdown complete") || strings.Contains(out, "deadline reached") {
		t.Fatalf("the hub did not stop cleanly while a receiver hung:\n%s", out)
	}
	h.Start()
	Eventually(t, 60*time.Second, "the withdrawal delivered after the restart", func() (bool, string) {
		for _, d := range rc.Accepted() {
			if d.ID == withdrawn {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(rc.Accepted()))
	})
	var after []hookInfo
	if err := json.Unmarshal([]byte(Run(t, Binaries.Hub, "webhook", "list", "--json", "--data", h.Dir)), &after); err != nil || after[0].ID != id {
		t.Fatal(after, err)
	}
}

// The admin API adds, lists, shows and removes webhooks, refuses bad ones
// and other scopes.
func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	admin := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "admin"))
	var created struct {
		ID     string   `json:"id"`
		Secret string   `json:"secret"`
		Events []string `json:"events"`
	}
	if code := api(t, h, admin, "POST", "/api/v1/webhooks", `{"url":"https://crm.example.com/hooks","events":["request.created","consent.changed"]}`, &created); code != 201 ||
		!strings.HasPrefix(created.Secret, "whsec_") || strings.Join(created.Events, ",") != "consent.changed,request.created" {
		t.Fatalf("create: %d %+v", code, created)
	}
	for body, msg := range map[string]string{
		`{"url":"ftp://crm.example.com","events":["consent.changed"]}`:   "http:// or https://",
		`{"url":"https://crm.example.com","events":["consent.chnaged"]}`: `unknown event "consent.chnaged"`,
		`{"url":"https://crm.example.com","events":[]}`:                  "at least one event",
		`{"url":"https://u:p@crm.example.com","events":["*"]}`:           "credentials",
		`{"url":"https://crm.example.com","events":["*"],"secret":"x"}`:  "unknown field",
	} {
		var e struct{ Error struct{ Message string } }
		if code := api(t, h, admin, "POST", "/api/v1/webhooks", body, &e); code != 400 || !strings.Contains(e.Error.Message, msg) {
			t.Errorf("%s: %d %q, want 400 %q", body, code, e.Error.Message, msg)
		}
	}
	if code := api(t, h, h.Token(), "GET", "/api/v1/webhooks", "", nil); code != 403 {
		t.Fatalf("a read token listed webhooks: %d", code)
	}
	var list struct{ Webhooks []map[string]any }
	if code := api(t, h, admin, "GET", "/api/v1/webhooks", "", &list); code != 200 || len(list.Webhooks) != 1 || list.Webhooks[0]["secret"] != nil {
		t.Fatalf("list: %d %+v", code, list)
	}
	var ds struct{ Deliveries []any }
	if code := api(t, h, admin, "GET", "/api/v1/webhooks/"+created.ID+"/deliveries?failed=true", "", &ds); code != 200 || ds.Deliveries == nil {
		t.Fatalf("deliveries: %d %+v", code, ds)
	}
	if code := api(t, h, admin, "POST", "/api/v1/webhooks/"+created.ID+"/resume", "", nil); code != 409 {
		t.Fatalf("resuming a webhook that is not paused: %d", code)
	}
	// webhook test sends one signed webhook.test and says how it went.
	rc := NewReceiver(t)
	rc.Up()
	var live struct{ ID, Secret string }
	if code := api(t, h, admin, "POST", "/api/v1/webhooks", fmt.Sprintf(`{"url":%q,"events":["*"]}`, rc.URL()), &live); code != 201 {
		t.Fatalf("create: %d", code)
	}
	rc.mu.Lock()
	rc.Secret = live.Secret
	rc.mu.Unlock()
	if out := Run(t, Binaries.Hub, "webhook", "test", live.ID, "--data", h.Dir); !strings.Contains(out, ": delivered in") {
		t.Fatalf("webhook test printed %q", out)
	}
	if got := rc.Accepted(); len(got) != 1 || got[0].Type != "webhook.test" || len(rc.Bad()) != 0 {
		t.Fatalf("receiver got %+v, bad %v", got, rc.Bad())
	}
	// A rotated secret: the receiver still on the old one keeps verifying
	// during the grace period, and can switch to the new one meanwhile.
	newSecret := strings.TrimSpace(Run(t, Binaries.Hub, "webhook", "rotate-secret", live.ID, "--grace", "1h", "--data", h.Dir))
	if !strings.HasPrefix(newSecret, "whsec_") || newSecret == live.Secret {
		t.Fatalf("rotate-secret printed %q", newSecret)
	}
	Run(t, Binaries.Hub, "webhook", "test", live.ID, "--data", h.Dir)
	rc.mu.Lock()
	rc.Secret = newSecret
	rc.mu.Unlock()
	Run(t, Binaries.Hub, "webhook", "test", live.ID, "--data", h.Dir)
	if len(rc.Accepted()) != 3 || len(rc.Bad()) != 0 {
		t.Fatalf("after rotation: accepted %d, bad %v", len(rc.Accepted()), rc.Bad())
	}
	var rotated struct {
		Secret string `json:"secret"`
	}
	if code := api(t, h, admin, "POST", "/api/v1/webhooks/"+live.ID+"/rotate-secret", `{"grace":"0s"}`, &rotated); code != 200 || rotated.Secret == newSecret {
		t.Fatalf("rotate over the API: %d %+v", code, rotated)
	}
	if _, _, err := RunErr(Binaries.Hub, "webhook", "test", live.ID, "--data", h.Dir); err == nil || !strings.Contains(strings.Join(rc.Bad(), ""), "no signature matches") {
		t.Fatalf("without a grace period the old secret still verified: %v %v", err, rc.Bad())
	}

	// Updating keeps the webhook (and its cursor); a bad update is refused.
	var updated struct {
		URL    string   `json:"url"`
		Events []string `json:"events"`
	}
	if code := api(t, h, admin, "PATCH", "/api/v1/webhooks/"+live.ID, `{"events":["subject.erased","consent.changed"],"description":"CRM EU"}`, &updated); code != 200 ||
		strings.Join(updated.Events, ",") != "consent.changed,subject.erased" || updated.URL != rc.URL() {
		t.Fatalf("update: %d %+v", code, updated)
	}
	if code := api(t, h, admin, "PATCH", "/api/v1/webhooks/"+live.ID, `{"url":"crm.example.com"}`, nil); code != 400 {
		t.Fatalf("bad update: %d", code)
	}
	if out := Run(t, Binaries.Hub, "webhook", "update", live.ID, "--url", rc.URL()+"/v2", "--data", h.Dir); !strings.Contains(out, rc.URL()+"/v2 gets consent.changed, subject.erased") {
		t.Fatalf("webhook update printed %q", out)
	}

	rc.Down()
	if out, stderr, err := RunErr(Binaries.Hub, "webhook", "test", live.ID, "--data", h.Dir); err == nil || !strings.Contains(stderr, "refused") {
		t.Fatalf("webhook test to a receiver that is down: %v %q %q", err, out, stderr)
	}
	if code := api(t, h, admin, "DELETE", "/api/v1/webhooks/"+created.ID, "", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	if code := api(t, h, admin, "DELETE", "/api/v1/webhooks/"+created.ID, "", nil); code != 404 {
		t.Fatalf("delete again: %d", code)
	}
}
