package http_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	hubhttp "github.com/attesta/attesta/hub/http"
	"github.com/attesta/attesta/hub/sqlite"
)

func mustServe(t *testing.T) (*hubhttp.Server, *sqlite.Store) {
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
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(ctx); st.Close() })
	return s, st
}

func get(t *testing.T, url, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

func TestAPIAuth(t *testing.T) {
	s, st := mustServe(t)
	read, _ := st.CreateToken(context.Background(), hub.ScopeRead)
	check, _ := st.CreateToken(context.Background(), hub.ScopeCheck)
	cases := []struct {
		path, token string
		status      int
		says        string
	}{
		{"/api/v1/devices", "", 401, "missing bearer token"},
		{"/api/v1/devices", "att_forged", 401, "unknown"},
		{"/api/v1/devices", check, 403, `needs "read"`},
		{"/api/v1/devices", read, 200, ""},
		{"/api/v1/events?after=-1", read, 400, "after must be"},
		{"/api/v1/events?limit=0", read, 400, "limit must be"},
		{"/api/v1/devices/nope", read, 404, "no device"},
		{"/n/privacy-it/99", "", 404, "does not exist"},
	}
	for _, c := range cases {
		status, body := get(t, s.URL()+c.path, c.token)
		if status != c.status {
			t.Errorf("%s: status %d, want %d (%v)", c.path, status, c.status, body)
			continue
		}
		if c.says != "" {
			msg, _ := body["error"].(map[string]any)["message"].(string)
			if !strings.Contains(msg, c.says) {
				t.Errorf("%s: message %q does not say %q", c.path, msg, c.says)
			}
		}
	}
}

func TestEnrollRefusals(t *testing.T) {
	s, _ := mustServe(t)
	for body, want := range map[string]string{
		`{`:                              "malformed",
		`{"code":"X","sign_key":"AAAA"}`: "sign_key",
		`{"code":"","sign_key":"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}`:     "code is required",
		`{"code":"ABCD","sign_key":"11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}`: "unknown",
		`{"code":"ABCD","sign_key":"x","surprise":1}`:                               "unknown field",
	} {
		resp, err := http.Post(s.URL()+"/v1/enroll", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 4 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d %s", body, resp.StatusCode, b)
		}
	}
}

func TestNoticePage(t *testing.T) {
	s, _ := mustServe(t)
	cat, _ := fixtures.Catalog()
	n, _ := cat.Notice("privacy-en", 1)
	resp, err := http.Get(s.URL() + "/n/privacy-en/1?sha256=" + n.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), n.SHA256) || !strings.Contains(string(b), "Privacy notice") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	resp, _ = http.Get(s.URL() + "/r/unknown-token")
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(b), "has not reached head office yet") {
		t.Fatalf("pending receipt: %d %s", resp.StatusCode, b)
	}
}

// A second rotation within the first's grace period is a 409 that says
// until when and how to cut the old secrets off now.
func TestRotateWebhookSecretTwice(t *testing.T) {
	s, st := mustServe(t)
	admin, _ := st.CreateToken(context.Background(), hub.ScopeAdmin)
	code, w := send(t, "POST", s.URL()+"/api/v1/webhooks", admin, `{"url":"https://crm.example.com/h","events":["*"]}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, w)
	}
	u := s.URL() + "/api/v1/webhooks/" + w["id"].(string) + "/rotate-secret"
	if code, out := send(t, "POST", u, admin, `{"grace":"1h"}`); code != 200 || out["secret"] == w["secret"] {
		t.Fatalf("rotate: %d %v", code, out)
	}
	code, out := send(t, "POST", u, admin, `{"grace":"1h"}`)
	if m := message(out); code != 409 || !strings.Contains(m, "grace period") || !strings.Contains(m, "signs deliveries until") || !strings.Contains(m, "grace 0s") {
		t.Fatalf("rotate again within the grace period: %d %q", code, m)
	}
	if code, out := send(t, "POST", u, admin, `{"grace":"0s"}`); code != 200 || out["secret"] == nil {
		t.Fatalf("rotate with grace 0s: %d %v", code, out)
	}
}
