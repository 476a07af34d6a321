package browser

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	defer closeBrowser()
	return m.Run()
}

// build compiles both programs into dir in one go build, so they share the
// build cache with `make build`.
func build(dir string) error {
	// go test puts its own GOROOT/bin first on PATH.
	goBin := "go"
	cmd := exec.Command(goBin, "build", "-o", dir+string(filepath.Separator),
		"github.com/attesta/attesta/hub/cmd/attesta-hub",
		"github.com/attesta/attesta/collector/cmd/attesta-collector")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	bins.hub, bins.collector = filepath.Join(dir, "attesta-hub"), filepath.Join(dir, "attesta-collector")
	return nil
}
