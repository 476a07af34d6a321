package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/dashboard"
	"github.com/attesta/attesta/hub/sqlite"
)

const password = "correct horse battery"

// env is a dashboard on a real SQLite store behind a loopback server, with
// a clock the test moves.
type env struct {
	t    testing.TB
	st   *sqlite.Store
	dash *dashboard.Handler
	srv  *httptest.Server

	mu  sync.Mutex
	now time.Time
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hub.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := fixtures.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Publish(ctx, cat); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: st, now: time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)}
	st.Now = e.clock
	hash, err := hub.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddUser(ctx, "dpo", hash); err != nil {
		t.Fatal(err)
	}
	e.dash = dashboard.New(st)
	e.dash.Now = e.clock
	e.dash.Logger = slog.New(slog.DiscardHandler)
	mux := http.NewServeMux()
	mux.Handle(dashboard.Prefix, e.dash)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }

func (e *env) advance(d time.Duration) { e.mu.Lock(); e.now = e.now.Add(d); e.mu.Unlock() }

// client is a browser-like client: a cookie jar, redirects not followed.
type client struct {
	e   *env
	c   *http.Client
	hdr http.Header // sent with every request
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hdr: http.Header{}, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type resp struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

func (c *client) do(method, path string, form url.Values, hdr ...string) resp {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Location: res.Header.Get("Location"), Body: string(b), Header: res.Header}
}

func (c *client) get(path string) resp { c.e.t.Helper(); return c.do("GET", path, nil) }

func (c *client) post(path string, form url.Values, hdr ...string) resp {
	c.e.t.Helper()
	return c.do("POST", path, form, hdr...)
}

func (c *client) login(pw string) resp {
	c.e.t.Helper()
	return c.post("/dashboard/login", url.Values{"login": {"dpo"}, "password": {pw}, "next": {"/dashboard/"}})
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the token the page at path carries in its forms.
func (c *client) csrf() string {
	c.e.t.Helper()
	r := c.get("/dashboard/")
	m := csrfRE.FindStringSubmatch(r.Body)
	if r.Status != 200 || m == nil {
		c.e.t.Fatalf("overview: %d, no csrf token in it", r.Status)
	}
	return m[1]
}

func (c *client) signedIn() *client {
	c.e.t.Helper()
	if r := c.login(password); r.Status != http.StatusSeeOther || r.Location != "/dashboard/" {
		c.e.t.Fatalf("sign in: %d → %q\n%s", r.Status, r.Location, r.Body)
	}
	return c
}

func TestWithoutSession(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for _, p := range []string{"/dashboard/", "/dashboard/devices", "/dashboard/consents", "/dashboard/subjects?q=a%40b.it",
		"/dashboard/subjects/x", "/dashboard/quarantine", "/dashboard/requests", "/dashboard/requests/new",
		"/dashboard/proofs/0190a1b2-0000-7000-8000-000000000000", "/dashboard/proofs/0190a1b2-0000-7000-8000-000000000000/verify"} {
		r := c.get(p)
		if r.Status != http.StatusSeeOther || r.Location != "/dashboard/login?next="+url.QueryEscape(p) {
			t.Errorf("GET %s without a session: %d → %q, want 303 to the sign-in page", p, r.Status, r.Location)
		}
	}
	if r := c.get("/dashboard/api/live"); r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, `"unauthorized"`) {
		t.Errorf("fetch endpoint without a session: %d %s, want 401 JSON", r.Status, r.Body)
	}
	// A form posted without a session changes nothing and goes to sign-in.
	r := c.post("/dashboard/requests", url.Values{"kind": {"access"}, "email": {"anna@example.com"}, "csrf": {"x"}})
	if r.Status != http.StatusSeeOther || r.Location != "/dashboard/login" {
		t.Errorf("POST without a session: %d → %q", r.Status, r.Location)
	}
	// A cookie that is not a session of this hub is no session.
	forged, _ := hub.NewSecret()
	r = c.do("GET", "/dashboard/", nil, "Cookie", "attesta_session="+forged)
	if r.Status != http.StatusSeeOther {
		t.Errorf("forged session cookie: %d", r.Status)
	}
	if n := e.requests(); n != 0 {
		t.Errorf("%d requests created without a session", n)
	}
}

