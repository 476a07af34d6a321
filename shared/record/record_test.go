package record_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

func envelope() *record.Envelope {
	return &record.Envelope{
		Schema: record.Schema, ID: "01939a52-7b7c-7cc1-8f5e-1b2c3d4e5f60", Kind: record.Given,
		Collector: "c1", Epoch: "e1", Seq: 1, CapturedAt: "2026-11-22T10:00:00.5+01:00",
		HLC: hlc.New(1763802000500, 0), Touchpoint: "fair-b12", Language: "it",
		Notice:        record.NoticeRef{ID: "privacy-it", Version: 1, SHA256: strings.Repeat("a", 64)},
		Purposes:      []record.Choice{{Purpose: "newsletter", Granted: true}, {Purpose: "sms"}},
		PayloadSHA256: strings.Repeat("b", 64), Sealed: []byte{1, 2, 3},
	}
}

func TestSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, err := record.Sign(envelope(), priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Verify(pub); err != nil {
		t.Fatal(err)
	}
	// Through the wire and back: the exact bytes survive.
	b, _ := json.Marshal(s)
	var back record.Signed
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(pub); err != nil {
		t.Fatalf("after round trip: %v", err)
	}
	if back.HashHex() != s.HashHex() {
		t.Fatal("hash changed in transit")
	}
	env, err := back.Decode()
	if err != nil || env.Seq != 1 || env.Purposes[0].Purpose != "newsletter" {
		t.Fatalf("decode: %+v %v", env, err)
	}
	// Any byte changed breaks the signature.
	for i := range s.Envelope {
		bad := record.Signed{Envelope: append([]byte(nil), s.Envelope...), Sig: s.Sig}
		bad.Envelope[i] ^= 0x01
		if !errors.Is(bad.Verify(pub), record.ErrSignature) {
			t.Fatalf("flip at %d verified", i)
		}
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if s.Verify(other) == nil {
		t.Fatal("verified with another device's key")
	}
}

func TestValidate(t *testing.T) {
	cases := map[string]func(e *record.Envelope){
		"schema":        func(e *record.Envelope) { e.Schema = 2 },
		"id":            func(e *record.Envelope) { e.ID = "nope" },
		"kind":          func(e *record.Envelope) { e.Kind = "maybe" },
		"collector":     func(e *record.Envelope) { e.Collector = "" },
		"epoch":         func(e *record.Envelope) { e.Epoch = "" },
		"seq":           func(e *record.Envelope) { e.Seq = 0 },
		"prev":          func(e *record.Envelope) { e.Prev = "xyz" },
		"captured_at":   func(e *record.Envelope) { e.CapturedAt = "yesterday" },
		"purposes":      func(e *record.Envelope) { e.Purposes = nil },
		"twice":         func(e *record.Envelope) { e.Purposes[1].Purpose = "newsletter" },
		"payload_sha":   func(e *record.Envelope) { e.PayloadSHA256 = "" },
		"code":          func(e *record.Envelope) { e.Purposes[0].Purpose = "News Letter" },
		"touchpoint":    func(e *record.Envelope) { e.Touchpoint = "" },
		"notice.sha256": func(e *record.Envelope) { e.Notice.SHA256 = "zz" },
	}
	if err := envelope().Validate(); err != nil {
		t.Fatalf("valid envelope refused: %v", err)
	}
	for name, mutate := range cases {
		e := envelope()
		mutate(e)
		if err := e.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Keys that encoding/json would match without regard to case, or keep the
// last of, are refused: SQLite's json_extract, jq and a person take the
// first exact match, and would read a different record from the same
// signed bytes.
func TestDecodeRefusesAmbiguousKeys(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	withdrawal := envelope()
	withdrawal.Kind, withdrawal.Ref = record.Withdrawn, "01939a52-7b7c-7cc1-8f5e-1b2c3d4e5f61"
	withdrawal.Purposes = []record.Choice{{Purpose: "newsletter"}}
	w, _ := withdrawal.Marshal()
	refused := envelope()
	refused.Kind, refused.Purposes = record.Refused, []record.Choice{{Purpose: "newsletter"}}
	r, _ := refused.Marshal()
	grant := `[{"purpose":"newsletter","granted":true}]`
	cases := []struct{ name, env, want string }{
		{"refusal then case-folded grant", strings.Replace(string(r), `"sealed"`, `"Purposes":`+grant+`,"sealed"`, 1), `unknown key "Purposes"`},
		{"repeated purposes", strings.Replace(string(r), `"sealed"`, `"purposes":`+grant+`,"sealed"`, 1), `repeated key "purposes"`},
		{"case-folded ref", strings.Replace(string(w), `"ref"`, `"Ref"`, 1), `unknown key "Ref"`},
		{"repeated ref", strings.Replace(string(w), `"ref"`, `"ref":"x","ref"`, 1), `repeated key "ref"`},
		{"escaped repeat", strings.Replace(string(w), `"ref"`, `"ref":"x","r\u0065f"`, 1), `repeated key "ref"`},
		{"Kelvin sign", strings.Replace(string(w), `"kind"`, `"\u212aind"`, 1), `unknown key "\u212aind"`},
		{"nested case-folded", strings.Replace(string(r), `"granted"`, `"Granted"`, 1), `unknown key "Granted"`},
		{"nested repeat", strings.Replace(string(r), `"granted":false`, `"granted":false,"granted":true`, 1), `repeated key "granted"`},
		{"repeated notice", strings.Replace(string(r), `"notice"`, `"notice":{},"notice"`, 1), `repeated key "notice"`},
	}
	for _, c := range cases {
		s := record.Signed{Envelope: []byte(c.env), Sig: ed25519.Sign(priv, []byte(c.env))}
		if _, err := s.Decode(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Decode says %v, want %q: %s", c.name, err, c.want, c.env)
		}
	}
	// An escaped key that reads as a known one reads the same everywhere.
	if _, err := (record.Signed{Envelope: []byte(strings.Replace(string(w), `"ref"`, `"r\u0065f"`, 1))}).Decode(); err != nil {
		t.Errorf("escaped ref: %v", err)
	}
	for in, want := range map[string]string{
		`{"subject":{"email":"a@b.it","Email":"c@d.it"},"salt":""}`:         `unknown key "Email"`,
		`{"subject":{"email":"a@b.it"},"subject":{"email":"c@d.it"}}`:       `repeated key "subject"`,
		`{"signature":{"png":"","points":[[{"x":1,"x":2}]]},"salt":""}`:     `repeated key "x"`,
		`{"signature":{"png":"","points":[[{"x":1,"T":2}]]},"receipt":"t"}`: `unknown key "T"`,
	} {
		if _, err := record.DecodePayload([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: DecodePayload says %v, want %q", in, err, want)
		}
	}
}

// encoding/json's More stops at a stray "}" or "]" after the envelope, but
// SQLite's JSON functions call such bytes malformed, and the hub could not
// store them.
func TestDecodeRefusesTrailingCloser(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := record.Sign(envelope(), priv)
	for _, tail := range []string{"}", "]", " }", "\n]\n", " "} {
		b := append(append([]byte(nil), s.Envelope...), tail...)
		_, err := record.Signed{Envelope: b}.Decode()
		if want := strings.TrimSpace(tail) != ""; want && (err == nil || err.Error() != "malformed envelope: trailing data") || !want && err != nil {
			t.Errorf("%q after the envelope: %v", tail, err)
		}
	}
}

func TestCountersign(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sig := record.Countersign(priv, "abc", "2026-11-22T10:00:00Z")
	if err := record.VerifyCountersign(pub, "abc", "2026-11-22T10:00:00Z", sig); err != nil {
		t.Fatal(err)
	}
	if record.VerifyCountersign(pub, "abc", "2026-11-22T10:00:01Z", sig) == nil {
		t.Fatal("countersignature verified for another time")
	}
}

func FuzzDecode(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := record.Sign(envelope(), priv)
	f.Add([]byte(s.Envelope))
	f.Add([]byte(`{"schema":1}`))
	f.Add([]byte(`{"schema":1,"extra":true}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := record.Signed{Envelope: b}.Decode()
		if err != nil {
			return
		}
		if err := env.Validate(); err != nil {
			t.Fatalf("decoded envelope fails validation: %v", err)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	f.Add([]byte(`{"subject":{"given_name":"Anna","family_name":"Rossi","email":"a@b.it"},"salt":"AAAA"}`))
	f.Add([]byte(`{"signature":{"png":"AA==","points":[[{"x":1,"y":2,"t":3}]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := record.DecodePayload(b)
		if err != nil {
			return
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	})
}
