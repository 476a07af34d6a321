package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Personal data never reaches a log. A visitor with unmistakable name,
// email and phone goes through everything that handles them — a refused
// submission, a capture, the sync, the hub's events API, the receipt page
// and a withdrawal — with both programs logging at debug level; then
// neither log holds any of the values, nor the receipt token.
func TestLogsHoldNoPersonalData(t *testing.T) {
	t.Parallel()
	h := NewHub(t, "--log-level", "debug")
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Booth B12"))
	c.Args = []string{"--log-level", "debug"}
	c.Start()

	const given, family, email, phone = "Zelphinora", "Quartermaine", "zq.marker7731@example.org", "+39 333 7731 4242"
	body := func(email string) []byte {
		var v map[string]any
		json.Unmarshal(CaptureBody(1), &v)
		v["subject"] = map[string]string{"given_name": given, "family_name": family, "email": email, "phone": phone}
		b, _ := json.Marshal(v)
		return b
	}
	post := func(b []byte) (int, map[string]any) {
		resp, err := http.Post(c.URL()+"/api/v1/consents", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if status, _ := post(body("zq.marker7731@@not-an-email")); status != 400 {
		t.Fatalf("a bad email was answered %d", status)
	}
	status, created := post(body(email))
	if status != 201 {
		t.Fatalf("capture: %d %v", status, created)
	}
	id, _ := created["id"].(string)
	receipt, _ := created["receipt_url"].(string)
	c.WaitSynced(30 * time.Second)
	waitConsents(t, h, c.ID, []string{id}, 30*time.Second)
	found := false
	for _, e := range h.MustEvents() {
		found = found || (e.Subject != nil && e.Subject.Email == email)
	}
	if !found {
		t.Fatal("the events API does not show the visitor: nothing personal was handled")
	}

	resp, err := http.Get(receipt)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), given) {
		t.Fatalf("receipt page: %s", resp.Status)
	}
	resp, err = http.PostForm(receipt, url.Values{"purpose": {"newsletter"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("withdrawal: %s", resp.Status)
	}
	c.Stop() // and its shutdown lines

	token := receipt[strings.LastIndex(receipt, "/")+1:]
	logs := map[string]string{"hub": h.Log(), "collector": c.Log()}
	for name, want := range map[string]string{"hub": "withdrawal recorded", "collector": "consent captured"} {
		if !strings.Contains(logs[name], want) {
			t.Fatalf("the %s log lacks %q: the flow did not run as expected", name, want)
		}
	}
	for name, log := range logs {
		low := strings.ToLower(log)
		for _, v := range []string{given, family, email, "zq.marker7731", phone, "7731 4242", token} {
			if strings.Contains(low, strings.ToLower(v)) {
				i := strings.Index(low, strings.ToLower(v))
				t.Errorf("the %s log holds %q: ...%s...", name, v, log[max(0, i-200):min(len(log), i+100)])
			}
		}
	}
}