func (e *env) requests() int {
	rs, err := e.st.Requests(context.Background(), hub.RequestFilter{States: []hub.RequestState{hub.RequestOpen, hub.RequestInProgress, hub.RequestDone, hub.RequestRefused}, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(rs)
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client().signedIn()
	token := c.csrf()
	other := e.client().signedIn().csrf() // a valid token, of another session
	form := func(tok string) url.Values {
		v := url.Values{"kind": {"access"}, "email": {"anna@example.com"}}
		if tok != "" {
			v.Set("csrf", tok)
		}
		return v
	}
	cases := []struct {
		name string
		form url.Values
		hdr  []string
	}{
		{"no token", form(""), nil},
		{"wrong token", form("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), nil},
		{"another session's token", form(other), nil},
		{"token in the query only", form(""), nil},
		{"right token, foreign Origin", form(token), []string{"Origin", "https://evil.example"}},
		{"right token, cross-site fetch metadata", form(token), []string{"Sec-Fetch-Site", "cross-site"}},
		{"right token, same-site but other origin", form(token), []string{"Sec-Fetch-Site", "same-site"}},
	}
	for _, cc := range cases {
		path := "/dashboard/requests"
		if cc.name == "token in the query only" {
			path += "?csrf=" + url.QueryEscape(token)
		}
		r := c.post(path, cc.form, cc.hdr...)
		if r.Status != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", cc.name, r.Status)
		}
	}
	if r := c.post("/dashboard/logout", url.Values{"csrf": {"nope"}}); r.Status != http.StatusForbidden {
		t.Errorf("logout with a wrong token: %d, want 403", r.Status)
	}
	if r := c.post("/dashboard/requests/act", url.Values{"action": {"start"}, "id": {"x"}}); r.Status != http.StatusForbidden {
		t.Errorf("bulk action without a token: %d, want 403", r.Status)
	}
	if n := e.requests(); n != 0 {
		t.Fatalf("%d requests created by refused posts", n)
	}
	// The same form with its token, from the dashboard itself, works.
	r := c.post("/dashboard/requests", form(token), "Origin", e.srv.URL, "Sec-Fetch-Site", "same-origin")
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/dashboard/requests/") {
		t.Fatalf("create with the token: %d → %q\n%s", r.Status, r.Location, r.Body)
	}
	if n := e.requests(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestLoginAndCookie(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	if r := c.login("wrong password"); r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "Wrong login or password") {
		t.Errorf("wrong password: %d", r.Status)
	}
	if r := c.post("/dashboard/login", url.Values{"login": {"nobody"}, "password": {password}}); r.Status != http.StatusUnauthorized ||
		!strings.Contains(r.Body, "Wrong login or password") {
		t.Errorf("unknown login: %d (must read the same as a wrong password)", r.Status)
	}
	r := c.login(password)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("sign in: %d", r.Status)
	}
	sc := r.Header.Values("Set-Cookie")
	if len(sc) != 1 {
		t.Fatalf("Set-Cookie: %q", sc)
	}
	for _, want := range []string{"attesta_session=", "Path=/dashboard/", "HttpOnly", "SameSite=Strict", "Max-Age=43200"} {
		if !strings.Contains(sc[0], want) {
			t.Errorf("cookie %q lacks %q", sc[0], want)
		}
	}
	if strings.Contains(sc[0], "Secure") {
		t.Errorf("cookie %q is Secure on plain http: the browser would drop it", sc[0])
	}
	// The store keeps only a hash of the secret.
	secret := strings.TrimPrefix(strings.SplitN(sc[0], ";", 2)[0], "attesta_session=")
	if _, err := e.st.Session(context.Background(), secret); err == nil {
		t.Error("the store finds a session by its cookie secret: it must hold only the hash")
	}
	if _, err := e.st.Session(context.Background(), hub.SessionID(secret)); err != nil {
		t.Errorf("no session by the secret's hash: %v", err)
	}
	page := c.get("/dashboard/")
	if page.Status != 200 || !strings.Contains(page.Body, `data-testid="user">dpo<`) {
		t.Fatalf("overview after sign-in: %d", page.Status)
	}
	csp := page.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP allows inline code: %q", csp)
	}
	if page.Header.Get("Cache-Control") != "no-store" || page.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: %v", page.Header)
	}
	// Sign out ends the session server-side: the old cookie is worthless.
	if r := c.post("/dashboard/logout", url.Values{"csrf": {c.csrf()}}); r.Status != http.StatusSeeOther || r.Location != "/dashboard/login" {
		t.Fatalf("sign out: %d %q", r.Status, r.Location)
	}
	if r := c.do("GET", "/dashboard/", nil, "Cookie", "attesta_session="+secret); r.Status != http.StatusSeeOther {
		t.Errorf("old cookie after sign-out: %d, want a redirect to sign-in", r.Status)
	}
}

