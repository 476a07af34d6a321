package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// person is a visitor's capture as the kiosk posts it.
func person(given, family, email, phone string, purposes map[string]bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"subject":  map[string]string{"given_name": given, "family_name": family, "email": email, "phone": phone},
		"purposes": purposes, "notice": map[string]any{"id": "privacy-it", "version": 1}, "language": "it",
		"signature": map[string]any{"png": signaturePNG, "points": [][]map[string]any{{{"x": 1, "y": 2, "t": 0}, {"x": 7, "y": 2, "t": 40}}}},
	})
	return b
}

// api calls the hub's API with a token and decodes a JSON answer into v.
func api(t *testing.T, h *Hub, token, method, path, body string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(method, h.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode
}

// The same person signs up at a fair and, with differently written email
// and phone, at a store whose tablet runs two days behind; a namesake with
// another email signs up too. The hub makes the first two one subject whose
// latest choice counts, and only suggests the namesake.
func TestOnePersonAcrossCollectors(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	fair := EnrollCollector(t, h.URL(), h.EnrollCode("Fair booth"))
	fair.Start()
	store := EnrollCollector(t, h.URL(), h.EnrollCode("Store counter"))
	store.Env = []string{"ATTESTA_CLOCK_OFFSET=-48h"}
	store.Start()

	if _, err := fair.CaptureJSON(person("Mario", "Rossi", " Mario.Rossi@Esempio.IT ", "+39 333 123 4567",
		map[string]bool{"newsletter": true, "sms": true, "profiling": true})); err != nil {
		t.Fatal(err)
	}
	fair.WaitSynced(30 * time.Second)
	time.Sleep(1100 * time.Millisecond) // the store's choice comes later than the concurrency window
	if _, err := store.CaptureJSON(person("Mario", "Rossi", "mario.rossi@esempio.it", "3331234567",
		map[string]bool{"newsletter": false, "sms": true})); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CaptureJSON(person("Mario", "Rosi", "m.rosi@altro.it", "",
		map[string]bool{"newsletter": true})); err != nil {
		t.Fatal(err)
	}
	store.WaitSynced(30 * time.Second)

	check := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "check"))
	decide := func(ident, purpose string) map[string]any {
		var d map[string]any
		if code := api(t, h, check, "GET", "/api/v1/check?"+ident+"&purpose="+purpose, "", &d); code != 200 {
			t.Fatalf("check %s %s: %d %v", ident, purpose, code, d)
		}
		return d
	}
	for _, c := range []struct{ ident, purpose, want string }{
		{"email=MARIO.ROSSI%40esempio.it", "newsletter", "denied"}, // the store's later refusal, though its clock says two days earlier
		{"phone=%2B39+333+123+4567", "sms", "allowed"},
		{"phone=3331234567", "profiling", "allowed"},
		{"email=mario.rossi%40esempio.it", "phone", "unknown"},
		{"email=m.rosi%40altro.it", "newsletter", "allowed"},
	} {
		if d := decide(c.ident, c.purpose); d["decision"] != c.want {
			t.Errorf("%s %s: %v, want %s", c.ident, c.purpose, d, c.want)
		}
	}
	a, b := decide("email=mario.rossi%40esempio.it", "sms"), decide("phone=3331234567", "sms")
	rosi := decide("email=m.rosi%40altro.it", "newsletter")
	if a["subject_id"] != b["subject_id"] || a["subject_id"] == rosi["subject_id"] {
		t.Fatalf("subjects: email %v, phone %v, namesake %v", a["subject_id"], b["subject_id"], rosi["subject_id"])
	}

	read := h.Token()
	var sub struct {
		ID          string
		Identifiers []struct{ Kind, Value string }
		Events      []struct{ Collector, Kind string }
	}
	if code := api(t, h, read, "GET", "/api/v1/subjects?phone="+url.QueryEscape("+39 333 1234567"), "", &sub); code != 200 {
		t.Fatalf("subject: %d", code)
	}
	collectors := map[string]bool{}
	for _, e := range sub.Events {
		collectors[e.Collector] = true
	}
	if len(sub.Identifiers) != 2 || !collectors[fair.ID] || !collectors[store.ID] {
		t.Fatalf("subject %+v", sub)
	}
	var sg struct {
		Suggestions []struct{ SubjectA, SubjectB, Reason string } `json:"suggestions"`
	}
	// Suggestions follow ingest by a moment: the hub makes them after commit.
	Eventually(t, 30*time.Second, "the namesake suggested", func() (bool, string) {
		sg.Suggestions = nil
		api(t, h, read, "GET", "/api/v1/suggestions", "", &sg)
		return len(sg.Suggestions) >= 1, fmt.Sprintf("%+v", sg)
	})
	if len(sg.Suggestions) != 1 || sg.Suggestions[0].Reason != "similar_name" {
		t.Fatalf("suggestions %+v", sg)
	}

	// Marketing's unsubscribe link withdraws SMS; the next check says so.
	var w map[string]any
	if code := api(t, h, check, "POST", "/api/v1/withdrawals", fmt.Sprintf(`{"subject_id":%q,"purposes":["sms"],"channel":"newsletter-engine"}`, sub.ID), &w); code != 201 {
		t.Fatalf("withdrawal: %d %v", code, w)
	}
	if d := decide("email=mario.rossi%40esempio.it", "sms"); d["decision"] != "denied" {
		t.Fatalf("after withdrawal: %v", d)
	}
}

