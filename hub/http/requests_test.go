package http_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/attesta/attesta/hub"
)

func send(t *testing.T, method, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func message(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// Every refusal of the requests API is a 4xx that names what was wrong.
func TestRequestsAPIRefusals(t *testing.T) {
	s, st := mustServe(t)
	ctx := context.Background()
	admin, _ := st.CreateToken(ctx, hub.ScopeAdmin)
	read, _ := st.CreateToken(ctx, hub.ScopeRead)
	u := s.URL() + "/api/v1/requests"
	code, created := send(t, "POST", u, admin, `{"kind":"access","email":"a@example.com"}`)
	if code != 201 || created["state"] != "open" || created["channel"] != "api" {
		t.Fatalf("create: %d %v", code, created)
	}
	id := created["id"].(string)
	for _, c := range []struct {
		method, path, token, body string
		status                    int
		says                      string
	}{
		{"POST", "", read, `{"kind":"access","email":"a@example.com"}`, 403, `needs "admin"`},
		{"POST", "", admin, `{"kind":"access","email":"a@example.com","color":"red"}`, 400, "malformed request"},
		{"POST", "", admin, `{"email":"a@example.com"}`, 400, "kind is required"},
		{"POST", "", admin, `{"kind":"forget","email":"a@example.com"}`, 400, `kind "forget"`},
		{"POST", "", admin, `{"kind":"access"}`, 400, "email or phone is required"},
		{"POST", "", admin, `{"kind":"access","email":"nope"}`, 400, "not an address"},
		{"POST", "", admin, `{"kind":"access","subject_id":"nobody"}`, 404, "subject nobody does not exist"},
		{"POST", "", admin, `{"kind":"access","email":"a@example.com","channel":"Phone Call!"}`, 400, "channel"},
		{"GET", "?state=lost", read, "", 400, `state "lost"`},
		{"GET", "?limit=0", read, "", 400, "limit"},
		{"GET", "?after=unknown", read, "", 400, "after"},
		{"GET", "/nope", read, "", 404, "no request nope"},
		{"GET", "/" + id + "/export", read, "", 409, "ready once it is completed"},
		{"POST", "/actions", read, `{"ids":["` + id + `"],"action":"start"}`, 403, `needs "admin"`},
		{"POST", "/actions", admin, `{"ids":[],"action":"start"}`, 400, "ids"},
		{"POST", "/actions", admin, `{"ids":["` + id + `"],"action":"archive"}`, 400, `action "archive"`},
		{"POST", "/actions", admin, `{"ids":["` + id + `"],"action":"refuse"}`, 400, "needs a reason"},
		{"POST", "/actions", admin, `{"ids":"` + id + `","action":"start"}`, 400, "malformed action"},
	} {
		code, body := send(t, c.method, u+c.path, c.token, c.body)
		if code != c.status || !strings.Contains(message(body), c.says) {
			t.Errorf("%s %s %s: %d %q, want %d naming %q", c.method, c.path, c.body, code, message(body), c.status, c.says)
		}
	}
	code, out := send(t, "POST", u+"/actions", admin, `{"ids":["`+id+`","missing"],"action":"complete","by":"dpo"}`)
	if code != 200 || out["succeeded"] != 1.0 || out["failed"] != 1.0 {
		t.Fatalf("bulk: %d %v", code, out)
	}
	code, got := send(t, "GET", u+"/"+id, read, "")
	trail, _ := got["trail"].([]any)
	if code != 200 || got["state"] != "done" || len(trail) != 2 {
		t.Fatalf("detail: %d %v", code, got)
	}
	if code, x := send(t, "GET", u+"/"+id+"/export", read, ""); code != 200 || x["format"] != "attesta-subject-export/v1" {
		t.Fatalf("export: %d %v", code, x)
	}
	if code, runs := send(t, "GET", s.URL()+"/api/v1/retention", read, ""); code != 200 || runs["runs"] == nil {
		t.Fatalf("retention: %d %v", code, runs)
	}
}

// Paging through the queue while working it (extending what each page
// shows) shows every request: next_after carries the place the page ended
// at, not an id whose place the extension moved.
func TestRequestPagesWhileWorkingTheQueue(t *testing.T) {
	s, st := mustServe(t)
	ctx := context.Background()
	admin, _ := st.CreateToken(ctx, hub.ScopeAdmin)
	u := s.URL() + "/api/v1/requests"
	var all []string
	for i := range 6 {
		code, r := send(t, "POST", u, admin, fmt.Sprintf(`{"kind":"access","email":"p%d@example.com"}`, i))
		if code != 201 {
			t.Fatalf("create: %d %v", code, r)
		}
		all = append(all, r["id"].(string))
	}
	seen := map[string]bool{}
	after := ""
	for range 10 {
		code, out := send(t, "GET", u+"?limit=2&after="+after, admin, "")
		if code != 200 {
			t.Fatalf("page after %q: %d %v", after, code, out)
		}
		rs, _ := out["requests"].([]any)
		for _, r := range rs {
			id := r.(map[string]any)["id"].(string)
			if !seen[id] {
				seen[id] = true
				if c, o := send(t, "POST", u+"/actions", admin, `{"ids":["`+id+`"],"action":"extend","note":"complex"}`); c != 200 || o["failed"] != 0.0 {
					t.Fatalf("extend %s: %d %v", id, c, o)
				}
			}
		}
		next, _ := out["next_after"].(string)
		if next == "" {
			break
		}
		after = next
	}
	for _, id := range all {
		if !seen[id] {
			t.Errorf("request %s was on no page", id)
		}
	}
}