func TestSecureCookieOverHTTPS(t *testing.T) {
	e := newEnv(t)
	e.dash.PublicURL = "https://privacy.example.com"
	c := e.client()
	r := c.login(password)
	sc := r.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-attesta_session=", "Path=/;", "Secure", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(sc, want) {
			t.Errorf("cookie %q lacks %q", sc, want)
		}
	}
	if r.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS over https")
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.client().signedIn()
	// Active every 20 minutes: the idle limit never bites...
	for range 5 {
		e.advance(20 * time.Minute)
		if r := c.get("/dashboard/devices"); r.Status != 200 {
			t.Fatalf("after %s of activity: %d", 20*time.Minute, r.Status)
		}
	}
	// ...but 31 minutes of silence does.
	e.advance(31 * time.Minute)
	if r := c.get("/dashboard/devices"); r.Status != http.StatusSeeOther {
		t.Fatalf("after 31 idle minutes: %d, want a redirect to sign-in", r.Status)
	}
	// Absolute: twelve hours after sign-in, however active.
	c = e.client().signedIn()
	for i := range 25 {
		e.advance(29 * time.Minute)
		want := 200
		if time.Duration(i+1)*29*time.Minute >= hub.SessionMax {
			want = http.StatusSeeOther
		}
		if r := c.get("/dashboard/devices"); r.Status != want {
			t.Fatalf("%s after sign-in: %d, want %d", time.Duration(i+1)*29*time.Minute, r.Status, want)
		}
	}
}

func TestLoginThrottle(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for i := range hub.ThrottleFreeLogin {
		if r := c.login("wrong password"); r.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.Status)
		}
	}
	// Now even the right password waits: a guesser learns nothing.
	r := c.login(password)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "1" || !strings.Contains(r.Body, "Too many failed sign-ins") {
		t.Fatalf("6th attempt: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	e.advance(time.Second)
	if r := c.login("wrong again"); r.Status != http.StatusUnauthorized {
		t.Fatalf("after the wait: %d", r.Status)
	}
	if r := c.login(password); r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("after 6 failures: %d Retry-After %q, want 429 and 2", r.Status, r.Header.Get("Retry-After"))
	}
	e.advance(2 * time.Second)
	if r := c.login(password); r.Status != http.StatusSeeOther {
		t.Fatalf("right password after the wait: %d", r.Status)
	}
	// A success clears the login's count.
	if r := e.client().login("wrong password"); r.Status != http.StatusUnauthorized {
		t.Fatalf("after a success: %d, want a plain failure", r.Status)
	}
}

func TestParallelGuessesCannotSlipUnderTheLimit(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for range 20 {
		wg.Go(func() { statuses <- e.client().login("guess").Status })
	}
	wg.Wait()
	close(statuses)
	checked := 0
	for s := range statuses {
		if s == http.StatusUnauthorized {
			checked++
		}
	}
	if checked != hub.ThrottleFreeLogin {
		t.Errorf("%d of 20 parallel guesses had their password checked, want %d", checked, hub.ThrottleFreeLogin)
	}
}

