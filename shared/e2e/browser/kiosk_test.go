package browser

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/attesta/attesta/shared/e2e"
)

var visitors atomic.Int64

// email is unique per visitor, so a test finds its own record at the hub.
func email(name string) string {
	return fmt.Sprintf("%s.%d.%d@example.com", name, os.Getpid(), visitors.Add(1))
}

// TestKiosk runs the kiosk flows in Chromium against one real hub and one
// real collector (plus a second collector with a short idle timer).
func TestKiosk(t *testing.T) {
	requireChromium(t)
	s := newStack(t)
	t.Run("SignUpReachesHub", func(t *testing.T) { testSignUpReachesHub(t, s) })
	t.Run("QRCodesAndReceipt", func(t *testing.T) { testQRCodesAndReceipt(t, s) })
	t.Run("BadSubmissions", func(t *testing.T) { testBadSubmissions(t, s) })
	t.Run("IdleReset", func(t *testing.T) { testIdleReset(t, s) })
}

// testSignUpReachesHub: a visitor signs up in Italian; the capture is in the
// collector's outbox, reaches the hub, and the hub's events show the
// subject as typed, every purpose's choice as made, and the notice-viewed
// event tied to the consent.
func testSignUpReachesHub(t *testing.T, s *stack) {
	v := visitor{Given: "Zoë", Family: "D'Angelo Rossi", Email: email("zoe"), Phone: "+39 333 123 4567",
		Grant: []string{"newsletter", "profiling"}}
	before := s.kiosk.status(t)
	page := newTab(t)
	got := page.signUp(s.kiosk.url+"/", "it", v, nil)

	// Outbox first: both records are in the collector's SQLite file.
	rows := s.kiosk.outbox(t, before.Head)
	if len(rows) != 2 || rows[0].Kind != "notice_viewed" || rows[1].Kind != "given" {
		t.Fatalf("outbox after the sign-up: %+v, want a notice_viewed and a given record", rows)
	}
	view, consent := rows[0], rows[1]
	if st := s.kiosk.status(t); st.Head != before.Head+2 {
		t.Errorf("collector head %d → %d, want +2", before.Head, st.Head)
	}

	// The hub has it, exactly as chosen.
	ev := s.waitEvent(t, "the consent "+consent.ID, func(e event) bool { return e.ID == consent.ID })
	if ev.Kind != "given" || ev.Language != "it" || ev.Notice.ID != "privacy-it" || ev.SignatureHash == "" {
		t.Errorf("consent event: kind %q language %q notice %q signature %q", ev.Kind, ev.Language, ev.Notice.ID, ev.SignatureHash)
	}
	if ev.Subject == nil {
		t.Fatal("consent event has no subject: the hub did not open the sealed payload")
	}
	if sub := *ev.Subject; sub.GivenName != v.Given || sub.FamilyName != v.Family || sub.Email != v.Email || sub.Phone != v.Phone {
		t.Errorf("subject at the hub %+v, typed %+v", sub, v)
	}
	choices := map[string]bool{}
	for _, p := range ev.Purposes {
		choices[p.Purpose] = p.Granted
	}
	if len(choices) != len(got.Purposes) {
		t.Errorf("hub has choices %v for the %d purposes offered %v", choices, len(got.Purposes), got.Purposes)
	}
	for _, code := range got.Purposes {
		granted, ok := choices[code]
		if want := slices.Contains(v.Grant, code); !ok || granted != want {
			t.Errorf("purpose %s at the hub: granted=%v (present %v), the visitor chose %v", code, granted, ok, want)
		}
	}
	nv := s.waitEvent(t, "notice_viewed for "+consent.ID, func(e event) bool { return e.Kind == "notice_viewed" && e.Ref == consent.ID })
	if nv.ID != view.ID || nv.Notice != ev.Notice || nv.Notice.ViewedAt == "" {
		t.Errorf("notice_viewed %s %+v, want id %s and the consent's notice %+v", nv.ID, nv.Notice, view.ID, ev.Notice)
	}
	e2e.Eventually(t, 10*time.Second, "the outbox to record the hub's ack", func() (bool, string) {
		rows := s.kiosk.outbox(t, before.Head)
		return len(rows) == 2 && rows[0].Acked && rows[1].Acked, fmt.Sprintf("%+v", rows)
	})

	// A stolen kiosk discloses nothing: the personal fields are sealed.
	for _, f := range []string{"collector.db", "collector.db-wal"} {
		b, err := os.ReadFile(filepath.Join(s.kiosk.data, f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(v.Email)) || bytes.Contains(b, []byte(v.Family)) {
			t.Errorf("%s holds the visitor's email or name in clear", f)
		}
	}
}

// testQRCodesAndReceipt: with the kiosk offline, a visitor signs up; the
// notice QR and receipt QR, decoded from the page's images, point at the
// hub. The receipt page says "not yet" plainly until the record syncs, then
// shows the receipt; the notice page's SHA-256 is the record's; one
// withdraw button records a withdrawal tied to the consent.
func testQRCodesAndReceipt(t *testing.T, s *stack) {
	s.proxy.SetDown(true)
	t.Cleanup(func() { s.proxy.SetDown(false) })
	e2e.Eventually(t, 10*time.Second, "the kiosk to notice it is offline", func() (bool, string) {
		return !s.kiosk.status(t).Connected, "still connected"
	})

	v := visitor{Given: "Mario", Family: "Bianchi", Email: email("mario"), Grant: []string{"newsletter", "sms"}}
	before := s.kiosk.status(t)
	kiosk := newTab(t)
	got := kiosk.signUp(s.kiosk.url+"/", "en", v, nil)

	noticeURL := decodeQR(t, got.NoticeQR)
	receiptURL := decodeQR(t, got.ReceiptQR)
	if !strings.HasPrefix(noticeURL, s.hubURL+"/n/privacy-en/") || !strings.Contains(noticeURL, "sha256=") {
		t.Errorf("notice QR says %q, want the hub's page for privacy-en with its hash", noticeURL)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(s.hubURL) + `/r/[A-Za-z0-9_-]{20,}$`).MatchString(receiptURL) {
		t.Errorf("receipt QR says %q, want %s/r/<unguessable token>", receiptURL, s.hubURL)
	}

	// Offline: the capture waits in the outbox.
	if st := s.kiosk.status(t); st.Pending < 2 || st.Head != before.Head+2 {
		t.Errorf("offline capture: status %+v, want head +2 and both records pending", st)
	}

	// The visitor scans the receipt QR before the record has synced.
	phone := newTab(t)
	phone.do(chromedp.Navigate(receiptURL))
	phone.do(chromedp.WaitVisible(testid("receipt-pending")))
	if msg := phone.text("receipt-pending"); !strings.Contains(msg, "has not reached head office yet") {
		t.Errorf("pending receipt page says %q", msg)
	}
	get(t, receiptURL, "", http.StatusNotFound)

	// Back online.
	s.proxy.SetDown(false)
	s.kiosk.syncNow(t)
	consent := s.waitEvent(t, "the consent by "+v.Email, func(e event) bool {
		return e.Kind == "given" && e.Subject != nil && e.Subject.Email == v.Email
	})

	// The notice page from the QR shows the hash the record carries.
	phone.do(chromedp.Navigate(noticeURL))
	phone.do(chromedp.WaitVisible(testid("notice-sha256")))
	if sha := strings.TrimSpace(phone.text("notice-sha256")); sha != consent.Notice.SHA256 || sha == "" {
		t.Errorf("notice page SHA-256 %q, the record has %q", sha, consent.Notice.SHA256)
	}
	if u, err := url.Parse(noticeURL); err != nil || u.Query().Get("sha256") != consent.Notice.SHA256 {
		t.Errorf("notice QR's sha256 parameter differs from the record's %s: %s", consent.Notice.SHA256, noticeURL)
	}
	if strings.Contains(phone.pageText(), "not the version your link points to") {
		t.Error("the notice page says the QR's version does not match")
	}

	// The receipt now shows, with a withdraw button per granted purpose.
	phone.do(chromedp.Navigate(receiptURL))
	phone.do(chromedp.WaitVisible(testid("withdraw-newsletter")), chromedp.WaitVisible(testid("withdraw-sms")))
	text := phone.pageText()
	for _, want := range []string{v.Given, consent.ID, "Fiera Milano"} {
		if !strings.Contains(text, want) {
			t.Errorf("receipt page lacks %q", want)
		}
	}
	if strings.Contains(text, v.Email) {
		t.Errorf("receipt page shows the email %s unmasked to whoever holds the link", v.Email)
	}
	if n := eval[int](phone, `document.querySelectorAll('[data-testid^="withdraw-"]').length`); n != len(v.Grant) {
		t.Errorf("receipt page has %d withdraw buttons, the visitor granted %d purposes", n, len(v.Grant))
	}

	// Withdrawing is one tap.
	phone.do(chromedp.Tap(testid("withdraw-sms")))
	phone.waitJS("the withdrawal to be confirmed", `location.search.includes("done=1") && document.readyState === "complete" && document.querySelector('[data-testid="receipt-purpose-sms"]') && !document.querySelector('[data-testid="withdraw-sms"]')`)
	if row := phone.text("receipt-purpose-sms"); !strings.Contains(row, "Withdrawn") {
		t.Errorf("receipt row for sms after withdrawing: %q", row)
	}
	phone.do(chromedp.WaitVisible(testid("withdraw-newsletter")))
	w := s.waitEvent(t, "a withdrawal of "+consent.ID, func(e event) bool { return e.Kind == "withdrawn" && e.Ref == consent.ID })
	if len(w.Purposes) != 1 || w.Purposes[0].Purpose != "sms" || w.Purposes[0].Granted {
		t.Errorf("withdrawal purposes %+v, want sms only, not granted", w.Purposes)
	}

	// Asking for a copy of one's data is one tap too; it reaches head
	// office's queue as a request from the receipt page.
	phone.do(chromedp.Tap(testid("ask-access")))
	phone.waitJS("the request to be confirmed", `location.search.includes("asked=access") && document.readyState === "complete" && !!document.querySelector('[data-testid="request-asked"]')`)
	var queue struct {
		Requests []struct {
			Kind, Channel string
			SubjectID     string `json:"subject_id"`
		} `json:"requests"`
	}
	getJSON(t, s.hubURL+"/api/v1/requests", s.token, &queue)
	if len(queue.Requests) != 1 || queue.Requests[0].Kind != "access" || queue.Requests[0].Channel != "receipt" || queue.Requests[0].SubjectID == "" {
		t.Errorf("request queue after asking on the receipt page: %+v", queue.Requests)
	}
}

// testBadSubmissions: an invalid email, no purpose and no signature each
// stop the visitor with a plain message next to the problem, and nothing is
// stored; the collector's API refuses the same submissions on its own.
func testBadSubmissions(t *testing.T, s *stack) {
	before := s.kiosk.status(t)
	page := newTab(t)
	page.do(chromedp.Navigate(s.kiosk.url + "/"))
	page.startAt("en", func(string) {})
	page.waitScreen("identity")

	page.typeInto("given_name", "Anna")
	page.typeInto("family_name", "Verdi")
	page.typeInto("email", "anna@example")
	page.tap("next")
	page.waitJS("the email error", `document.querySelector('[data-testid="error-email"]').innerText !== ""`)
	page.waitScreen("identity")
	if msg := page.text("error-email"); !strings.Contains(msg, "doesn't look right") {
		t.Errorf("invalid email message: %q", msg)
	}
	if inv := eval[string](page, `document.getElementById("email").getAttribute("aria-invalid") || ""`); inv != "true" {
		t.Errorf("email field aria-invalid=%q", inv)
	}
	for _, id := range []string{"error-given_name", "error-family_name", "error-phone"} {
		if msg := page.text(id); msg != "" {
			t.Errorf("%s shows %q for a valid field", id, msg)
		}
	}
	eval[bool](page, `(document.getElementById("email").value = "", true)`)
	page.typeInto("email", email("anna"))
	page.tap("next")
	page.waitScreen("notice")
	page.tap("next")

	page.waitScreen("purposes")
	page.tap("next")
	page.waitJS("the no-purpose error", `document.querySelector('[data-testid="error-purposes"]').innerText !== ""`)
	page.waitScreen("purposes")
	if msg := page.text("error-purposes"); !strings.Contains(msg, "at least one purpose") {
		t.Errorf("no purpose message: %q", msg)
	}
	page.tap("purpose-phone")
	page.waitJS("the purpose error to clear", `document.querySelector('[data-testid="error-purposes"]').innerText === ""`)
	page.tap("next")

	page.waitScreen("signature")
	page.tap("next")
	page.waitJS("the no-signature error", `document.querySelector('[data-testid="error-signature"]').innerText !== ""`)
	page.waitScreen("signature")
	if msg := page.text("error-signature"); !strings.Contains(msg, "sign in the box") {
		t.Errorf("no signature message: %q", msg)
	}
	// Signing, then clearing, is no signature either.
	page.draw("signature", signature())
	page.tap("clear-signature")
	page.tap("next")
	page.waitJS("the no-signature error again", `document.querySelector('[data-testid="error-signature"]').innerText !== ""`)
	page.waitScreen("signature")

	// The same submissions straight to the API: refused, field named.
	var cfg struct {
		Notices []struct {
			ID       string `json:"id"`
			Version  int    `json:"version"`
			Language string `json:"language"`
		} `json:"notices"`
	}
	getJSON(t, s.kiosk.url+"/api/v1/config", "", &cfg)
	if len(cfg.Notices) == 0 {
		t.Fatal("no active notice in the config")
	}
	png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
	good := func() map[string]any {
		return map[string]any{
			"subject":   map[string]string{"given_name": "Anna", "family_name": "Verdi", "email": "anna@example.com"},
			"purposes":  map[string]bool{"newsletter": true, "sms": false},
			"notice":    map[string]any{"id": cfg.Notices[0].ID, "version": cfg.Notices[0].Version},
			"language":  "en",
			"signature": map[string]any{"png": png, "points": [][]map[string]float64{{{"x": 1, "y": 1, "t": 0, "p": 0.5}, {"x": 9, "y": 5, "t": 16, "p": 0.5}}}},
		}
	}
	for _, tc := range []struct {
		name, field, says string
		edit              func(map[string]any)
	}{
		{"invalid email", "subject.email", "email", func(b map[string]any) {
			b["subject"].(map[string]string)["email"] = "anna@example"
		}},
		{"no purpose granted", "purposes", "at least one purpose", func(b map[string]any) {
			b["purposes"] = map[string]bool{"newsletter": false, "sms": false}
		}},
		{"no signature", "signature", "sign", func(b map[string]any) { delete(b, "signature") }},
	} {
		b := good()
		tc.edit(b)
		body, _ := json.Marshal(b)
		res, err := http.Post(s.kiosk.url+"/api/v1/consents", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Field, Message string } `json:"error"`
		}
		json.NewDecoder(res.Body).Decode(&e)
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || e.Error.Field != tc.field || !strings.Contains(e.Error.Message, tc.says) {
			t.Errorf("%s: %d %+v, want 400 on field %s saying %q", tc.name, res.StatusCode, e.Error, tc.field, tc.says)
		}
	}

	// Nothing was stored by any of it.
	after := s.kiosk.status(t)
	if after.Head != before.Head || after.Pending != before.Pending {
		t.Errorf("collector status moved: head %d→%d pending %d→%d", before.Head, after.Head, before.Pending, after.Pending)
	}
	if rows := s.kiosk.outbox(t, before.Head); len(rows) != 0 {
		t.Errorf("outbox gained %+v", rows)
	}
}