// The running hub answers checks from memory, and an answer reflects every
// change committed before it, whoever made it: here the CLI, working on the
// data folder beside the running hub, completes an objection and then an
// erasure, and the very next check sees each.
func TestChecksFollowTheCLI(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Fair booth"))
	c.Start()
	if _, err := c.CaptureJSON(person("Anna", "Verdi", "anna.verdi@esempio.it", "+39 333 765 4321",
		map[string]bool{"newsletter": true, "sms": true})); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced(30 * time.Second)
	Eventually(t, 30*time.Second, "the hub answers checks from memory", func() (bool, string) {
		return strings.Contains(h.Log(), "consent checks answered from memory"), h.Log()
	})
	check := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "check"))
	decide := func(query string) map[string]any {
		var d map[string]any
		if code := api(t, h, check, "GET", "/api/v1/check?"+query, "", &d); code != 200 {
			t.Fatalf("check %s: %d %v", query, code, d)
		}
		return d
	}
	if d := decide("phone=%2B393337654321&purpose=newsletter"); d["decision"] != "allowed" {
		t.Fatalf("before: %v", d)
	}
	complete := func(kind string) {
		var r struct{ ID string }
		out := Run(t, Binaries.Hub, "request", "create", "--data", h.Dir, "--kind", kind, "--email", "anna.verdi@esempio.it", "--channel", "letter", "--json")
		if err := json.Unmarshal([]byte(out), &r); err != nil || r.ID == "" {
			t.Fatalf("request create: %q %v", out, err)
		}
		Run(t, Binaries.Hub, "request", "act", "--data", h.Dir, "--action", "complete", r.ID)
	}
	complete("objection")
	for _, q := range []string{"email=anna.verdi%40esempio.it&purpose=newsletter", "phone=%2B39+333+765+4321&purpose=sms"} {
		if d := decide(q); d["decision"] != "denied" {
			t.Fatalf("after the objection, %s: %v", q, d)
		}
	}
	complete("erasure")
	if d := decide("email=anna.verdi%40esempio.it&purpose=newsletter"); d["decision"] != "unknown" || d["subject_id"] != nil {
		t.Fatalf("after the erasure: %v", d)
	}
	var m string
	req, _ := http.NewRequest("GET", h.URL()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.Token())
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m = string(b)
	}
	if !strings.Contains(m, "attesta_hub_check_index_subjects 1\n") {
		t.Fatalf("metrics: %s", m)
	}
}