func TestSafeRedirectAfterLogin(t *testing.T) {
	e := newEnv(t)
	for next, want := range map[string]string{
		"/dashboard/devices":          "/dashboard/devices",
		"/dashboard/subjects?q=a%40b": "/dashboard/subjects?q=a%40b",
		"https://evil.example/":       "/dashboard/",
		"//evil.example/dashboard/":   "/dashboard/",
		"/dashboard/../admin":         "/dashboard/",
		"/\\evil.example":             "/dashboard/",
		"javascript:alert(1)":         "/dashboard/",
		"/dashboard/logout":           "/dashboard/",
	} {
		r := e.client().post("/dashboard/login", url.Values{"login": {"dpo"}, "password": {password}, "next": {next}})
		if r.Status != http.StatusSeeOther || r.Location != want {
			t.Errorf("next=%q: %d → %q, want %q", next, r.Status, r.Location, want)
		}
	}
}

func TestXSSInRequestsIsText(t *testing.T) {
	e := newEnv(t)
	c := e.client().signedIn()
	token := c.csrf()
	payload := `<script>alert(1)</script>"><img src=x onerror=alert(2)>'><svg onload=alert(3)>`
	r := c.post("/dashboard/requests", url.Values{"csrf": {token}, "kind": {"rectification"}, "email": {"anna@example.com"},
		"details": {payload}})
	if r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	id := strings.TrimPrefix(r.Location, "/dashboard/requests/")
	if r := c.post("/dashboard/requests/act", url.Values{"csrf": {token}, "id": {id}, "action": {"refuse"}, "note": {payload},
		"back": {"/dashboard/requests/" + id}}); r.Status != http.StatusSeeOther {
		t.Fatalf("refuse: %d %s", r.Status, r.Body)
	}
	page := c.get("/dashboard/requests/" + id)
	if page.Status != 200 {
		t.Fatalf("request page: %d", page.Status)
	}
	for _, bad := range []string{"<script>alert", "<img src=x", "<svg onload", `"><img`} {
		if strings.Contains(page.Body, bad) {
			t.Errorf("the page holds %q unescaped", bad)
		}
	}
	if !strings.Contains(page.Body, "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(2)&gt;") {
		t.Errorf("the details are not shown as escaped text:\n%s", page.Body)
	}
	// A login page re-shown after a failure echoes the login escaped.
	lp := e.client().post("/dashboard/login", url.Values{"login": {`"><script>alert(1)</script>`}, "password": {"x"}})
	if strings.Contains(lp.Body, "<script>alert") {
		t.Error("the sign-in page echoes the login unescaped")
	}
}

