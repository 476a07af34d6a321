package browser

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// screenshotDir is docs/screenshots at the top of the repository.
var screenshotDir = filepath.Join("..", "..", "..", "docs", "screenshots")

// TestScreenshots writes docs/screenshots/<lang>-<n>-<step>.png for every
// kiosk screen in Italian and English, plus the hub's notice and receipt
// pages, at 1280x800. It only runs with ATTESTA_SCREENSHOTS=1, so that
// `make test` never rewrites committed files:
//
//	ATTESTA_SCREENSHOTS=1 go test -run TestScreenshots -count=1 ./shared/e2e/browser/
func TestScreenshots(t *testing.T) {
	if os.Getenv("ATTESTA_SCREENSHOTS") != "1" {
		t.Skip("set ATTESTA_SCREENSHOTS=1 to regenerate docs/screenshots")
	}
	requireChromium(t)
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := newStack(t)
	people := map[string]visitor{
		"it": {Given: "Giulia", Family: "Romano", Email: "giulia.romano@example.com", Phone: "+39 333 555 0101",
			Grant: []string{"newsletter", "sms"}},
		"en": {Given: "Emma", Family: "Clarke", Email: "emma.clarke@example.com", Phone: "+44 7700 900123",
			Grant: []string{"newsletter", "profiling"}},
	}
	for _, lang := range []string{"it", "en"} {
		v := people[lang]
		page := newTab(t)
		save := func(name string) {
			t.Helper()
			// Let the screen's entrance animation and transitions finish.
			page.waitJS("a still page", `document.fonts.status === "loaded" &&
				document.getAnimations().every(a => a.playState !== "running") &&
				Array.from(document.images).every(i => !i.getAttribute("src") || i.complete)`)
			writeShot(t, fmt.Sprintf("%s-%s.png", lang, name), run(page, chromedp.CaptureScreenshot()))
		}
		got := page.signUp(s.kiosk.url+"/", lang, v, save)

		// An inline error, as a visitor who mistypes sees it.
		page.tap("new-visitor")
		page.startAt(lang, func(string) {})
		page.waitScreen("identity")
		page.typeInto("given_name", v.Given)
		page.typeInto("family_name", v.Family)
		page.typeInto("email", "giulia@example")
		page.tap("next")
		page.waitJS("the email error", `document.querySelector('[data-testid="error-email"]').innerText !== ""`)
		save("2b-identity-error")

		s.waitEvent(t, "the sign-up of "+v.Email, func(e event) bool { return e.Subject != nil && e.Subject.Email == v.Email })
		phone := newTab(t)
		phone.do(chromedp.Navigate(decodeQR(t, got.NoticeQR)), chromedp.WaitVisible(testid("notice-sha256")))
		writeShot(t, fmt.Sprintf("hub-notice-%s.png", lang), run(phone, chromedp.CaptureScreenshot()))
		phone.do(chromedp.Navigate(decodeQR(t, got.ReceiptQR)), chromedp.WaitVisible(testid("withdraw-newsletter")))
		writeShot(t, fmt.Sprintf("hub-receipt-%s.png", lang), run(phone, chromedp.CaptureScreenshot()))
	}
}

// writeShot stores a screenshot and checks its size and budget.
func writeShot(t *testing.T, name string, shot []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != viewportW || b.Dy() != viewportH {
		t.Errorf("%s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), viewportW, viewportH)
	}
	// Chromium's encoder favours speed; the best zlib level is ~20% smaller.
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() < len(shot) {
		shot = buf.Bytes()
	}
	const limit = 150 << 10
	if len(shot) > limit {
		t.Errorf("%s is %d KB, over the %d KB budget", name, len(shot)>>10, limit>>10)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d KB", name, len(shot)>>10)
}