// testIdleReset: a visitor who walks away mid-flow is wiped after the idle
// time; nothing of theirs survives in the inputs, the canvas, the page text,
// web storage or the browser history.
func testIdleReset(t *testing.T, s *stack) {
	const idle = 3 * time.Second
	c := s.addCollector(t, "idle", s.hubURL, "--idle", idle.String())
	kiosk := c.url + "/"
	v := visitor{Given: "Lucia", Family: "Neri", Email: email("lucia"), Phone: "+39 02 1234 5678"}

	page := newTab(t)
	// A page before the kiosk, so "back" has somewhere to go.
	neutral := s.hubURL + "/n/privacy-en/1"
	page.do(chromedp.Navigate(neutral))
	page.do(chromedp.Navigate(kiosk))
	histLen := eval[int](page, `history.length`)

	page.startAt("en", func(string) {})
	page.waitScreen("identity")
	page.typeInto("given_name", v.Given)
	page.typeInto("family_name", v.Family)
	page.typeInto("email", v.Email)
	page.typeInto("phone", v.Phone)
	page.tap("next")
	page.waitScreen("notice")
	page.tap("next")
	page.waitScreen("purposes")
	page.tap("purpose-newsletter")
	page.tap("next")
	page.waitScreen("signature")
	page.draw("signature", signature())
	left := time.Now()
	if st := page.inputsState(); len(st) < 5 {
		t.Fatalf("before the idle reset the page holds only %v", st)
	}

	// The visitor walks away.
	page.do(chromedp.WaitVisible(screenSel("language"), chromedp.RetryInterval(50*time.Millisecond)))
	if waited := time.Since(left); waited < idle-500*time.Millisecond || waited > idle+5*time.Second {
		t.Errorf("the kiosk reset after %s idle, configured %s", waited.Round(time.Millisecond), idle)
	}
	assertWiped(t, page, v)
	if n := eval[int](page, `history.length`); n != histLen {
		t.Errorf("the flow added %d history entries: back would walk through the visitor's screens", n-histLen)
	}

	// Back leaves the kiosk; forward returns to an empty start screen.
	page.history(-1)
	page.waitJS("the page before the kiosk", fmt.Sprintf(`location.href === %q`, neutral))
	if leak := containsAny(page.pageText(), v.Given, v.Family, v.Email); leak != "" {
		t.Errorf("after back, the page shows %q", leak)
	}
	page.history(+1)
	page.waitJS("the kiosk's start screen", fmt.Sprintf(`location.href === %q && !!document.querySelector('section[data-screen="language"]:not([hidden])')`, kiosk))
	assertWiped(t, page, v)

	// Leaving mid-flow without waiting for the reset, then coming back,
	// shows nothing either (no form restore, no back-forward cache).
	page.startAt("en", func(string) {})
	page.waitScreen("identity")
	page.typeInto("given_name", v.Given)
	page.typeInto("email", v.Email)
	page.do(chromedp.Navigate(neutral))
	page.history(-1)
	page.waitJS("the kiosk's start screen", fmt.Sprintf(`location.href === %q && !!document.querySelector('section[data-screen="language"]:not([hidden])')`, kiosk))
	assertWiped(t, page, v)
}