func TestRequestsThroughTheDashboard(t *testing.T) {
	e := newEnv(t)
	c := e.client().signedIn()
	token := c.csrf()
	var ids []string
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		r := c.post("/dashboard/requests", url.Values{"csrf": {token}, "kind": {"access"}, "email": {email}})
		if r.Status != http.StatusSeeOther {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		ids = append(ids, strings.TrimPrefix(r.Location, "/dashboard/requests/"))
	}
	// Received 31 January: due 28 February, not 3 March.
	page := c.get("/dashboard/requests")
	if page.Status != 200 || strings.Count(page.Body, `data-request="`) != 3 || !strings.Contains(page.Body, "Sat 28 Feb 2026") {
		t.Fatalf("queue: %d\n%s", page.Status, page.Body)
	}
	// Extend needs a reason.
	if r := c.post("/dashboard/requests/act", url.Values{"csrf": {token}, "id": ids, "action": {"extend"}}); r.Status != http.StatusBadRequest {
		t.Errorf("extend without a reason: %d", r.Status)
	}
	r := c.post("/dashboard/requests/act", url.Values{"csrf": {token}, "id": ids, "action": {"start"}, "back": {"/dashboard/requests"}})
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "done=start%3A+3+of+3") {
		t.Fatalf("bulk start: %d → %q", r.Status, r.Location)
	}
	r = c.post("/dashboard/requests/act", url.Values{"csrf": {token}, "id": ids[:2], "action": {"complete"}, "back": {"/dashboard/requests"}})
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "done=complete%3A+2+of+2") {
		t.Fatalf("bulk complete: %d → %q", r.Status, r.Location)
	}
	// Completing again fails per request and says why.
	r = c.post("/dashboard/requests/act", url.Values{"csrf": {token}, "id": ids, "action": {"complete"}, "back": {"/dashboard/requests"}})
	if !strings.Contains(r.Location, "done=complete%3A+1+of+3") || !strings.Contains(r.Location, "failed=") {
		t.Fatalf("complete again: %q", r.Location)
	}
	shown := c.get(r.Location)
	if !strings.Contains(shown.Body, `data-testid="failed"`) || !strings.Contains(shown.Body, ids[0]) {
		t.Errorf("the queue does not show which requests failed")
	}
	detail := c.get("/dashboard/requests/" + ids[0])
	for _, want := range []string{`data-testid="request-state">Done<`, "dpo", "start", "complete", `data-testid="export"`} {
		if !strings.Contains(detail.Body, want) {
			t.Errorf("request page lacks %q", want)
		}
	}
	if ex := c.get("/dashboard/requests/" + ids[0] + "/export"); ex.Status != 200 || !strings.Contains(ex.Body, `"format"`) {
		t.Errorf("export: %d %s", ex.Status, ex.Body)
	}
	// The queue's default view shows only what is still open.
	if page := c.get("/dashboard/requests"); strings.Count(page.Body, `data-request="`) != 0 {
		t.Errorf("the open queue still lists closed requests")
	}
	if page := c.get("/dashboard/requests?state=done&kind=access"); strings.Count(page.Body, `data-request="`) != 3 {
		t.Errorf("done filter: %d rows", strings.Count(page.Body, `data-request="`))
	}
}

func TestPagesRender(t *testing.T) {
	e := newEnv(t)
	c := e.client().signedIn()
	for _, p := range []string{"/dashboard/", "/dashboard/devices", "/dashboard/consents", "/dashboard/consents?days=90",
		"/dashboard/subjects", "/dashboard/subjects?q=nobody%40example.com", "/dashboard/subjects?q=%2B39+333", "/dashboard/quarantine",
		"/dashboard/requests", "/dashboard/requests?state=all", "/dashboard/requests/new", "/dashboard/notices", "/dashboard/login"} {
		r := c.get(p)
		want := 200
		if p == "/dashboard/login" {
			want = http.StatusSeeOther // signed in already
		}
		if r.Status != want {
			t.Errorf("GET %s: %d\n%s", p, r.Status, r.Body)
		}
	}
	for p, want := range map[string]int{"/dashboard/consents?days=1000": 400, "/dashboard/requests?state=nope": 400,
		"/dashboard/proofs/not-an-id": 400, "/dashboard/proofs/0190a1b2-0000-7000-8000-000000000000": 404,
		"/dashboard/subjects/nobody": 404, "/dashboard/requests/nope": 404} {
		if r := c.get(p); r.Status != want {
			t.Errorf("GET %s: %d, want %d", p, r.Status, want)
		}
	}
	if r := c.get("/dashboard/api/live"); r.Status != 200 || !strings.HasPrefix(r.Body, `{"devices":[]}`) {
		t.Errorf("api/live: %d %s", r.Status, r.Body)
	}
	if r := c.get("/dashboard/static/app.css"); r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
		t.Errorf("app.css: %d %s", r.Status, r.Header.Get("Content-Type"))
	}
}

