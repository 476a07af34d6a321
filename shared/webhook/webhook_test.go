package webhook_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/webhook"
)

var (
	now  = time.Unix(1_700_000_000, 0)
	body = []byte(`{"id":"1","type":"consent.changed"}`)
)

func TestVerify(t *testing.T) {
	good := webhook.Sign("whsec_a", now, body)
	other := webhook.Sign("whsec_b", now, body)
	_, v1, _ := strings.Cut(good, ",")
	_, v1other, _ := strings.Cut(other, ",")
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "whsec_a", good, body, now, nil},
		{"valid within tolerance after", "whsec_a", good, body, now.Add(4 * time.Minute), nil},
		{"valid within tolerance before", "whsec_a", good, body, now.Add(-4 * time.Minute), nil},
		{"rotation: second v1 matches", "whsec_a", "t=1700000000," + v1other + "," + v1, body, now, nil},
		{"unknown scheme ignored", "whsec_a", good + ",v0=zz", body, now, nil},
		{"replayed later", "whsec_a", good, body, now.Add(6 * time.Minute), webhook.ErrTooOld},
		{"from the future", "whsec_a", good, body, now.Add(-6 * time.Minute), webhook.ErrTooOld},
		{"wrong secret", "whsec_b", good, body, now, webhook.ErrMismatch},
		{"body changed", "whsec_a", good, []byte(`{"id":"2","type":"consent.changed"}`), now, webhook.ErrMismatch},
		{"timestamp changed", "whsec_a", "t=1700000001," + v1, body, now, webhook.ErrMismatch},
		{"empty", "whsec_a", "", body, now, webhook.ErrMalformed},
		{"no v1", "whsec_a", "t=1700000000", body, now, webhook.ErrMalformed},
		{"no t", "whsec_a", v1, body, now, webhook.ErrMalformed},
		{"two t", "whsec_a", "t=1,t=1700000000," + v1, body, now, webhook.ErrMalformed},
		{"bad hex", "whsec_a", "t=1700000000,v1=xyz", body, now, webhook.ErrMalformed},
		{"short mac", "whsec_a", "t=1700000000,v1=abcd", body, now, webhook.ErrMalformed},
		{"negative t", "whsec_a", "t=-5," + v1, body, now, webhook.ErrMalformed},
		{"huge", "whsec_a", good + strings.Repeat(",x=y", 2000), body, now, webhook.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := webhook.Verify(tc.secret, tc.header, tc.body, 0, tc.now)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignFormat(t *testing.T) {
	// A receiver in another language recomputes this by hand: HMAC-SHA256
	// keyed "secret" over "1700000000.{}".
	got := webhook.Sign("secret", now, []byte("{}"))
	want := "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
	if got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

func TestSignAllDuringRotation(t *testing.T) {
	h := webhook.SignAll(now, body, "whsec_new", "whsec_old")
	for _, secret := range []string{"whsec_new", "whsec_old"} {
		if err := webhook.Verify(secret, h, body, 0, now); err != nil {
			t.Errorf("%s: %v", secret, err)
		}
	}
	if err := webhook.Verify("whsec_other", h, body, 0, now); !errors.Is(err, webhook.ErrMismatch) {
		t.Errorf("another secret: %v", err)
	}
	if webhook.SignAll(now, body, "s") != webhook.Sign("s", now, body) {
		t.Error("SignAll with one secret differs from Sign")
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(webhook.Sign("s", now, body))
	f.Add("t=1,v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("cd", 32))
	f.Add("t=,v1=")
	f.Add("v1=00,t=9999999999999999999")
	f.Add(",,,")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := webhook.ParseHeader(h)
		if err != nil {
			if !errors.Is(err, webhook.ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(p.Signatures) == 0 || p.Timestamp < 0 {
			t.Fatalf("accepted %q as %+v", h, p)
		}
		for _, s := range p.Signatures {
			if len(s) != 32 {
				t.Fatalf("signature of %d bytes accepted", len(s))
			}
		}
		// Verify accepts a parsed header only when one of its v1 values
		// is the real MAC.
		signed := webhook.Sign("s", time.Unix(p.Timestamp, 0), body)
		_, v1, _ := strings.Cut(signed, ",")
		ok := webhook.Verify("s", h, body, time.Hour, time.Unix(p.Timestamp, 0)) == nil
		has := false
		for part := range strings.SplitSeq(h, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			has = has || k+"="+strings.ToLower(v) == v1
		}
		if ok != has {
			t.Fatalf("Verify(%q) = %v, real signature %s", h, ok, v1)
		}
	})
}
