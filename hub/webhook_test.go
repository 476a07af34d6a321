package hub_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

func TestNewWebhookValidate(t *testing.T) {
	for _, tc := range []struct {
		url    string
		events []string
		want   string // "" valid; else part of the refusal
		norm   string
	}{
		{"https://crm.example.com/hooks", []string{"consent.changed"}, "", "consent.changed"},
		{" http://10.0.0.5:8080/h?x=1 ", []string{"request.created", " consent.changed", "request.created", ""}, "", "consent.changed,request.created"},
		{"https://crm.example.com", []string{"*"}, "", "config.changed,consent.changed,request.created,request.updated,subject.erased"},
		{"", []string{"*"}, "needs a URL", ""},
		{"crm.example.com/hooks", []string{"*"}, "http:// or https://", ""},
		{"ftp://crm.example.com", []string{"*"}, "http:// or https://", ""},
		{"https://", []string{"*"}, "no host", ""},
		{"https://:443/x", []string{"*"}, "no host", ""},
		{"https://u:p@crm.example.com", []string{"*"}, "credentials", ""},
		{"https://crm.example.com/#x", []string{"*"}, "fragment", ""},
		{"https://crm.example.com/%zz", []string{"*"}, "does not parse", ""},
		{"https://crm.example.com", nil, "at least one event", ""},
		{"https://crm.example.com", []string{"consent.change"}, `unknown event "consent.change"`, ""},
	} {
		n := hub.NewWebhook{URL: tc.url, Events: tc.events}
		err := n.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q %v: %v", tc.url, tc.events, err)
		case tc.want == "" && strings.Join(n.Events, ",") != tc.norm:
			t.Errorf("%q: events %v, want %s", tc.url, n.Events, tc.norm)
		case tc.want != "" && (apperr.Code(err) != apperr.EINVALID || !strings.Contains(apperr.Message(err), tc.want)):
			t.Errorf("%q %v: %v, want a refusal with %q", tc.url, tc.events, err, tc.want)
		}
	}
}

func FuzzNewWebhookValidate(f *testing.F) {
	f.Add("https://crm.example.com/h?x=1", "consent.changed,request.created")
	f.Add(" http://10.0.0.5:8080 ", "*")
	f.Add("https://u:p@x", "consent.changed")
	f.Add("http://[::1]:80/", "subject.erased,,")
	f.Add("javascript:alert(1)", "config.changed")
	f.Fuzz(func(t *testing.T, rawURL, events string) {
		n := hub.NewWebhook{URL: rawURL, Events: strings.Split(events, ",")}
		if err := n.Validate(); err != nil {
			if apperr.Code(err) != apperr.EINVALID {
				t.Fatalf("refusal %v is not EINVALID", err)
			}
			return
		}
		u, err := url.Parse(n.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || len(n.Events) == 0 {
			t.Fatalf("accepted %q as %+v", rawURL, n)
		}
		for _, e := range n.Events {
			if !slices.Contains(hub.NotifyTypes, e) {
				t.Fatalf("accepted event %q", e)
			}
		}
		again := n
		if err := again.Validate(); err != nil || again.URL != n.URL {
			t.Fatalf("a valid webhook is not valid again: %v %q → %q", err, n.URL, again.URL)
		}
	})
}