// FuzzUnauthenticated sends arbitrary paths, cookies, origins and form
// bodies without a session: nothing is served but the sign-in page and
// static files, nothing fails with a 5xx, and nothing is created.
func FuzzUnauthenticated(f *testing.F) {
	f.Add("GET", "/dashboard/", "", "", "")
	f.Add("POST", "/dashboard/requests", "attesta_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "kind=access&email=a%40b.it&csrf=x")
	f.Add("POST", "/dashboard/requests/act", "attesta_session=x", "https://evil.example", "id=1&id=2&action=start")
	f.Add("POST", "/dashboard/login", "", "null", "login=dpo&password=%00&next=//evil")
	f.Add("GET", "/dashboard/api/live", "attesta_session=\"\"", "", "")
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, method, path, cookie, origin, body string) {
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		if !strings.HasPrefix(path, "/dashboard/") || strings.ContainsAny(path, " \r\n\t#") {
			return
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			return // no client can send it
		}
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		e.dash.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s (cookie %q): %d %s", method, path, cookie, w.Code, w.Body)
		}
		if w.Code == 200 && !strings.HasPrefix(req.URL.Path, "/dashboard/static/") && req.URL.Path != "/dashboard/login" {
			t.Fatalf("%s %s served 200 without a session", method, path)
		}
	})
}

func TestPublishNotice(t *testing.T) {
	e := newEnv(t)
	pushed := 0
	e.dash.ConfigChanged = func() { pushed++ }
	c := e.client().signedIn()
	token := c.csrf()
	form := url.Values{"csrf": {token}, "id": {"privacy-en"}, "version": {"2"}, "language": {"en"}, "title": {"Privacy notice <v2>"},
		"text": {"# Privacy notice\r\n\r\nWe changed <script>nothing</script>.\r\n"}}
	if r := c.post("/dashboard/notices", url.Values{"id": {"privacy-en"}, "version": {"2"}}); r.Status != http.StatusForbidden {
		t.Errorf("publish without the token: %d", r.Status)
	}
	r := c.post("/dashboard/notices", form)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("publish: %d\n%s", r.Status, r.Body)
	}
	if pushed != 1 {
		t.Errorf("ConfigChanged called %d times", pushed)
	}
	cat, err := e.st.Catalog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, ok := cat.Notice("privacy-en", 2)
	if !ok || strings.Contains(n.Text, "\r") {
		t.Fatalf("published notice: %v %q", ok, n.Text)
	}
	if v1, _ := cat.Notice("privacy-en", 1); n.Summary == "" || n.Summary != v1.Summary {
		t.Errorf("summary %q, want the previous version's %q", n.Summary, v1.Summary)
	}
	page := c.get(r.Location)
	if !strings.Contains(page.Body, "Published privacy-en v2") || !strings.Contains(page.Body, "Privacy notice &lt;v2&gt;") ||
		!strings.Contains(page.Body, `badge">replaced`) {
		t.Errorf("notices page after publishing:\n%s", page.Body)
	}
	// The same version again is refused with the reason, the form kept.
	r = c.post("/dashboard/notices", form)
	if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, `data-testid="form-error"`) || !strings.Contains(r.Body, "Privacy notice &lt;v2&gt;") {
		t.Errorf("publishing v2 twice: %d\n%s", r.Status, r.Body)
	}
	form.Set("version", "two")
	if r := c.post("/dashboard/notices", form); r.Status != http.StatusBadRequest {
		t.Errorf("version two: %d", r.Status)
	}
}

func TestQueueHighlightsDueDates(t *testing.T) {
	e := newEnv(t) // 31 January: due 28 February
	c := e.client().signedIn()
	if r := c.post("/dashboard/requests", url.Values{"csrf": {c.csrf()}, "kind": {"erasure"}, "email": {"anna@example.com"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.Status)
	}
	for _, step := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC), `class="" data-request`},
		{time.Date(2026, 2, 21, 9, 0, 0, 0, time.UTC), "7 d left"},
		{time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC), "due today"},
		{time.Date(2026, 3, 1, 0, 30, 0, 0, time.UTC), "overdue 1 d"},
	} {
		e.mu.Lock()
		e.now = step.at
		e.mu.Unlock()
		c = e.client().signedIn()
		page := c.get("/dashboard/requests")
		if !strings.Contains(page.Body, step.want) {
			t.Errorf("on %s the queue lacks %q", step.at.Format(time.DateOnly), step.want)
		}
		if ov := c.get("/dashboard/"); (step.want != `class="" data-request`) != strings.Contains(ov.Body, `data-testid="due-soon"`) {
			t.Errorf("on %s the overview's due-soon list is wrong", step.at.Format(time.DateOnly))
		}
	}
}

