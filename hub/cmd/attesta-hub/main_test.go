package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attesta/attesta/shared/apperr"
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
	p := filepath.Join(t.TempDir(), "hub.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// settingLines maps each "key = value  # origin" line of config print.
func settingLines(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, " = "); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	return m
}

// A flag wins over the environment, which wins over the file, which wins
// over the default.
func TestConfigPrecedence(t *testing.T) {
	file := writeTOML(t, `listen = "127.0.0.1:1"
sync_window = 2
skew_bound = "90s"
metrics_open = true
`)
	t.Setenv("ATTESTA_HUB_LISTEN", "127.0.0.1:2")
	t.Setenv("ATTESTA_HUB_SYNC_WINDOW", "3")
	out, err := run(t, "config", "print", "--config", file, "--listen", "127.0.0.1:3")
	if err != nil {
		t.Fatal(err)
	}
	got := settingLines(out)
	want := map[string]string{
		"listen":           `"127.0.0.1:3"  # --listen`,
		"sync_window":      `3  # $ATTESTA_HUB_SYNC_WINDOW`,
		"skew_bound":       `"1m30s"  # ` + file + ":3",
		"metrics_open":     `true  # ` + file + ":4",
		"shutdown_timeout": `"10s"  # default`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
}

// A typo'd key or a bad value stops 'run' before it opens anything, naming
// the setting, the file and line, and what is expected; exit code 2.
func TestRunRefusesBadConfig(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, tc := range []struct{ body, want string }{
		{"listen = \":8700\"\nlisten_adress = \":1\"\n", `:2: unknown setting "listen_adress" (did you mean "listen"?)`},
		{"# comment\nlisten = \"abc\"\n", `:2: listen = "abc": want host:port`},
		{"shutdown_timeout = \"forever\"\n", `:1: shutdown_timeout = "forever": want a duration such as 10s, 5m or 1h, from 1s to 5m`},
		{"sync_max_batch = 0\n", `:1: sync_max_batch = 0: want an integer from 1 to 5000`},
		{"public_url = \"privacy.example.com\"\n", `:1: public_url = "privacy.example.com": want an http:// or https:// URL`},
		{"log_format = \"xml\"\n", `:1: log_format = "xml": want one of auto, text, json`},
	} {
		file := writeTOML(t, tc.body)
		_, err := run(t, "run", "--config", file, "--data", data)
		if err == nil {
			t.Fatalf("%q accepted", tc.body)
		}
		if msg := cli.Message(err); !strings.Contains(msg, "config: "+file+tc.want) {
			t.Errorf("message %q, want it to contain %q", msg, file+tc.want)
		}
		if cli.ExitCode(err) != 2 {
			t.Errorf("exit code %d, want 2", cli.ExitCode(err))
		}
	}
	t.Setenv("ATTESTA_HUB_SKEW_BOUND", "5")
	if _, err := run(t, "run", "--data", data); err == nil || !strings.Contains(apperr.Message(err), `config: $ATTESTA_HUB_SKEW_BOUND: skew_bound = "5": want a duration`) {
		t.Errorf("bad environment: %v", err)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("a refused start created the data folder (%v)", err)
	}
}

// print-default lists every setting with its default; fed back it is valid
// and changes nothing.
func TestPrintDefaultRoundTrip(t *testing.T) {
	out, err := run(t, "config", "print-default")
	if err != nil {
		t.Fatal(err)
	}
	c := NewConfig()
	for _, s := range c.Loader().Settings {
		if !strings.Contains(out, "\n"+s.Key+" = ") || !strings.Contains(out, "ATTESTA_HUB_"+strings.ToUpper(s.Key)) {
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

// The one-shot commands find the data folder through --config as well.
func TestSubcommandsReadDataFromConfig(t *testing.T) {
	data := filepath.Join(t.TempDir(), "hubdata")
	file := writeTOML(t, "data = \""+data+"\"\n")
	out, err := run(t, "token", "create", "--scope", "read", "--config", file)
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("token create: %q %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(data, "hub.db")); err != nil {
		t.Fatalf("hub.db not in the configured data folder: %v", err)
	}
}

// rotate-secret within a rotation's grace period is refused, saying how to
// cut the old secrets off; --grace 0s does, and says so.
func TestWebhookRotateSecretCommand(t *testing.T) {
	data := t.TempDir()
	out, err := run(t, "webhook", "add", "--data", data, "--events", "*", "https://crm.example.com/h")
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	ws, err := run(t, "webhook", "list", "--data", data, "--json")
	if err != nil || !strings.Contains(ws, `"id":"`) {
		t.Fatalf("list: %s %v (add printed %q)", ws, err, out)
	}
	id := strings.SplitN(strings.SplitN(ws, `"id":"`, 2)[1], `"`, 2)[0]
	rotate := func(grace string) (string, error) {
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), []string{"webhook", "rotate-secret", "--data", data, "--grace", grace, id}, &stdout, &stderr)
		return stdout.String() + stderr.String(), err
	}
	if out, err := rotate("1h"); err != nil || !strings.Contains(out, "signed\nwith the old and the new one") {
		t.Fatalf("rotate: %q %v", out, err)
	}
	if _, err := rotate("1h"); apperr.Code(err) != apperr.ECONFLICT || !strings.Contains(cli.Message(err), "grace 0s") {
		t.Fatalf("rotate again within the grace period: %v", err)
	}
	if out, err := rotate("0s"); err != nil || !strings.Contains(out, "The old secrets no longer sign") {
		t.Fatalf("rotate with --grace 0s: %q %v", out, err)
	}
}
