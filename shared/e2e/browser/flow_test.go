package browser

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// visitor is what a test types and chooses on the kiosk.
type visitor struct {
	Given, Family, Email, Phone string
	Grant                       []string // purpose codes switched on
}

// signedUp is what a sign-up left on the page.
type signedUp struct {
	Purposes  []string // every purpose code offered, in screen order
	NoticeQR  []byte   // screenshot of the notice QR image (PNG)
	ReceiptQR []byte   // the receipt QR image as served to the page (PNG)
}

// waitJS polls a JavaScript expression until it is true.
func (t *tab) waitJS(what, js string) {
	t.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		// An error is a page in transition (a navigation): try again.
		ok, err := tryEval[bool](t, js)
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.tb.Fatalf("timed out waiting for %s (%s, last error %v)\n%s", what, js, err, t.where())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// imgLoaded is true once an <img> has decoded a non-empty image.
func imgLoaded(id string) string {
	return fmt.Sprintf(`(() => { const i = document.querySelector('[data-testid=%q]');
		return !!i && !!i.getAttribute("src") && i.complete && i.naturalWidth > 0; })()`, id)
}

// signUp walks a visitor through every kiosk screen, as a person would:
// language, identity, notice, purposes, signature, review, confirm. shot, if
// not nil, is called on each screen once it is ready.
func (t *tab) signUp(kioskURL, lang string, v visitor, shot func(step string)) signedUp {
	t.tb.Helper()
	if shot == nil {
		shot = func(string) {}
	}
	var out signedUp
	t.do(chromedp.Navigate(kioskURL))
	t.startAt(lang, shot)

	t.waitScreen("identity")
	if got := eval[string](t, `document.documentElement.lang`); got != lang {
		t.tb.Errorf("<html lang> = %q after choosing %s", got, lang)
	}
	t.typeInto("given_name", v.Given)
	t.typeInto("family_name", v.Family)
	t.typeInto("email", v.Email)
	if v.Phone != "" {
		t.typeInto("phone", v.Phone)
	}
	shot("2-identity")
	t.tap("next")

	t.waitScreen("notice")
	t.waitJS("the notice QR code", imgLoaded("notice-qr"))
	out.NoticeQR = t.shotOf("notice-qr")
	shot("3-notice")
	t.tap("next")

	t.waitScreen("purposes")
	type toggle struct {
		Code    string
		Checked bool
		Role    string
	}
	toggles := eval[[]toggle](t, `Array.from(document.querySelectorAll('[data-testid^="purpose-"]')).map(i =>
		({Code: i.dataset.testid.slice(8), Checked: i.checked, Role: i.getAttribute("role") || ""}))`)
	if len(toggles) == 0 {
		t.tb.Fatalf("the purposes screen shows no purpose toggles\n%s", t.where())
	}
	for _, tg := range toggles {
		out.Purposes = append(out.Purposes, tg.Code)
		if tg.Checked {
			t.tb.Errorf("purpose %s is switched on before the visitor touched it (pre-ticked boxes are not consent)", tg.Code)
		}
	}
	for _, code := range v.Grant {
		if !slices.Contains(out.Purposes, code) {
			t.tb.Fatalf("purpose %s is not offered; offered: %v", code, out.Purposes)
		}
		t.tap("purpose-" + code)
	}
	on := eval[[]string](t, `Array.from(document.querySelectorAll('[data-testid^="purpose-"]:checked')).map(i => i.dataset.testid.slice(8))`)
	if want := sorted(v.Grant); !slices.Equal(sorted(on), want) {
		t.tb.Fatalf("switched on %v, the page has %v on", want, on)
	}
	shot("4-purposes")
	t.tap("next")

	t.waitScreen("signature")
	t.draw("signature", signature())
	t.waitJS("ink on the signature pad", `document.getElementById("pad").classList.contains("signed")`)
	shot("5-signature")
	t.tap("next")

	t.waitScreen("review")
	t.waitJS("the signature on the review screen", `!!document.getElementById("review-signature").getAttribute("src")`)
	shot("6-review")
	t.tap("confirm")

	t.waitScreen("saved")
	t.waitJS("the receipt QR code", imgLoaded("receipt-qr"))
	src := eval[string](t, `document.querySelector('[data-testid="receipt-qr"]').getAttribute("src")`)
	b64, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.tb.Fatalf("receipt QR src is not a PNG data URL: %.60q", src)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.tb.Fatalf("receipt QR: %v", err)
	}
	out.ReceiptQR = png
	shot("7-saved")
	return out
}

// startAt waits for the start screen and chooses a language.
func (t *tab) startAt(lang string, shot func(step string)) {
	t.tb.Helper()
	t.waitScreen("language")
	shot("1-language")
	t.tap("language-" + lang)
}

// shotOf screenshots one element, as the visitor's phone camera would see
// it: once the screen has finished fading in (a code caught half way
// through the fade was too faint to read).
func (t *tab) shotOf(id string) []byte {
	t.tb.Helper()
	t.waitJS("the screen to settle", `document.getAnimations().every(a => a.playState !== "running")`)
	return run(t, chromedp.Screenshot(testid(id)))
}

// decodeQR reads the text of the QR code in an image with ZXing's decoder.
func decodeQR(tb testing.TB, img []byte) string {
	tb.Helper()
	m, _, err := image.Decode(bytes.NewReader(img))
	if err != nil {
		tb.Fatalf("decode image: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(m)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		tb.Fatalf("no QR code in the %dx%d image: %v", m.Bounds().Dx(), m.Bounds().Dy(), err)
	}
	return res.GetText()
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