func TestQuarantineShowsReasonsAsText(t *testing.T) {
	e := newEnv(t)
	if _, err := e.st.DB().W.Exec(`INSERT INTO quarantine (collector, epoch, seq, record_id, hash, code, reason, envelope, sig, received_at)
		VALUES ('dev-1', 'ep', 7, '<img src=x onerror=alert(1)>', 'h1', 'bad_signature', 'signature does not verify: "<script>alert(1)</script>"', x'00', x'00', '2026-01-31T09:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	c := e.client().signedIn()
	page := c.get("/dashboard/quarantine")
	if page.Status != 200 || !strings.Contains(page.Body, "bad_signature") ||
		!strings.Contains(page.Body, "signature does not verify: &#34;&lt;script&gt;alert(1)&lt;/script&gt;&#34;") {
		t.Errorf("quarantine page:\n%s", page.Body)
	}
	if strings.Contains(page.Body, "<script>alert") || strings.Contains(page.Body, "<img src=x") {
		t.Error("the quarantine page holds markup from a record")
	}
	if ov := c.get("/dashboard/"); !strings.Contains(ov.Body, `<span class="num">1</span><span>records in quarantine`) {
		t.Error("the overview does not count the quarantined record")
	}
}

// One address guessing many logins is throttled too, after more attempts.
func TestLoginThrottlePerAddress(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for i := range hub.ThrottleFreeAddr {
		r := c.post("/dashboard/login", url.Values{"login": {fmt.Sprintf("user%d", i)}, "password": {"guess"}})
		if r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, r.Status)
		}
	}
	r := c.login(password)
	if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures from one address: %d", hub.ThrottleFreeAddr, r.Status)
	}
}

// Everyone behind one NAT or reverse proxy shares an address: their
// successful sign-ins must not count against it, yet one success must not
// wipe a guesser's failures there either.
func TestSuccessfulSignInsDoNotCountAgainstTheAddress(t *testing.T) {
	e := newEnv(t)
	for i := range 2 * hub.ThrottleFreeAddr {
		if r := e.client().login(password); r.Status != http.StatusSeeOther {
			t.Fatalf("successful sign-in %d: %d, Retry-After %q", i+1, r.Status, r.Header.Get("Retry-After"))
		}
		e.advance(2 * time.Minute)
	}
	guess := func(i int) resp {
		return e.client().post("/dashboard/login", url.Values{"login": {fmt.Sprintf("user%d", i)}, "password": {"guess"}})
	}
	for i := range hub.ThrottleFreeAddr - 1 {
		if r := guess(i); r.Status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i+1, r.Status)
		}
	}
	if r := e.client().login(password); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in among the guesses: %d", r.Status)
	}
	if r := guess(hub.ThrottleFreeAddr); r.Status != http.StatusUnauthorized {
		t.Fatalf("guess %d: %d", hub.ThrottleFreeAddr, r.Status)
	}
	if r := guess(hub.ThrottleFreeAddr + 1); r.Status != http.StatusTooManyRequests {
		t.Fatalf("guess %d, after a success in between: %d, want 429", hub.ThrottleFreeAddr+1, r.Status)
	}
}

// An address's failures are forgotten an hour after the last of them, even
// while its users keep signing in.
func TestSignInsDoNotKeepTheAddressFailuresAlive(t *testing.T) {
	e := newEnv(t)
	guessAll := func(round int) {
		t.Helper()
		for i := range hub.ThrottleFreeAddr {
			r := e.client().post("/dashboard/login", url.Values{"login": {fmt.Sprintf("user%d", i)}, "password": {"guess"}})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("round %d, guess %d: %d", round, i+1, r.Status)
			}
		}
	}
	guessAll(1)
	for range hub.ThrottleForget / (10 * time.Minute) {
		e.advance(10 * time.Minute)
		if r := e.client().login(password); r.Status != http.StatusSeeOther {
			t.Fatalf("sign-in at %s: %d", e.clock(), r.Status)
		}
	}
	guessAll(2)
}
