package browser

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Viewport is the kiosk's screen in every test and screenshot.
const viewportW, viewportH = 1280, 800

// chromiumPath finds Debian's chromium (or another Chromium on PATH).
func chromiumPath() string {
	names := []string{"/usr/bin/chromium", "chromium", "chromium-browser"}
	if p := os.Getenv("ATTESTA_CHROMIUM"); p != "" {
		names = []string{p} // another build, or a missing one to check the skip
	}
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// requireChromium skips the test when there is no Chromium, loudly; under
// CI=true a missing Chromium is a failure, since .ci/run installs it.
func requireChromium(tb testing.TB) {
	tb.Helper()
	if chromiumPath() != "" {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("chromium is not installed; CI must install it (.ci/run apt-installs chromium)")
	}
	tb.Skip("SKIPPED: chromium is not installed (apt-get install chromium), so the kiosk was not tested in a browser")
}

// One headless Chromium serves the whole package; each test gets a tab.
var browser struct {
	once    sync.Once
	ctx     context.Context
	cancel  func()
	profile string
	err     error
}

func startBrowser() {
	b := &browser
	b.profile, b.err = os.MkdirTemp("", "attesta-chromium-")
	if b.err != nil {
		return
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath()),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(b.profile),
		chromedp.WindowSize(viewportW, viewportH),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	b.cancel = func() { cancelBrowser(); cancelAlloc() }
	// The first Run starts the browser; it must have no deadline of its own.
	b.err = chromedp.Do(ctx)
}

func closeBrowser() {
	b := &browser
	if b.cancel != nil {
		b.cancel()
	}
	if b.profile != "" {
		os.RemoveAll(b.profile)
	}
}

// tab is one browser tab with a kiosk-sized touch screen.
type tab struct {
	tb  testing.TB
	ctx context.Context
}

// newTab opens a tab in the shared browser; it closes when the test ends.
func newTab(tb testing.TB) *tab {
	tb.Helper()
	requireChromium(tb)
	browser.once.Do(startBrowser)
	if browser.err != nil {
		tb.Fatalf("start chromium: %v", browser.err)
	}
	ctx, cancel := chromedp.NewContext(browser.ctx)
	tb.Cleanup(cancel)
	// The first Run opens the tab, which lives as long as the context of
	// that Run: so no deadline on it, only a timer that gives up.
	stuck := time.AfterFunc(timeout, cancel)
	err := chromedp.Do(ctx, chromedp.EmulateViewport(viewportW, viewportH, chromedp.EmulateTouch))
	if !stuck.Stop() || err != nil {
		tb.Fatalf("open a browser tab: %v", err)
	}
	return &tab{tb: tb, ctx: ctx}
}

// timeout bounds every browser step: a kiosk that needs longer is broken.
const timeout = 15 * time.Second

func (t *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.tb.Fatalf("browser: %v\n%s", err, t.where())
	}
}

// run runs one action that returns a value.
func run[T any](t *tab, a chromedp.Action[T]) T {
	t.tb.Helper()
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.tb.Fatalf("browser: %v\n%s", err, t.where())
	}
	return v
}

// eval runs a JavaScript expression and decodes its value into T.
func eval[T any](t *tab, js string) T {
	t.tb.Helper()
	v, err := tryEval[T](t, js)
	if err != nil {
		t.tb.Fatalf("eval %s: %v\n%s", js, err, t.where())
	}
	return v
}

func tryEval[T any](t *tab, js string) (T, error) {
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](js))
}

