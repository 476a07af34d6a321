package config

import (
	"strings"
	"testing"

	"github.com/attesta/attesta/shared/apperr"
)

// FuzzDecode feeds arbitrary files to the loader: it refuses or accepts,
// never panics, and every refusal is an EINVALID that starts with "config:".
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"listen = \"abc\"\n", "lisen = 1\n", "[log]\nlevel = 1\n", "sync_window = 99999999999999999999\n",
		"idle_reset = \"-5s\"\n", "hub_url = \"http://[::1\"\n", "metrics_open = tru\n", "a.b.c = 1\n",
		"operator_pin = \"1234\"\nlisten = \":0\"\n", "[[x]]\n", "listen = \"\\u0000:1\"\n", "x = 1979-05-27T07:32:00Z\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l := newSettings().loader(nil)
		err := l.decode("f.toml", b)
		if err == nil {
			return
		}
		if apperr.Code(err) != apperr.EINVALID || !strings.HasPrefix(apperr.Message(err), "config: f.toml:") {
			t.Fatalf("refusal %v", err)
		}
	})
}
