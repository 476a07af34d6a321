package http_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	hubhttp "github.com/attesta/attesta/hub/http"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

// send is in requests_test.go (both branches wrote the same helper).

func TestConfigAPI(t *testing.T) {
	s, st := mustServe(t)
	var pushed atomic.Int64
	s.ConfigChanged = func() { pushed.Add(1) }
	ctx := context.Background()
	admin, _ := st.CreateToken(ctx, hub.ScopeAdmin)
	read, _ := st.CreateToken(ctx, hub.ScopeRead)

	code, cat := get(t, s.URL()+"/api/v1/config", read)
	if code != 200 || cat["seq"].(float64) != 1 || len(cat["notices"].([]any)) != 2 {
		t.Fatalf("GET config: %d %v", code, cat)
	}
	notice := `{"id":"privacy-it","version":2,"language":"it","title":"Informativa","summary":"Breve.","text":"# Informativa\n\nv2"}`
	if code, _ := send(t, "POST", s.URL()+"/api/v1/notices", read, notice); code != http.StatusForbidden {
		t.Errorf("publish with a read token: %d", code)
	}
	code, body := send(t, "POST", s.URL()+"/api/v1/notices", admin, notice)
	if code != http.StatusCreated || body["seq"].(float64) != 2 {
		t.Fatalf("publish: %d %v", code, body)
	}
	if pushed.Load() != 1 {
		t.Errorf("ConfigChanged called %d times", pushed.Load())
	}
	if _, cat = get(t, s.URL()+"/api/v1/config", read); cat["seq"].(float64) != 2 {
		t.Errorf("config after publish: %v", cat["seq"])
	}
	// The old version's public page still answers, and so does the new one.
	for _, v := range []string{"1", "2"} {
		resp, err := http.Get(s.URL() + "/n/privacy-it/" + v)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("/n/privacy-it/%s: %d", v, resp.StatusCode)
		}
	}

	for name, tc := range map[string]struct {
		method, path, body, field string
	}{
		"same version":  {"POST", "/api/v1/notices", notice, "version"},
		"unknown lang":  {"POST", "/api/v1/notices", `{"id":"privacy-qq","version":1,"language":"qq","title":"T","text":"x"}`, "language"},
		"empty text":    {"POST", "/api/v1/notices", `{"id":"privacy-it","version":3,"language":"it","title":"T","text":"  "}`, "text"},
		"no title":      {"POST", "/api/v1/notices", `{"id":"privacy-it","version":3,"language":"it","text":"x"}`, "title"},
		"retention":     {"POST", "/api/v1/purposes", `{"code":"events","dpv":"dpv:DirectMarketing","retention_days":0}`, "retention_days"},
		"purpose code":  {"POST", "/api/v1/purposes", `{"code":"Bad Code","dpv":"x","retention_days":10}`, "code"},
		"tp kind":       {"POST", "/api/v1/touchpoints", `{"id":"kiosk-2","name":"K","kind":"xyz"}`, "kind"},
		"tp path":       {"PUT", "/api/v1/touchpoints/fair-milano-b12", `{"id":"other","name":"K","kind":"ctp"}`, "id"},
		"tp kind fixed": {"PUT", "/api/v1/touchpoints/fair-milano-b12", `{"name":"K","kind":"rtp"}`, "kind"},
	} {
		code, body := send(t, tc.method, s.URL()+tc.path, admin, tc.body)
		e, _ := body["error"].(map[string]any)
		if code != 400 || e["field"] != tc.field || !strings.HasPrefix(e["message"].(string), tc.field+": ") {
			t.Errorf("%s: %d %v, want 400 naming %s", name, code, body, tc.field)
		}
	}
	if code, body := send(t, "POST", s.URL()+"/api/v1/notices", admin, `{"id":"x","unknown":1}`); code != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "unknown") {
		t.Errorf("unknown field: %d %v", code, body)
	}
	if code, _ := send(t, "POST", s.URL()+"/api/v1/purposes", admin, `{"code":"newsletter","dpv":"d","retention_days":10,"text":{"it":{"title":"N"}}}`); code != http.StatusConflict {
		t.Errorf("add an existing purpose: %d", code)
	}
	if code, _ := send(t, "PUT", s.URL()+"/api/v1/purposes/nope", admin, `{"dpv":"d","retention_days":10,"text":{"it":{"title":"N"}}}`); code != http.StatusNotFound {
		t.Errorf("set an unknown purpose: %d", code)
	}
	if _, cat = get(t, s.URL()+"/api/v1/config", read); cat["seq"].(float64) != 2 {
		t.Errorf("refused changes moved the log to %v", cat["seq"])
	}

	code, body = send(t, "POST", s.URL()+"/api/v1/purposes", admin,
		`{"code":"events","dpv":"dpv:DirectMarketing","category":"marketing","legal_basis":"dpv:Consent","retention_days":365,"text":{"it":{"title":"Eventi"}}}`)
	if code != http.StatusCreated || body["seq"].(float64) != 3 {
		t.Fatalf("add purpose: %d %v", code, body)
	}
	code, body = send(t, "PUT", s.URL()+"/api/v1/touchpoints/fair-milano-b12", admin,
		`{"name":"Fiera Milano, booth C3","kind":"ctp","country":"IT","language":"it"}`)
	if code != http.StatusOK || body["seq"].(float64) != 4 {
		t.Fatalf("set touchpoint: %d %v", code, body)
	}
	code, list := get(t, s.URL()+"/api/v1/notices", read)
	if ns := list["notices"].([]any); code != 200 || len(ns) != 3 || ns[1].(map[string]any)["active"] != false || ns[1].(map[string]any)["text"] != "" {
		t.Errorf("notices: %d %v", code, list)
	}
}

