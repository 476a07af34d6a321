package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attesta/attesta/shared/cli"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, &out, &errOut)
	return out.String(), err
}

func writeTOML(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "collector.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func settingLines(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	return m
}

// A flag wins over the environment, which wins over the file; the old
// --idle flag still works; the PIN is never printed.
func TestConfigPrecedence(t *testing.T) {
	file := writeTOML(t, `idle_reset = "30s"
hub_url = "https://hub.example.com"
log_level = "warn"
operator_pin = "2468"
`)
	t.Setenv("ATTESTA_COLLECTOR_IDLE_RESET", "45s")
	t.Setenv("ATTESTA_COLLECTOR_LOG_LEVEL", "debug")
	out, err := run(t, "config", "print", "--config", file, "--idle", "2m")
	if err != nil {
		t.Fatal(err)
	}
	got := settingLines(out)
	for k, v := range map[string]string{
		"idle_reset": `"2m"  # --idle-reset`,
		"log_level":  `"debug"  # $ATTESTA_COLLECTOR_LOG_LEVEL`,
		"hub_url":    `"https://hub.example.com"  # ` + file + ":2",
		"listen":     `"127.0.0.1:8701"  # default`,
	} {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	if strings.Contains(out, "2468") || !strings.Contains(out, "# operator_pin: set, from "+file+":4 (hidden)") {
		t.Errorf("operator_pin shown wrongly:\n%s", out)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct{ body, want string }{
		{"idle_rest = \"30s\"\n", `:1: unknown setting "idle_rest" (did you mean "idle_reset"?)`},
		{"listen = \"8701\"\n", `:1: listen = "8701": want host:port`},
		{"operator_pin = \"12ab\"\n", `:1: operator_pin = (hidden): want 4 to 12 digits`},
		{"operator_pin = 1234\n", `:1: operator_pin = (hidden): want a quoted string`},
		{"hub_url = \"ws://hub\"\n", `:1: hub_url = "ws://hub": want an http:// or https:// URL`},
		{"idle_reset = \"0s\"\n", `:1: idle_reset = "0s": want a duration such as 10s, 5m or 1h, from 1s to 1h`},
		{"[kiosk]\nidle_reset = \"30s\"\n", `:1: unknown setting "kiosk"`},
	} {
		file := writeTOML(t, tc.body)
		_, err := run(t, "run", "--config", file, "--data", data)
		if err == nil {
			t.Fatalf("%q accepted", tc.body)
		}
		if msg := cli.Message(err); !strings.Contains(msg, "config: "+file+tc.want) {
			t.Errorf("message %q, want it to contain %q", msg, file+tc.want)
		}
		if strings.Contains(cli.Message(err), "12ab") {
			t.Errorf("the PIN was echoed: %s", cli.Message(err))
		}
		if cli.ExitCode(err) != 2 {
			t.Errorf("exit code %d, want 2", cli.ExitCode(err))
		}
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused start created the data folder (%v)", err)
	}
}

func TestPrintDefaultRoundTrip(t *testing.T) {
	out, err := run(t, "config", "print-default")
	if err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	for _, s := range c.Loader().Settings {
		if !strings.Contains(out, "\n"+s.Key+" = ") || !strings.Contains(out, "ATTESTA_COLLECTOR_"+strings.ToUpper(s.Key)) {
			t.Errorf("print-default lacks %s", s.Key)
		}
	}
	back, err := run(t, "config", "print", "--config", writeTOML(t, out))
	if err != nil {
		t.Fatalf("print-default fed back: %v", err)
	}
	defaults := settingLines(out)
	for k, v := range settingLines(back) {
		if before, _, _ := strings.Cut(v, "  # "); before != defaults[k] {
			t.Errorf("%s changed from %s to %s", k, defaults[k], before)
		}
	}
}
