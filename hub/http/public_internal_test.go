package http

import (
	"net/http/httptest"
	"testing"
)

func TestSameOrigin(t *testing.T) {
	for _, c := range []struct {
		site, origin string
		ok           bool
	}{
		{"same-origin", "null", true}, // this page's own post under its no-referrer policy
		{"same-origin", "", true},
		{"none", "", true},
		{"cross-site", "", false},
		{"same-site", "http://hub.example:8700", false},
		{"cross-site", "http://hub.example:8700", false}, // Sec-Fetch-Site wins
		{"", "http://hub.example:8700", true},
		{"", "http://evil.example", false},
		{"", "null", true},
		{"", "", true}, // a script: the token authorises it
	} {
		r := httptest.NewRequest("POST", "http://hub.example:8700/r/tok", nil)
		if c.site != "" {
			r.Header.Set("Sec-Fetch-Site", c.site)
		}
		if c.origin != "" {
			r.Header.Set("Origin", c.origin)
		}
		if got := sameOrigin(r); got != c.ok {
			t.Errorf("Sec-Fetch-Site %q Origin %q: %v, want %v", c.site, c.origin, got, c.ok)
		}
	}
}
