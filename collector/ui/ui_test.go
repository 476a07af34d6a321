package ui_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/attesta/attesta/collector/ui"
)

// get serves one request through ui.Handler.
func get(t testing.TB, method, path string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	ui.Handler().ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	res := rec.Result()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// mustGet fetches an asset that has to exist.
func mustGet(t testing.TB, path string) string {
	t.Helper()
	res, body := get(t, http.MethodGet, path)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, res.StatusCode)
	}
	return body
}

func checkSecurityHeaders(t *testing.T, path string, h http.Header) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", path, k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, d+";") && !strings.HasSuffix(csp, d) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, d)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("%s: CSP %q allows %q", path, csp, bad)
		}
	}
}

func TestHandler_Assets(t *testing.T) {
	for _, tc := range []struct{ path, ctype, start string }{
		{"/", "text/html; charset=utf-8", "<!doctype html>"},
		{"/index.html", "text/html; charset=utf-8", "<!doctype html>"},
		{"/app.css", "text/css; charset=utf-8", "/*"},
		{"/app.js", "text/javascript; charset=utf-8", "//"},
		{"/i18n/it.json", "application/json; charset=utf-8", "{"},
		{"/i18n/en.json", "application/json; charset=utf-8", "{"},
	} {
		res, body := get(t, http.MethodGet, tc.path)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d", tc.path, res.StatusCode)
			continue
		}
		if got := res.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if !strings.HasPrefix(body, tc.start) {
			t.Errorf("GET %s: body starts %q, want %q", tc.path, body[:min(len(body), 20)], tc.start)
		}
		checkSecurityHeaders(t, tc.path, res.Header)
	}
}

func TestHandler_NotFound(t *testing.T) {
	for _, p := range []string{"/nope.js", "/i18n/", "/i18n", "/i18n/xx.json", "/../ui.go", "/ui.go", "/static/index.html", "/api/v1/config"} {
		res, _ := get(t, http.MethodGet, p)
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, res.StatusCode)
		}
		checkSecurityHeaders(t, p, res.Header)
	}
}

func TestHandler_Methods(t *testing.T) {
	res, body := get(t, http.MethodHead, "/")
	if res.StatusCode != http.StatusOK || body != "" {
		t.Errorf("HEAD /: status %d, %d body bytes", res.StatusCode, len(body))
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		res, _ := get(t, m, "/")
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s /: status %d, want 405", m, res.StatusCode)
		}
		if res.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /: Allow %q", m, res.Header.Get("Allow"))
		}
		checkSecurityHeaders(t, m+" /", res.Header)
	}
}

// languages are the codes of the language buttons: the one list of languages.
func languages(t *testing.T, index string) []string {
	t.Helper()
	var codes []string
	for _, m := range regexp.MustCompile(`<button[^>]*\bdata-lang="([a-z]{2,3})"[^>]*>`).FindAllStringSubmatch(index, -1) {
		if !strings.Contains(m[0], `data-testid="language-`+m[1]+`"`) {
			t.Errorf("language button %s lacks data-testid=\"language-%s\"", m[1], m[1])
		}
		codes = append(codes, m[1])
	}
	if len(codes) < 2 {
		t.Fatalf("found languages %v in index.html, want at least it and en", codes)
	}
	return codes
}

func catalogues(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, code := range languages(t, mustGet(t, "/")) {
		var cat map[string]string
		if err := json.Unmarshal([]byte(mustGet(t, "/i18n/"+code+".json")), &cat); err != nil {
			t.Fatalf("i18n/%s.json: %v", code, err)
		}
		out[code] = cat
	}
	return out
}

func TestCatalogues_SameKeys(t *testing.T) {
	cats := catalogues(t)
	ref := cats["en"]
	if len(ref) == 0 {
		t.Fatal("en catalogue is empty")
	}
	for code, cat := range cats {
		for k, v := range cat {
			if _, ok := ref[k]; !ok {
				t.Errorf("%s has key %q that en lacks", code, k)
			}
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s: %q is empty", code, k)
			}
		}
		for k := range ref {
			if _, ok := cat[k]; !ok {
				t.Errorf("%s lacks key %q", code, k)
			}
		}
		// Placeholders must match, or a translation silently drops a value.
		ph := regexp.MustCompile(`\{\w+\}`)
		for k, v := range cat {
			a, b := ph.FindAllString(v, -1), ph.FindAllString(ref[k], -1)
			sort.Strings(a)
			sort.Strings(b)
			if !slices.Equal(a, b) {
				t.Errorf("%s %q: placeholders %v, en has %v", code, k, a, b)
			}
		}
	}
}

