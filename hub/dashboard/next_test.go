package dashboard

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

var nextCases = []string{"/dashboard/devices", "/dashboard/subjects?q=a%40b", "https://evil.example/", "//evil.example/",
	"/dashboard/../x", "/\\evil", "javascript:alert(1)", "/dashboard/%2e%2e/x", "/dashboard/\t/x", "", "/dashboard/login"}

// FuzzSafeNext: whatever a sign-in form's next says, the redirect stays on
// this site, inside the dashboard.
func FuzzSafeNext(f *testing.F) {
	for _, c := range nextCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(got, Prefix) || strings.HasPrefix(got, "//") ||
			strings.ContainsAny(got, "\\\r\n\t") {
			t.Fatalf("safeNext(%q) = %q: not a path inside the dashboard", next, got)
		}
		// The browser resolves it against the hub: it must stay there.
		base, _ := url.Parse("http://hub.example:8700/dashboard/login")
		if r := base.ResolveReference(u); r.Host != "hub.example:8700" || !strings.HasPrefix(r.Path, Prefix) {
			t.Fatalf("safeNext(%q) = %q resolves to %s", next, got, r)
		}
	})
}

// FuzzCookie: any Cookie header either yields a well-formed secret worth a
// lookup, or nothing.
func FuzzCookie(f *testing.F) {
	f.Add("attesta_session=274i5aOSUL_L9POZL-y7z6NybrE3T-ehrZnxYUO7NtI")
	f.Add("attesta_session=; other=1")
	f.Add(`attesta_session="quoted"; attesta_session=second`)
	f.Add("attesta_session=" + strings.Repeat("A", 5000))
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/dashboard/", nil)
		r.Header.Set("Cookie", header)
		s := cookieSecret(r, cookiePlain)
		if s == "" {
			return
		}
		if len(s) != 43 || strings.ContainsAny(s, "=+/;, \"") {
			t.Fatalf("cookieSecret(%q) = %q", header, s)
		}
	})
}
