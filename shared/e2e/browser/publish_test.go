package browser

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/attesta/attesta/shared/e2e"
)

// TestKioskNoticeChange: a visitor is reading version 1 of the notice when
// head office publishes version 2. The kiosk keeps them on version 1 to the
// end and the record names version 1; the next visitor reads version 2.
func TestKioskNoticeChange(t *testing.T) {
	requireChromium(t)
	s := newStack(t)
	page := newTab(t)
	page.do(chromedp.Navigate(s.kiosk.url + "/"))
	page.waitJS("the kiosk config", `document.documentElement.getAttribute("data-config-seq") === "1"`)
	page.startAt("it", func(string) {})
	page.waitScreen("identity")
	v := visitor{Given: "Lia", Family: "Conti", Email: email("lia"), Grant: []string{"newsletter"}}
	page.typeInto("given_name", v.Given)
	page.typeInto("family_name", v.Family)
	page.typeInto("email", v.Email)
	page.tap("next")
	page.waitScreen("notice")
	if got := byID(page, "notice-version"); !strings.HasPrefix(got, "Versione 1 ") {
		t.Fatalf("notice version shown %q, want version 1", got)
	}

	// Head office publishes version 2 while the visitor reads.
	file := filepath.Join(t.TempDir(), "v2.md")
	os.WriteFile(file, []byte("# Informativa\n\nVersione 2 dell'informativa.\n"), 0o600)
	runCmd(t, bins.hub, "notice", "publish", file, "--id", "privacy-it", "--version", "2", "--language", "it", "--data", filepath.Join(s.dir, "hub"))
	e2e.Eventually(t, 30*time.Second, "the collector to apply config 2", func() (bool, string) {
		var c struct {
			ConfigSeq int64 `json:"config_seq"`
		}
		getJSON(t, s.kiosk.url+"/api/v1/config", "", &c)
		return c.ConfigSeq == 2, fmt.Sprint("config_seq ", c.ConfigSeq)
	})

	// The visitor finishes on what they read.
	page.tap("next")
	page.waitScreen("purposes")
	page.tap("purpose-newsletter")
	page.tap("next")
	page.waitScreen("signature")
	page.draw("signature", signature())
	page.waitJS("ink on the signature pad", `document.getElementById("pad").classList.contains("signed")`)
	page.tap("next")
	page.waitScreen("review")
	page.tap("confirm")
	page.waitScreen("saved")
	ev := s.waitEvent(t, "the in-flight consent", func(e event) bool { return e.Kind == "given" && e.Subject != nil && e.Subject.Email == v.Email })
	if ev.Notice.ID != "privacy-it" || ev.Notice.Version != 1 {
		t.Errorf("the in-flight visitor's record names %s/%d, want privacy-it/1 (what they read)", ev.Notice.ID, ev.Notice.Version)
	}

	// The next visitor gets version 2.
	page.tap("new-visitor")
	page.waitJS("the kiosk to take config 2", `document.documentElement.getAttribute("data-config-seq") === "2"`)
	page.waitScreen("language")
	page.startAt("it", func(string) {})
	page.waitScreen("identity")
	page.typeInto("given_name", "Ugo")
	page.typeInto("family_name", "Neri")
	page.typeInto("email", email("ugo"))
	page.tap("next")
	page.waitScreen("notice")
	if got := byID(page, "notice-version"); !strings.HasPrefix(got, "Versione 2 ") {
		t.Errorf("the next visitor is shown %q, want version 2", got)
	}
	if got := byID(page, "notice-text"); !strings.Contains(got, "Versione 2 dell") {
		t.Errorf("notice text shown: %.80q", got)
	}
}

// byID is the text of the element with id.
func byID(t *tab, id string) string {
	t.tb.Helper()
	return eval[string](t, fmt.Sprintf(`(document.getElementById(%q) || {}).textContent || ""`, id))
}