// Every catalogue file is listed as a language button, and every button has a file.
func TestCatalogues_Listed(t *testing.T) {
	listed := languages(t, mustGet(t, "/"))
	entries, err := os.ReadDir(filepath.Join("static", "i18n"))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(listed)
	sort.Strings(files)
	if !slices.Equal(listed, files) {
		t.Errorf("language buttons %v, catalogue files %v", listed, files)
	}
}

// Every message key the page and script use exists.
func TestCatalogues_KeysUsed(t *testing.T) {
	cats := catalogues(t)
	en := cats["en"]
	index, js := mustGet(t, "/"), mustGet(t, "/app.js")
	var used []string
	for _, m := range regexp.MustCompile(`data-i18n(?:-aria-label)?="([^"]+)"`).FindAllStringSubmatch(index, -1) {
		used = append(used, m[1])
	}
	for _, m := range regexp.MustCompile(`\bt\("([a-z_.]+)"`).FindAllStringSubmatch(js, -1) {
		used = append(used, m[1])
	}
	plurals := regexp.MustCompile(`\btn\("([a-z_.]+)"`).FindAllStringSubmatch(js, -1)
	for _, m := range plurals {
		used = append(used, m[1]+".one", m[1]+".other")
	}
	if len(used) < 50 || len(plurals) == 0 {
		t.Fatalf("found only %d keys in use (%d plural): the patterns are stale", len(used), len(plurals))
	}
	for _, k := range used {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is used but not in the catalogues", k)
		}
	}
}

// The stable test hooks the issue names.
func TestTestIDs(t *testing.T) {
	index, js := mustGet(t, "/"), mustGet(t, "/app.js")
	for _, id := range []string{
		"given_name", "family_name", "email", "phone",
		"signature", "notice-qr", "receipt-qr",
		"next", "confirm", "clear-signature", "language-it", "language-en",
	} {
		if !strings.Contains(index, `data-testid="`+id+`"`) {
			t.Errorf("index.html lacks data-testid=%q", id)
		}
	}
	// Purpose toggles are built per configured purpose.
	if !strings.Contains(js, `"data-testid", "purpose-" + p.code`) {
		t.Error(`app.js does not set data-testid "purpose-<code>" on the purpose toggles`)
	}
	// Each screen that goes forward has exactly one next button, so [data-testid=next]:visible is unique.
	for _, sec := range regexp.MustCompile(`(?s)<section[^>]*data-screen="(\w+)".*?</section>`).FindAllStringSubmatch(index, -1) {
		n := strings.Count(sec[0], `data-testid="next"`)
		want := 0
		switch sec[1] {
		case "identity", "notice", "purposes", "signature":
			want = 1
		}
		if n != want {
			t.Errorf("screen %s has %d next buttons, want %d", sec[1], n, want)
		}
	}
}

// Personal data never reaches storage that outlives the visitor.
func TestPrivacy(t *testing.T) {
	index, js := mustGet(t, "/"), mustGet(t, "/app.js")
	for _, bad := range []string{"localStorage", "sessionStorage", "indexedDB", "document.cookie", "pushState", "innerHTML", "eval("} {
		if strings.Contains(js, bad) {
			t.Errorf("app.js uses %s", bad)
		}
	}
	inputs := regexp.MustCompile(`<input\b[^>]*>`).FindAllString(index, -1)
	if len(inputs) < 6 {
		t.Fatalf("found %d inputs", len(inputs))
	}
	for _, in := range inputs {
		if !strings.Contains(in, `autocomplete="off"`) {
			t.Errorf("input without autocomplete=off: %s", in)
		}
	}
	for _, f := range regexp.MustCompile(`<form\b[^>]*>`).FindAllString(index, -1) {
		if !strings.Contains(f, `autocomplete="off"`) {
			t.Errorf("form without autocomplete=off: %s", f)
		}
	}
}

// Nothing is loaded from outside: the kiosk works offline.
func TestOffline(t *testing.T) {
	for _, p := range []string{"/", "/app.css", "/app.js"} {
		body := mustGet(t, p)
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindString(body); m != "" {
			t.Errorf("%s references %q", p, m)
		}
		if strings.Contains(body, "@import") || strings.Contains(body, "@font-face") {
			t.Errorf("%s imports a stylesheet or font", p)
		}
	}
}

// The whole flow's static transfer stays well inside the 150 KB budget.
func TestSize(t *testing.T) {
	total := 0
	for _, p := range []string{"/", "/app.css", "/app.js", "/i18n/it.json", "/i18n/en.json"} {
		total += len(mustGet(t, p))
	}
	if total > 100<<10 {
		t.Errorf("static assets are %d bytes, budget 100 KiB (150 KB for the whole flow)", total)
	}
}