// assertWiped checks that no trace of v is on the kiosk page.
func assertWiped(t *testing.T, page *tab, v visitor) {
	t.Helper()
	if st := page.inputsState(); len(st) != 0 {
		t.Errorf("inputs still hold %v", st)
	}
	if leak := containsAny(page.pageText(), v.Given, v.Family, v.Email, v.Phone); leak != "" {
		t.Errorf("the page still shows %q", leak)
	}
	type state struct {
		Ink, Storage int
		Signed       bool
		Cookie       string
		Images       []string
	}
	st := eval[state](page, `(() => {
		const c = document.getElementById("signature");
		let ink = 0;
		if (c.width && c.height) {
			const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			for (let i = 3; i < d.length; i += 4) if (d[i]) ink++;
		}
		return {Ink: ink, Storage: localStorage.length + sessionStorage.length,
			Signed: document.getElementById("pad").classList.contains("signed"), Cookie: document.cookie,
			Images: ["review-signature", "receipt-qr"].filter(id => document.getElementById(id).getAttribute("src"))};
	})()`)
	if st.Ink != 0 || st.Signed {
		t.Errorf("the signature canvas still has %d inked pixels (signed=%v)", st.Ink, st.Signed)
	}
	if st.Storage != 0 || st.Cookie != "" {
		t.Errorf("web storage holds %d items, cookies %q", st.Storage, st.Cookie)
	}
	if len(st.Images) != 0 {
		t.Errorf("images still set: %v", st.Images)
	}
}