// where describes the page, for failure messages.
func (t *tab) where() string {
	ctx, cancel := context.WithTimeout(t.ctx, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + " screen=" +
		((document.querySelector("[data-screen]:not([hidden])") || {}).id || "?") +
		" errors=" + JSON.stringify(Array.from(document.querySelectorAll(".field-error,.form-error")).map(e => e.textContent).filter(Boolean))`))
	if err != nil {
		return "(page state unknown: " + err.Error() + ")"
	}
	return "page: " + s
}

// testid is the CSS selector of a data-testid on the visible screen (the
// Next button exists on several screens).
func testid(id string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`[data-testid=%q]`, id))
}

func visible(id string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`#main > section:not([hidden]) [data-testid=%q]`, id))
}

func screenSel(name string) chromedp.CSS {
	return chromedp.CSS(fmt.Sprintf(`section[data-screen=%q]:not([hidden])`, name))
}

func (t *tab) waitScreen(name string) {
	t.tb.Helper()
	t.do(chromedp.WaitVisible(screenSel(name)))
}

// tap presses a control. It clicks rather than taps: Chromium's gesture
// detector sometimes swallows a touch tap that follows a touch stroke on the
// signature pad within a few milliseconds, which no finger does.
func (t *tab) tap(id string) {
	t.tb.Helper()
	t.do(chromedp.Click(visible(id)))
}

func (t *tab) typeInto(id, text string) {
	t.tb.Helper()
	t.do(chromedp.SendKeys(visible(id), text))
}

// text is the visible text of an element with a data-testid.
func (t *tab) text(id string) string {
	t.tb.Helper()
	return eval[string](t, fmt.Sprintf(`(document.querySelector('[data-testid=%q]') || {}).innerText || ""`, id))
}

// draw signs on the canvas with real input: each stroke is a press, moves
// and a release, alternately a finger (touch) and a mouse, so the page's
// pointer events see both kinds.
func (t *tab) draw(id string, strokes [][][2]float64) {
	t.tb.Helper()
	type rect struct{ X, Y, W, H float64 }
	r := eval[rect](t, fmt.Sprintf(`(() => { const r = document.querySelector('[data-testid=%q]').getBoundingClientRect();
		return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`, id))
	if r.W < 100 || r.H < 50 {
		t.tb.Fatalf("signature canvas is %vx%v: too small to sign", r.W, r.H)
	}
	at := func(p [2]float64) (float64, float64) { return r.X + p[0]*r.W, r.Y + p[1]*r.H }
	for i, stroke := range strokes {
		if len(stroke) == 0 {
			continue
		}
		touch := i%2 == 0
		t.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			for j, p := range stroke {
				x, y := at(p)
				var err error
				if touch {
					typ := input.DispatchTouchEventTypeTouchMove
					if j == 0 {
						typ = input.DispatchTouchEventTypeTouchStart
					}
					one, id := 1.0, 0.0
					_, err = cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{
						Type: typ, TouchPoints: []*input.TouchPoint{{X: x, Y: y, RadiusX: &one, RadiusY: &one, Force: &one, ID: &id}}})
				} else {
					typ, buttons := chromedp.MouseMoved, int64(1)
					if j == 0 {
						typ = chromedp.MousePressed
					}
					_, err = cdp.Call(ctx, tg, input.DispatchMouseEvent, input.DispatchMouseEventParams{
						Type: typ, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: buttons, ClickCount: 1})
				}
				if err != nil {
					return err
				}
			}
			x, y := at(stroke[len(stroke)-1])
			var err error
			if touch {
				_, err = cdp.Call(ctx, tg, input.DispatchTouchEvent, input.DispatchTouchEventParams{
					Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
			} else {
				_, err = cdp.Call(ctx, tg, input.DispatchMouseEvent, input.DispatchMouseEventParams{
					Type: chromedp.MouseReleased, X: x, Y: y, Button: input.MouseButtonLeft, ClickCount: 1})
			}
			return err
		}))
	}
}

// signature is a short handwritten-looking scribble in canvas fractions.
func signature() [][][2]float64 {
	var a, b [][2]float64
	for i := 0; i <= 24; i++ {
		f := float64(i) / 24
		a = append(a, [2]float64{0.15 + 0.45*f, 0.55 - 0.25*math.Sin(f*9)})
	}
	for i := 0; i <= 10; i++ {
		f := float64(i) / 10
		b = append(b, [2]float64{0.55 + 0.3*f, 0.7 - 0.05*f})
	}
	return [][][2]float64{a, b}
}

// history goes back (-1) or forward (+1) like the browser's buttons. It
// does not wait for a load event as chromedp.NavigateBack does: a page
// restored from the back-forward cache fires none, and that restore is one
// of the cases under test. Callers wait for the page they expect.
func (t *tab) history(delta int64) {
	t.tb.Helper()
	t.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		h, err := cdp.Call(ctx, tg, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		i := h.CurrentIndex + delta
		if i < 0 || i >= int64(len(h.Entries)) {
			return fmt.Errorf("no history entry %d of %d", i, len(h.Entries))
		}
		_, err = cdp.Call(ctx, tg, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: h.Entries[i].ID})
		return err
	}))
}

// inputsState is every input on the kiosk page, for privacy checks.
func (t *tab) inputsState() []string {
	t.tb.Helper()
	return eval[[]string](t, `Array.from(document.querySelectorAll("input")).
		filter(i => (i.type === "checkbox" ? i.checked : i.value !== "")).
		map(i => (i.id || i.name) + "=" + (i.type === "checkbox" ? "on" : i.value))`)
}

// pageText is everything the page shows, for "no previous data" checks.
func (t *tab) pageText() string {
	t.tb.Helper()
	return eval[string](t, `document.body.innerText`)
}

func containsAny(s string, subs ...string) string {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}
