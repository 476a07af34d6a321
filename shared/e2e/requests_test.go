package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawGet fetches path with token ("" for none) and returns status and body.
func rawGet(t *testing.T, h *Hub, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.URL()+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// postForm posts a receipt-page form as a browser on the page does.
func postForm(t *testing.T, pageURL, origin string, form url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", pageURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// A person captured on a real kiosk asks, on their receipt page, to be
// erased; head office completes the request. Afterwards no API, export,
// proof or page shows their name, email, phone or signature, nor does the
// hub's database file; the tombstone remains, the kiosk's chain is whole,
// and a later consent from the same person starts a new history.
func TestErasureEverywhere(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Fair booth"))
	c.Start()
	admin := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "admin"))
	check := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "check"))
	read := h.Token()

	// Their own signature: a drawing nobody else's record carries.
	img := image.NewGray(image.Rect(0, 0, 13, 7))
	for x := range 13 {
		img.Set(x, x%7, color.White)
	}
	var pic bytes.Buffer
	png.Encode(&pic, img)
	sigB64 := base64.StdEncoding.EncodeToString(pic.Bytes())
	const given, family, email, phoneTyped, phone = "Zoltana", "Quigleymarker", "z.quigleymarker@example.org", "+39 347 555 0101", "+393475550101"
	body := func() []byte {
		b, _ := json.Marshal(map[string]any{
			"subject":  map[string]string{"given_name": given, "family_name": family, "email": email, "phone": phoneTyped},
			"purposes": map[string]bool{"newsletter": true, "sms": true}, "notice": map[string]any{"id": "privacy-it", "version": 1}, "language": "it",
			"signature": map[string]any{"png": sigB64, "points": [][]map[string]any{{{"x": 3, "y": 1, "t": 0}, {"x": 9, "y": 6, "t": 55}}}},
		})
		return b
	}
	before := c.CaptureN(1, 1)
	resp, err := c.http.Post(c.URL()+"/api/v1/consents", "application/json", bytes.NewReader(body()))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID         string `json:"id"`
		ReceiptURL string `json:"receipt_url"`
	}
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.ReceiptURL == "" {
		t.Fatalf("capture: %s %+v", resp.Status, created)
	}
	after := c.CaptureN(1, 1)
	c.WaitSynced(60 * time.Second)
	waitConsents(t, h, c.ID, append(append(before, created.ID), after...), 30*time.Second)
	pageURL := h.URL() + "/r/" + created.ReceiptURL[strings.LastIndex(created.ReceiptURL, "/")+1:]

	secrets := map[string][]byte{"given name": []byte(given), "family name": []byte(family), "email": []byte(email),
		"phone as typed": []byte(phoneTyped), "phone": []byte(phone), "signature": pic.Bytes(), "signature base64": []byte(sigB64)}
	var sub struct {
		ID string `json:"id"`
	}
	if code := api(t, h, read, "GET", "/api/v1/subjects?email="+url.QueryEscape(email), "", &sub); code != 200 {
		t.Fatalf("subject before: %d", code)
	}
	if _, b := rawGet(t, h, read, "/api/v1/subjects/"+sub.ID+"/export"); !bytes.Contains(b, []byte(email)) || !bytes.Contains(b, []byte(sigB64)) {
		t.Fatal("the export before erasure lacks the person: the checks below prove nothing")
	}

	// The receipt page refuses a cross-site post, takes its own.
	if r := postForm(t, pageURL, "http://evil.example", url.Values{"request": {"erasure"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site post: %s", r.Status)
	}
	if r := postForm(t, pageURL, h.URL(), url.Values{"request": {"erasure"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("erasure request on the receipt page: %s", r.Status)
	}
	if _, page := rawGet(t, h, "", strings.TrimPrefix(pageURL, h.URL())+"?asked=erasure"); !strings.Contains(string(page), "Richiesta ricevuta") {
		t.Fatalf("receipt page after asking: %s", page)
	}
	var queue struct {
		Requests []struct {
			ID, Kind, State, Channel string
			SubjectID                string `json:"subject_id"`
		} `json:"requests"`
	}
	if code := api(t, h, read, "GET", "/api/v1/requests?kind=erasure", "", &queue); code != 200 || len(queue.Requests) != 1 ||
		queue.Requests[0].Channel != "receipt" || queue.Requests[0].SubjectID != sub.ID {
		t.Fatalf("queue: %d %+v", code, queue)
	}
	reqID := queue.Requests[0].ID
	var acted struct {
		Outcomes []struct {
			ID, Error string
			Request   *struct{ State, Outcome string }
		} `json:"outcomes"`
		Failed int `json:"failed"`
	}
	if code := api(t, h, read, "POST", "/api/v1/requests/actions", `{"ids":["`+reqID+`"],"action":"complete"}`, nil); code != 403 {
		t.Fatalf("a read token completed a request: %d", code)
	}
	if code := api(t, h, admin, "POST", "/api/v1/requests/actions", `{"ids":["`+reqID+`"],"action":"complete","by":"dpo"}`, &acted); code != 200 ||
		acted.Failed != 0 || acted.Outcomes[0].Request.State != "done" {
		t.Fatalf("complete: %d %+v", code, acted)
	}

	// Everything a client can ask, searched raw.
	devResp := map[string]any{}
	api(t, h, read, "GET", "/api/v1/devices/"+c.ID, "", &devResp)
	if devResp["chain"] != "ok" {
		t.Fatalf("the kiosk's chain after erasure: %v", devResp["chain"])
	}
	var seen []string
	look := func(what string, b []byte) {
		t.Helper()
		for name, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s shows the erased person's %s", what, name)
			}
		}
		seen = append(seen, what)
	}
	for _, p := range []string{"/api/v1/events", "/api/v1/events?format=csv", "/api/v1/events?format=receipt",
		"/api/v1/subjects/" + sub.ID, "/api/v1/subjects/" + sub.ID + "/export", "/api/v1/requests/" + reqID,
		"/api/v1/requests?state=done", "/api/v1/suggestions", "/api/v1/devices/" + c.ID, "/api/v1/check?email=" + url.QueryEscape(email) + "&purpose=newsletter"} {
		code, b := rawGet(t, h, read, p)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", p, code, b)
		}
		look(p, b)
	}
	code, b := rawGet(t, h, read, "/api/v1/proofs/"+created.ID)
	if code != http.StatusGone || !bytes.Contains(b, []byte("erased")) {
		t.Fatalf("proof of the erased consent: %d %s", code, b)
	}
	look("its proof", b)
	for _, id := range append(before, after...) { // other people's bundles around it
		code, z := rawGet(t, h, read, "/api/v1/proofs/"+id)
		if code != 200 {
			t.Fatalf("proof of %s: %d", id, code)
		}
		look("the proof zip of a neighbour", z)
		out, errOut, err := verifyBundle(t, id+".zip", z)
		if err != nil || strings.Contains(out, "INVALID") {
			t.Fatalf("a neighbour's bundle no longer verifies: %v\n%s%s", err, out, errOut)
		}
		if id == before[0] && !strings.Contains(out, "had its personal data erased on") {
			t.Fatalf("the bundle before the erased record does not say why its chain stops:\n%s", out)
		}
	}
	code, b = rawGet(t, h, "", strings.TrimPrefix(pageURL, h.URL()))
	if code != http.StatusGone || !strings.Contains(string(b), "sono stati cancellati in sede") {
		t.Fatalf("receipt page after erasure: %d %s", code, b)
	}
	look("the receipt page", b)
	// Asking again there after the erasure: the page says why it cannot.
	if r := postForm(t, pageURL, "", url.Values{"request": {"access"}}); r.StatusCode != http.StatusGone {
		t.Fatalf("asking on an erased receipt page: %s", r.Status)
	}
	code, b = rawGet(t, h, "", "/n/privacy-it/1")
	if code != 200 {
		t.Fatalf("notice page: %d", code)
	}
	look("the notice page", b)
	code, b = rawGet(t, h, read, "/api/v1/subjects?email="+url.QueryEscape(email))
	if code != http.StatusGone || !bytes.Contains(b, []byte(sub.ID)) {
		t.Fatalf("asked by email after erasure: %d %s", code, b)
	}
	var d map[string]any
	api(t, h, check, "GET", "/api/v1/check?email="+url.QueryEscape(email)+"&purpose=newsletter", "", &d)
	if d["decision"] != "unknown" {
		t.Fatalf("check after erasure: %v", d)
	}
	// The tombstone.
	var tomb struct {
		Erasure *struct {
			RequestID        string   `json:"request_id"`
			IdentifierHashes []string `json:"identifier_hashes"`
		} `json:"erasure"`
		Events  []struct{ ID, Hash string } `json:"events"`
		History []struct{ Purpose, Effect string }
	}
	api(t, h, read, "GET", "/api/v1/subjects/"+sub.ID, "", &tomb)
	if tomb.Erasure == nil || tomb.Erasure.RequestID != reqID || len(tomb.Erasure.IdentifierHashes) != 2 || len(tomb.History) != 2 || len(tomb.Events) < 1 {
		t.Fatalf("tombstone %+v", tomb)
	}
	// The database file itself, and its log.
	var file []byte
	for _, p := range []string{"hub.db", "hub.db-wal"} {
		b, err := os.ReadFile(filepath.Join(h.Dir, p))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		file = append(file, b...)
	}
	for _, name := range []string{"email", "given name", "family name", "phone"} {
		if bytes.Contains(file, secrets[name]) {
			t.Errorf("the hub's database file still holds the %s", name)
		}
	}

	// The same person signs up again: a new subject and history.
	if _, err := c.CaptureJSON(body()); err != nil {
		t.Fatal(err)
	}
	c.WaitSynced(60 * time.Second)
	var again struct {
		ID     string `json:"id"`
		Events []struct{ Kind string }
	}
	Eventually(t, 30*time.Second, "the new subject", func() (bool, string) {
		code := api(t, h, read, "GET", "/api/v1/subjects?email="+url.QueryEscape(email), "", &again)
		return code == 200, fmt.Sprint(code)
	})
	if again.ID == sub.ID || len(again.Events) == 0 {
		t.Fatalf("new history %+v (erased %s)", again, sub.ID)
	}
	t.Logf("searched %d responses", len(seen))

	// The retention schedule swept at start, recorded the run, and stops
	// with the hub.
	Eventually(t, 30*time.Second, "a scheduled retention run", func() (bool, string) {
		var runs struct {
			Runs []struct{ By string } `json:"runs"`
		}
		code := api(t, h, read, "GET", "/api/v1/retention", "", &runs)
		return code == 200 && len(runs.Runs) > 0 && runs.Runs[len(runs.Runs)-1].By == "schedule", fmt.Sprint(code, runs)
	})
	c.Stop()
	h.Stop()
	if !strings.Contains(h.Log(), "shutdown complete") || !strings.Contains(h.Log(), `msg="retention sweep"`) {
		t.Fatalf("hub log:\n%s", h.Log())
	}
}

