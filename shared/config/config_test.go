package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/apperr"
)

type settings struct {
	Data   string
	Listen string
	Hub    string
	Idle   time.Duration
	Window int
	Open   bool
	Level  string
	PIN    string
}

func newSettings() *settings {
	return &settings{Data: "/var/lib/x", Listen: ":8700", Idle: time.Minute, Window: 8, Level: "info"}
}

func (c *settings) loader(env map[string]string) *Loader {
	l := New("attesta-test", "ATTESTA_TEST_",
		Setting{Key: "data", Help: "data folder", Value: Path(&c.Data)},
		Setting{Key: "listen", Help: "address to listen on\nsecond line", Value: HostPort(&c.Listen)},
		Setting{Key: "hub_url", Help: "hub", Value: URL(&c.Hub, true)},
		Setting{Key: "idle_reset", Help: "idle", Value: Duration(&c.Idle, time.Second, time.Hour), Alias: "idle"},
		Setting{Key: "sync_window", Help: "window", Value: Int(&c.Window, 1, 64)},
		Setting{Key: "metrics_open", Help: "open", Value: Bool(&c.Open)},
		Setting{Key: "log_level", Help: "level", Value: OneOf(&c.Level, "debug", "info", "warn", "error")},
		Setting{Key: "operator_pin", Help: "pin", Value: String(&c.PIN, "4 to 12 digits", func(s string) error {
			if s != "" && len(s) < 4 {
				return errors.New("want 4 to 12 digits")
			}
			return nil
		}), Secret: true},
	)
	l.LookupEnv = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return l
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// load binds all flags, parses args and loads.
func load(t *testing.T, c *settings, env map[string]string, args ...string) (*Loader, error) {
	t.Helper()
	l := c.loader(env)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	l.Bind(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return l, l.Load()
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, `
listen = "10.0.0.1:1"
sync_window = 2
idle_reset = "5s"
log_level = "debug"
`)
	env := map[string]string{"ATTESTA_TEST_LISTEN": "10.0.0.2:2", "ATTESTA_TEST_SYNC_WINDOW": "3", "ATTESTA_TEST_DATA": ""}
	c := newSettings()
	l, err := load(t, c, env, "--config", file, "--listen", "10.0.0.3:3", "--idle", "7s")
	if err != nil {
		t.Fatal(err)
	}
	want := settings{Data: "/var/lib/x", Listen: "10.0.0.3:3", Idle: 7 * time.Second, Window: 3, Level: "debug"}
	if *c != want {
		t.Fatalf("got %+v, want %+v", *c, want)
	}
	for key, origin := range map[string]string{"data": "default", "listen": "--listen", "sync_window": "$ATTESTA_TEST_SYNC_WINDOW",
		"idle_reset": "--idle-reset", "log_level": file + ":5"} {
		if got := l.Origin(key); got != origin {
			t.Errorf("origin of %s = %q, want %q", key, got, origin)
		}
	}
	// The config file may come from the environment too.
	c = newSettings()
	if _, err := load(t, c, map[string]string{"ATTESTA_TEST_CONFIG": file}); err != nil || c.Listen != "10.0.0.1:1" {
		t.Fatalf("config from $ATTESTA_TEST_CONFIG: %v, listen %q", err, c.Listen)
	}
}

func TestRefusals(t *testing.T) {
	cases := []struct {
		name, file string
		env        map[string]string
		args       []string
		want       string
	}{
		{"bad listen in file", "\n\nlisten = \"abc\"\n", nil, nil, `config: FILE:3: listen = "abc": want host:port`},
		{"typo key", "listen = \":1\"\nlisen = \":2\"\n", nil, nil, `config: FILE:2: unknown setting "lisen" (did you mean "listen"?)`},
		{"unknown key", "colour = 1\n", nil, nil, `config: FILE:1: unknown setting "colour"; 'attesta-test config print-default' lists every setting`},
		{"table", "[log]\nlevel = \"debug\"\n", nil, nil, `config: FILE:1: unknown setting "log"`},
		{"wrong type", "sync_window = \"8\"\n", nil, nil, `config: FILE:1: sync_window = "8": want an integer: an integer from 1 to 64`},
		{"int for string", "listen = 8700\n", nil, nil, `config: FILE:1: listen = 8700: want a quoted string: host:port`},
		{"out of range", "sync_window = 0\n", nil, nil, `config: FILE:1: sync_window = 0: want an integer from 1 to 64`},
		{"bad duration", "idle_reset = \"10\"\n", nil, nil, `config: FILE:1: idle_reset = "10": want a duration such as 10s, 5m or 1h, from 1s to 1h`},
		{"bad url", "hub_url = \"ftp://x\"\n", nil, nil, `config: FILE:1: hub_url = "ftp://x": want an http:// or https:// URL`},
		{"bad level", "log_level = \"loud\"\n", nil, nil, `log_level = "loud": want one of debug, info, warn, error`},
		{"syntax", "listen = \n", nil, nil, `config: FILE:1: `},
		{"duplicate", "listen = \":1\"\nlisten = \":2\"\n", nil, nil, `config: FILE:2: Key 'listen' has already been defined.`},
		{"secret hidden", "operator_pin = \"12\"\n", nil, nil, `config: FILE:1: operator_pin = (hidden): want 4 to 12 digits`},
		{"bad env", "", map[string]string{"ATTESTA_TEST_LISTEN": "abc"}, nil, `config: $ATTESTA_TEST_LISTEN: listen = "abc": want host:port`},
		{"bad flag", "", nil, []string{"--sync-window", "x"}, `config: --sync-window: sync_window = "x": want an integer from 1 to 64`},
		{"bad bool env", "", map[string]string{"ATTESTA_TEST_METRICS_OPEN": "maybe"}, nil, `metrics_open = "maybe": want true or false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			file := ""
			if tc.file != "" {
				file = writeFile(t, tc.file)
				args = append([]string{"--config", file}, args...)
			}
			_, err := load(t, newSettings(), tc.env, args...)
			if err == nil {
				t.Fatal("accepted")
			}
			if apperr.Code(err) != apperr.EINVALID {
				t.Errorf("code %s, want invalid", apperr.Code(err))
			}
			want := strings.ReplaceAll(tc.want, "FILE", file)
			if msg := apperr.Message(err); !strings.Contains(msg, want) {
				t.Errorf("message %q\ndoes not contain %q", msg, want)
			}
		})
	}
	if _, err := load(t, newSettings(), nil, "--config", filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestBoolFlagWithoutValue(t *testing.T) {
	c := newSettings()
	if _, err := load(t, c, nil, "--metrics-open"); err != nil || !c.Open {
		t.Fatalf("--metrics-open: %v, open=%v", err, c.Open)
	}
}

func TestSecretHasNoFlag(t *testing.T) {
	l := newSettings().loader(nil)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	l.Bind(fs)
	if fs.Lookup("operator-pin") != nil {
		t.Fatal("a secret setting has a flag")
	}
}

// print-default's output, fed back, is valid and changes nothing; every
// setting is in it with its environment variable.
func TestWriteTOMLRoundTrip(t *testing.T) {
	c := newSettings()
	c.Hub = `https://hub.example.com/a"b\c`
	l := c.loader(nil)
	var b bytes.Buffer
	if err := l.WriteTOML(&b, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range l.Settings {
		if !strings.Contains(out, "\n"+s.Key+" = ") || !strings.Contains(out, l.Env(s.Key)) {
			t.Errorf("%s missing from:\n%s", s.Key, out)
		}
	}
	if !strings.Contains(out, "# second line\n") || !strings.Contains(out, `idle_reset = "1m"`) {
		t.Errorf("help or duration not as expected:\n%s", out)
	}
	file := writeFile(t, out)
	back := newSettings()
	if _, err := load(t, back, nil, "--config", file); err != nil {
		t.Fatalf("print-default fed back: %v\n%s", err, out)
	}
	if *back != *c {
		t.Fatalf("round trip changed values: %+v, want %+v", *back, *c)
	}
}

func TestWriteTOMLOriginsHideSecrets(t *testing.T) {
	c := newSettings()
	l, err := load(t, c, map[string]string{"ATTESTA_TEST_OPERATOR_PIN": "987654"}, "--listen", "127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	l.WriteTOML(&b, true)
	out := b.String()
	if strings.Contains(out, "987654") {
		t.Fatalf("the secret was printed:\n%s", out)
	}
	if !strings.Contains(out, `listen = "127.0.0.1:1"  # --listen`) || !strings.Contains(out, "operator_pin: set, from $ATTESTA_TEST_OPERATOR_PIN (hidden)") {
		t.Fatalf("origins missing:\n%s", out)
	}
	given := strings.Join(l.Given(), " ")
	if given != "--listen=127.0.0.1:1" {
		t.Fatalf("Given() = %q", given)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Minute: "1m", time.Hour: "1h", 90 * time.Second: "1m30s", 10 * time.Second: "10s", 1500 * time.Millisecond: "1.5s"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"listen", "lisen", 1}, {"", "abc", 3}, {"kitten", "sitting", 3}, {"same", "same", 0}} {
		if got := distance(tc.a, tc.b); got != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}