// FuzzDecodeConfigRequest feeds publish bodies through decoding and the
// catalog edit they ask for: nothing panics, and whatever is accepted is a
// catalog that may follow the one before (versions kept, still valid).
func FuzzDecodeConfigRequest(f *testing.F) {
	f.Add([]byte(`{"id":"privacy-it","version":2,"language":"it","title":"T","text":"x"}`))
	f.Add([]byte(`{"code":"events","dpv":"d","retention_days":1,"text":{"it":{"title":"E"}}}`))
	f.Add([]byte(`{"id":"k","name":"K","kind":"ctp","country":"IT"}`))
	f.Add([]byte(`{"id":"x"} {}`))
	prev, err := fixtures.Catalog()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(next *catalog.Catalog, err error) {
			if err == nil {
				if ferr := next.Follows(prev); ferr != nil {
					t.Fatalf("accepted a catalog that cannot follow: %v", ferr)
				}
			} else if apperr.Code(err) == apperr.EINTERNAL {
				t.Fatalf("internal error for bad input: %v", err)
			}
		}
		var n hubhttp.NoticeRequest
		if hubhttp.DecodeConfigRequest(bytes.NewReader(b), &n) == nil {
			next, err := prev.AddNotice(catalog.Notice{ID: n.ID, Version: n.Version, Language: n.Language, Title: n.Title, Summary: n.Summary, Text: n.Text})
			check(next, err)
			if err == nil && !next.IsActive(n.ID, n.Version) {
				t.Fatal("a published version is not active")
			}
		}
		var p catalog.Purpose
		if hubhttp.DecodeConfigRequest(bytes.NewReader(b), &p) == nil {
			check(prev.PutPurpose(p, true))
			check(prev.PutPurpose(p, false))
		}
		var tp catalog.Touchpoint
		if hubhttp.DecodeConfigRequest(bytes.NewReader(b), &tp) == nil {
			check(prev.PutTouchpoint(tp, true))
			check(prev.PutTouchpoint(tp, false))
		}
	})
}
