package browser

import (
	"fmt"
	"os"
	"testing"

	"github.com/attesta/attesta/shared/e2e"
)

// bins are the programs under test, built once by TestMain.
var bins struct{ hub, collector string }

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "attesta-browser-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Without Chromium every test skips (or fails under CI): no need to build.
	if chromiumPath() == "" && os.Getenv("CI") != "true" {
		fmt.Fprintln(os.Stderr, "shared/e2e/browser: SKIPPING the browser tests: chromium is not installed (apt-get install chromium)")
	} else {
		if err := e2e.Build(dir, false); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		bins.hub, bins.collector = e2e.Binaries.Hub, e2e.Binaries.Collector
	}
	defer closeBrowser()
	return m.Run()
}
