package browser

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/attesta/attesta/shared/proof"
)

const dpoPassword = "correct horse battery staple"

// addUser runs 'attesta-hub user add' with the password on stdin, as a
// script would.
func (s *stack) addUser(tb testing.TB, login string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins.hub, "user", "add", login, "--password-stdin", "--data", filepath.Join(s.dir, "hub"))
	cmd.Stdin = strings.NewReader(dpoPassword + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("user add: %v\n%s", err, out)
	}
}

// The XSS attempts a visitor's name or a request's text may carry. The
// kiosk refuses < and > in names, so the name attempt breaks out of an
// attribute instead.
const (
	xssName    = `Eve" autofocus onfocus="window.__xss=1`
	xssFamily  = `D'Arc & Co`
	xssDetails = `<script>window.__xss=2</script>"><img src=x onerror="window.__xss=3"><svg onload="window.__xss=4">`
)

// TestDashboard drives the head-office dashboard in Chromium against a real
// hub with a real kiosk: sign-in, devices, the consents chart, subject
// search, proof download and verification, the quarantine, and rights
// requests through to done, with XSS attempts shown as text. With
// ATTESTA_SCREENSHOTS=1 it writes docs/screenshots/hub-dashboard-*.png.
func TestDashboard(t *testing.T) {
	requireChromium(t)
	shots := os.Getenv("ATTESTA_SCREENSHOTS") == "1"
	s := newStack(t)
	s.addUser(t, "dpo")

	// Two visitors sign up at the kiosk; one has a name built to break out
	// of an HTML attribute.
	kiosk := newTab(t)
	emma := visitor{Given: "Emma", Family: "Clarke", Email: email("emma"), Phone: "+39 333 555 0101", Grant: []string{"newsletter", "profiling"}}
	eve := visitor{Given: xssName, Family: xssFamily, Email: email("eve"), Grant: []string{"newsletter"}}
	kiosk.signUp(s.kiosk.url+"/", "en", emma, nil)
	kiosk.signUp(s.kiosk.url+"/", "en", eve, nil)
	s.waitEvent(t, "Emma's consent", func(e event) bool { return e.Kind == "given" && e.Subject != nil && e.Subject.Email == emma.Email })
	s.waitEvent(t, "Eve's consent", func(e event) bool { return e.Kind == "given" && e.Subject != nil && e.Subject.Email == eve.Email })

	page := newTab(t)
	shot := func(name string) {
		t.Helper()
		if !shots {
			return
		}
		page.waitJS("a still page", `document.readyState === "complete" && document.fonts.status === "loaded"`)
		if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeShot(t, "hub-dashboard-"+name+".png", run(page, chromedp.CaptureScreenshot()))
	}
	dash := s.hubURL + "/dashboard/"

	// Without a session every page sends the browser to sign in.
	page.do(chromedp.Navigate(dash+"devices"), chromedp.WaitVisible(testid("login-form")))
	if loc := run(page, chromedp.Location()); !strings.Contains(loc, "/dashboard/login?next=") {
		t.Errorf("without a session /devices went to %s", loc)
	}
	page.do(chromedp.SendKeys(testid("login"), "dpo"), chromedp.SendKeys(testid("password"), "not the password"),
		chromedp.Click(testid("sign-in")), chromedp.WaitVisible(testid("login-error")))
	page.do(chromedp.SendKeys(testid("password"), dpoPassword))
	shot("1-login")
	page.do(chromedp.Click(testid("sign-in")), chromedp.WaitVisible(testid("nav-devices")))
	// It goes where it was asked to: the devices page.
	if loc := run(page, chromedp.Location()); loc != dash+"devices" {
		t.Errorf("after sign-in: %s, want %sdevices", loc, dash)
	}
	cookies := eval[string](page, `document.cookie`)
	if strings.Contains(cookies, "attesta_session") {
		t.Errorf("the session cookie is readable from script: %q", cookies)
	}

	// Devices: the kiosk, online, its chain ok and the current config.
	row := page.text("devices")
	for _, want := range []string{"Booth kiosk", "fair-milano-b12", "online", "ok"} {
		if !strings.Contains(row, want) {
			t.Errorf("device list lacks %q:\n%s", want, row)
		}
	}
	shot("2-devices")

	// Overview: the kiosk online and today's consents.
	page.do(chromedp.Click(testid("nav-overview")), chromedp.WaitVisible(testid("tile-online")))
	if got := page.text("tile-online"); got != "1 / 1" {
		t.Errorf("kiosks online: %q, want 1 / 1", got)
	}
	if got := page.text("tile-today"); got != "2" {
		t.Errorf("consents today: %q, want 2", got)
	}
	shot("3-overview")

	// Consents per day: bars in the inline SVG chart.
	page.do(chromedp.Click(testid("nav-consents")), chromedp.WaitVisible(testid("chart")))
	if n := eval[int](page, `document.querySelectorAll('[data-testid=chart] rect').length`); n < 1 {
		t.Errorf("the chart has %d bars", n)
	}
	shot("4-consents")

	// Subject search by email: one match goes straight to the person.
	page.do(chromedp.Click(testid("nav-subjects")), chromedp.WaitVisible(testid("search")),
		chromedp.SendKeys(testid("search"), strings.ToUpper(emma.Email)), chromedp.Click(testid("search-go")),
		chromedp.WaitVisible(testid("subject-name")))
	if got := page.text("subject-name"); got != "Emma Clarke" {
		t.Errorf("subject page name: %q", got)
	}
	if ids := page.text("identifiers"); !strings.Contains(ids, emma.Email) || !strings.Contains(ids, "+393335550101") {
		t.Errorf("identifiers: %q", ids)
	}
	if st := page.text("states"); !strings.Contains(st, "allowed") || !strings.Contains(st, "denied") {
		t.Errorf("states per purpose: %q", st)
	}
	subjectURL := run(page, chromedp.Location())
	shot("5-subject")

	// Proof download: the browser fetches the zip with its session, and the
	// zip verifies offline.
	href := eval[string](page, `document.querySelector('[data-testid^="proof-"]').href`)
	zipB64 := run(page, chromedp.Evaluate[string](`(async () => {
		const r = await fetch(document.querySelector('[data-testid^="proof-"]').href);
		if (!r.ok || r.headers.get("content-type") !== "application/zip") return "status " + r.status;
		const b = new Uint8Array(await r.arrayBuffer());
		let s = ""; for (const x of b) s += String.fromCharCode(x);
		return btoa(s); })()`, chromedp.EvalAwaitPromise))
	z, err := base64.StdEncoding.DecodeString(zipB64)
	if err != nil {
		t.Fatalf("proof download from %s: %s", href, zipB64)
	}
	if rep := proof.Verify(z); !rep.Valid {
		var b bytes.Buffer
		rep.WriteText(&b)
		t.Fatalf("the downloaded proof bundle does not verify:\n%s", b.String())
	}
	// The same link without the session cookie is refused.
	if res, err := http.Get(href); err != nil || res.Request.URL.Path != "/dashboard/login" {
		t.Errorf("proof link without a session: %v %v", err, res.Request.URL)
	} else {
		res.Body.Close()
	}

	// Verify: the hub runs the offline verifier and shows each check.
	page.do(chromedp.Click(chromedp.CSS(`[data-testid^="verify-"]`)), chromedp.WaitVisible(testid("verdict")))
	if got := page.text("verdict"); got != "VALID" {
		t.Errorf("verdict %q", got)
	}
	if checks := page.text("checks"); !strings.Contains(checks, "manifest signature") || !strings.Contains(checks, "countersignature") {
		t.Errorf("checks shown: %q", checks)
	}
	shot("6-verify")

	// The visitor whose name tries to break out of an attribute: shown as text.
	page.do(chromedp.Navigate(dash+"subjects?q="+eve.Email), chromedp.WaitVisible(testid("subject-name")))
	eveURL := run(page, chromedp.Location())
	if got := page.text("subject-name"); got != xssName+" "+xssFamily {
		t.Errorf("subject name shown as %q, want the literal %q", got, xssName+" "+xssFamily)
	}
	if n := eval[int](page, `document.querySelectorAll('[onfocus],[autofocus]').length`); n != 0 {
		t.Errorf("%d elements got the injected attributes", n)
	}

	// Quarantine: empty, and says so.
	page.do(chromedp.Click(testid("nav-quarantine")), chromedp.WaitVisible(testid("quarantine-empty")))

	// A rights request through to done: created from the subject's page…
	page.do(chromedp.Navigate(subjectURL), chromedp.WaitVisible(testid("subject-name")))
	page.do(chromedp.Navigate(dash+"requests/new"), chromedp.WaitVisible(testid("request-form")),
		chromedp.SetValue(testid("kind"), "access"), chromedp.SendKeys(testid("email"), emma.Email),
		chromedp.SendKeys(testid("details"), xssDetails))
	shot("7-request-new")
	page.do(chromedp.Click(testid("create")), chromedp.WaitVisible(testid("request-state")))
	reqURL := run(page, chromedp.Location())
	if got := page.text("request-state"); got != "Open" {
		t.Errorf("new request state %q", got)
	}
	if got := page.text("details"); got != xssDetails {
		t.Errorf("details shown as %q, want the literal text", got)
	}
	// …a second one for the bulk action…
	page.do(chromedp.Navigate(dash+"requests/new"), chromedp.WaitVisible(testid("request-form")),
		chromedp.SetValue(testid("kind"), "objection"), chromedp.SendKeys(testid("email"), eve.Email),
		chromedp.Click(testid("create")), chromedp.WaitVisible(testid("request-state")))
	// …both started at once from the queue…
	page.do(chromedp.Click(testid("nav-requests")), chromedp.WaitVisible(testid("queue")),
		chromedp.Click(testid("select-all")))
	if got := page.text("selected-count"); got != "2 selected" {
		t.Errorf("after select all: %q", got)
	}
	page.do(chromedp.SetValue(testid("bulk-action"), "start"), chromedp.Click(testid("bulk-apply")), chromedp.WaitVisible(testid("done")))
	if got := page.text("done"); !strings.Contains(got, "start: 2 of 2") {
		t.Errorf("bulk start: %q", got)
	}
	if q := page.text("queue"); strings.Count(q, "In progress") != 2 {
		t.Errorf("queue after the bulk start:\n%s", q)
	}
	shot("8-requests")
	// …and the access request completed from its page.
	page.do(chromedp.Navigate(reqURL), chromedp.WaitVisible(testid("act")),
		chromedp.SetValue(testid("action"), "complete"), chromedp.SendKeys(testid("note"), `answered by email "as asked" <b>`),
		chromedp.Click(testid("apply")), chromedp.WaitVisible(testid("done")))
	if got := page.text("request-state"); got != "Done" {
		t.Errorf("after complete: %q", got)
	}
	trail := page.text("trail")
	for _, want := range []string{"create", "start", "complete", "dpo", `answered by email "as asked" <b>`} {
		if !strings.Contains(trail, want) {
			t.Errorf("audit trail lacks %q:\n%s", want, trail)
		}
	}
	if !eval[bool](page, `!!document.querySelector('[data-testid=export]')`) {
		t.Error("a completed access request offers no export")
	}
	shot("9-request-done")

	// Eve asks to be erased: afterwards no dashboard page shows her data,
	// and her subject page shows the tombstone.
	page.do(chromedp.Navigate(dash+"requests/new"), chromedp.WaitVisible(testid("request-form")),
		chromedp.SetValue(testid("kind"), "erasure"), chromedp.SendKeys(testid("email"), eve.Email),
		chromedp.Click(testid("create")), chromedp.WaitVisible(testid("request-state")),
		chromedp.SetValue(testid("action"), "complete"), chromedp.Click(testid("apply")), chromedp.WaitVisible(testid("done")))
	if got := page.text("request-state"); got != "Done" {
		t.Errorf("erasure request after complete: %q", got)
	}
	page.do(chromedp.Navigate(dash+"subjects?q="+eve.Email), chromedp.WaitVisible(testid("gone")))
	page.do(chromedp.Navigate(eveURL), chromedp.WaitVisible(testid("erased")))
	for _, u := range []string{eveURL, dash + "requests?state=all", dash} {
		page.do(chromedp.Navigate(u), chromedp.WaitVisible(testid("nav-overview")))
		if leak := containsAny(page.pageText(), eve.Email, xssName, xssFamily, "Eve\""); leak != "" {
			t.Errorf("%s shows %q after the erasure", u, leak)
		}
	}
	page.do(chromedp.Navigate(eveURL), chromedp.WaitVisible(testid("erased")))
	shot("11-erased")

	// No attempt ran: no script executed, no injected element exists.
	if v := eval[string](page, `String(window.__xss)`); v != "undefined" {
		t.Errorf("injected script ran: window.__xss = %s", v)
	}
	if n := eval[int](page, `document.querySelectorAll('img[src="x"], svg[onload], script:not([src])').length`); n != 0 {
		t.Errorf("%d injected elements in the page", n)
	}

	// Notices: the versions published and the kiosk showing each.
	page.do(chromedp.Click(testid("nav-notices")), chromedp.WaitVisible(testid("notices")))
	if got := page.text("notices"); !strings.Contains(got, "Booth kiosk") || !strings.Contains(got, "privacy-en") {
		t.Errorf("notices page:\n%s", got)
	}
	shot("10-notices")

	// The overview follows kiosks going offline without a reload.
	page.do(chromedp.Click(testid("nav-overview")), chromedp.WaitVisible(testid("tile-online")))
	s.kiosk.Stop(t)
	page.waitJS("the kiosk shown offline", `(document.dispatchEvent(new Event("attesta:refresh")),
		document.querySelector("[data-testid=tile-online]").textContent === "0 / 1" &&
		document.querySelector("[data-live=status]").textContent.trim() === "offline")`)

	// Sign out: the session ends and the pages ask to sign in again.
	page.do(chromedp.Click(testid("logout")), chromedp.WaitVisible(testid("login-form")))
	page.do(chromedp.Navigate(reqURL), chromedp.WaitVisible(testid("login-form")))
}