// A wave of 10,000 access requests arrives through the API; head office
// starts and completes them with bulk actions of 500; each ends done with
// its export available.
func TestRequestWave(t *testing.T) {
	t.Parallel()
	h := NewHub(t, "--retention-interval", "0")
	c := EnrollCollector(t, h.URL(), h.EnrollCode("Fair booth"))
	c.Start()
	admin := strings.TrimSpace(Run(t, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "admin"))
	read := h.Token()
	known := c.CaptureN(5, 1)
	c.WaitSynced(60 * time.Second)
	waitConsents(t, h, c.ID, known, 30*time.Second)
	var emails []string
	for _, e := range h.MustEvents() {
		if e.Subject != nil {
			emails = append(emails, e.Subject.Email)
		}
	}
	const n, batch, workers = 10000, 500, 8
	client := &http.Client{Timeout: 60 * time.Second}
	call := func(token, method, path, body string) (int, []byte, error) {
		req, _ := http.NewRequest(method, h.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	parallel := func(what string, count int, do func(i int) error) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		next := make(chan int)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					if err := do(i); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
		for i := range count {
			next <- i
		}
		close(next)
		wg.Wait()
		select {
		case err := <-errs:
			t.Fatalf("%s: %v", what, err)
		default:
		}
		return time.Since(start)
	}
	took := parallel("create", n, func(i int) error {
		email := fmt.Sprintf("wave%05d@example.com", i)
		if i < len(emails) {
			email = emails[i]
		}
		code, b, err := call(admin, "POST", "/api/v1/requests", fmt.Sprintf(`{"kind":"access","email":%q,"channel":"api"}`, email))
		if err == nil && code != 201 {
			err = fmt.Errorf("%d %s", code, b)
		}
		return err
	})
	t.Logf("%d requests created in %s (%.0f/s)", n, took.Round(time.Millisecond), n/took.Seconds())

	// The queue, page by page, in due-date order.
	queue := func(state string) []string {
		var ids []string
		after := ""
		for {
			var page struct {
				Requests []struct {
					ID    string `json:"id"`
					DueOn string `json:"due_on"`
				} `json:"requests"`
				NextAfter string `json:"next_after"`
			}
			if code := api(t, h, read, "GET", "/api/v1/requests?limit=1000&state="+state+"&after="+after, "", &page); code != 200 {
				t.Fatalf("queue: %d", code)
			}
			for _, r := range page.Requests {
				ids = append(ids, r.ID)
			}
			if page.NextAfter == "" {
				return ids
			}
			after = page.NextAfter
		}
	}
	open := queue("open")
	if len(open) != n {
		t.Fatalf("%d open requests, want %d", len(open), n)
	}
	act := func(action string, ids []string) {
		start := time.Now()
		for i := 0; i < len(ids); i += batch {
			part := ids[i:min(i+batch, len(ids))]
			b, _ := json.Marshal(map[string]any{"ids": part, "action": action, "by": "wave-team"})
			code, resp, err := call(admin, "POST", "/api/v1/requests/actions", string(b))
			if err != nil || code != 200 {
				t.Fatalf("%s: %d %s %v", action, code, resp, err)
			}
			var out struct {
				Failed   int `json:"failed"`
				Outcomes []struct{ ID, Error string }
			}
			json.Unmarshal(resp, &out)
			if out.Failed != 0 || len(out.Outcomes) != len(part) {
				t.Fatalf("%s: %d failed: %+v", action, out.Failed, out.Outcomes[:1])
			}
		}
		took := time.Since(start)
		t.Logf("%s on %d requests in batches of %d: %s (%.0f/s)", action, len(ids), batch, took.Round(time.Millisecond), float64(len(ids))/took.Seconds())
	}
	act("start", open)
	if got := queue("in_progress"); len(got) != n {
		t.Fatalf("%d in progress, want %d", len(got), n)
	}
	act("complete", open)
	done := queue("done")
	if len(done) != n || len(queue("open,in_progress")) != 0 {
		t.Fatalf("%d done, want %d", len(done), n)
	}
	withData := 0
	var mu sync.Mutex
	took = parallel("export", n, func(i int) error {
		code, b, err := call(read, "GET", "/api/v1/requests/"+done[i]+"/export", "")
		if err == nil && code != 200 {
			err = fmt.Errorf("export of %s: %d %s", done[i], code, b)
		}
		if bytes.Contains(b, []byte(`"handwritten_signature"`)) {
			mu.Lock()
			withData++
			mu.Unlock()
		}
		return err
	})
	t.Logf("%d exports downloaded in %s", n, took.Round(time.Millisecond))
	if withData != len(emails) {
		t.Fatalf("%d exports hold a person's records, want %d", withData, len(emails))
	}
}
