package e2e

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The real programs refuse a settings file with a typo'd key or a bad
// value at start, with exit code 2 and the setting named with its line.
func TestBadConfigRefusedAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		bin, body, want string
	}{
		{Binaries.Hub, "listen = \"abc\"\n", `attesta-hub: config: FILE:1: listen = "abc": want host:port`},
		{Binaries.Hub, "\nskew_bnd = \"5m\"\n", `attesta-hub: config: FILE:2: unknown setting "skew_bnd" (did you mean "skew_bound"?)`},
		{Binaries.Collector, "idle_reset = 60\n", `attesta-collector: config: FILE:1: idle_reset = 60: want a quoted string`},
		{Binaries.Collector, "operator_pin = \"abcd\"\n", `attesta-collector: config: FILE:1: operator_pin = (hidden): want 4 to 12 digits`},
	} {
		file := filepath.Join(dir, "settings.toml")
		if err := os.WriteFile(file, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, err := RunErr(tc.bin, "run", "--config", file, "--data", filepath.Join(dir, "data"))
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s with %q: %v, want exit code 2", filepath.Base(tc.bin), tc.body, err)
		}
		if want := strings.ReplaceAll(tc.want, "FILE", file); !strings.Contains(stderr, want) {
			t.Errorf("stderr %q, want %q", stderr, want)
		}
	}
}

// operator_pin from the environment replaces the PIN set at enrollment
// (only its hash is stored), and hub_url from the settings file points a
// collector at its hub's new address.
func TestCollectorSettingsApplied(t *testing.T) {
	t.Parallel()
	h := NewHub(t)
	p := newProxy(t, h) // the address the collector enrolls with, later gone
	c := EnrollCollector(t, p.URL(), h.EnrollCode("Booth B12"))
	p.Close()
	file := filepath.Join(t.TempDir(), "collector.toml")
	if err := os.WriteFile(file, []byte("hub_url = \""+h.URL()+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Env = []string{"ATTESTA_COLLECTOR_OPERATOR_PIN=482916"}
	c.Args = []string{"--config", file}
	c.Start()
	c.CaptureN(3, 1)
	c.WaitSynced(30 * time.Second) // through hub_url: the enrolled address is closed

	for pin, want := range map[string]int{"482916": http.StatusAccepted, "000000": http.StatusForbidden} {
		req, _ := http.NewRequest("POST", c.URL()+"/api/v1/sync", nil)
		req.Header.Set("X-Operator-PIN", pin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("sync now with PIN %s: %d, want %d", pin, resp.StatusCode, want)
		}
	}
	if strings.Contains(c.Log(), "482916") {
		t.Error("the collector logged its PIN")
	}
}
