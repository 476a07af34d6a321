package record

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/attesta/attesta/shared/hlc"
)

func fullEnvelope() *Envelope {
	return &Envelope{
		Schema: Schema, ID: "01939a52-7b7c-7cc1-8f5e-1b2c3d4e5f60", Kind: Given,
		Collector: "c1", Epoch: "e1", Seq: 7, Prev: strings.Repeat("c", 64), CapturedAt: "2026-11-22T10:00:00.5+01:00",
		HLC: hlc.New(1763802000500, 3), Controller: Controller{Name: "Acme S.p.A. <privacy> & co", Contact: "dpo@acme.it"},
		Jurisdiction: "IT", Language: "it", Touchpoint: "fair-b12", Operator: "staff-1", AppVersion: "1.2.3",
		Notice:   NoticeRef{ID: "privacy-it", Version: 2, SHA256: strings.Repeat("a", 64), ViewedAt: "2026-11-22T09:59:00Z"},
		Purposes: []Choice{{Purpose: "newsletter", DPV: "dpv:DirectMarketing", Granted: true, LegalBasis: "consent", RetentionDays: 730}, {Purpose: "sms", RetentionDays: 730}},
		Ref:      "01939a52-7b7c-7cc1-8f5e-1b2c3d4e5f61", Withdraw: "https://hub.example/r/?a=1&b=2",
		PayloadSHA256: strings.Repeat("b", 64), SignatureSHA256: strings.Repeat("d", 64), Sealed: []byte{1, 2, 3, 250, 251},
	}
}

func fullPayload() *Payload {
	return &Payload{
		Subject:   Subject{GivenName: "Zoë", FamilyName: "D'Amico \"Z\"", Email: "zoe@example.it", Phone: "+39 333 123 4567"},
		Signature: &Handwriting{PNG: []byte{0x89, 'P', 'N', 'G'}, Points: [][]Point{{{X: 1.5, Y: -2, T: 0, P: 0.5}, {X: 3e2, Y: 4, T: 16}}, {}}},
		Receipt:   "tok-123", Salt: []byte("0123456789abcdef"),
	}
}

// The shapes the collector writes take the fast path and give what
// encoding/json gives.
func TestFastDecodeTakesTheCommonShape(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	for _, e := range []*Envelope{fullEnvelope(), {Schema: 1, ID: "x", Kind: NoticeViewed, Purposes: []Choice{}}} {
		s, err := Sign(e, priv)
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := fastEnvelope(s.Envelope)
		if !ok {
			t.Fatalf("%s left the fast path", s.Envelope)
		}
		strict, err := strictEnvelope(s.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("fast %+v\nstrict %+v", fast, strict)
		}
	}
	b, _ := json.Marshal(fullPayload())
	for _, in := range [][]byte{b, []byte(` { "subject" : { "email" : "a\u00e9\n\\\/b" } , "salt" : "" } `)} {
		fast, ok := fastPayload(in)
		if !ok {
			t.Fatalf("%s left the fast path", in)
		}
		strict, err := strictPayload(in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, strict) {
			t.Fatalf("fast %+v\nstrict %+v", fast, strict)
		}
	}
}

// Everything unusual goes to encoding/json, which decides as it always did.
func TestFastDecodeLeavesTheUnusual(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := Sign(fullEnvelope(), priv)
	env := string(s.Envelope)
	cases := map[string]string{
		"repeated key":       strings.Replace(env, `"seq":7`, `"seq":7,"seq":8`, 1),
		"repeated object":    strings.Replace(env, `"controller":{`, `"controller":{"name":"x"},"controller":{`, 1),
		"case-folded key":    strings.Replace(env, `"seq":7`, `"SEQ":7`, 1),
		"unknown key":        strings.Replace(env, `"seq":7`, `"seq":7,"extra":1`, 1),
		"null":               strings.Replace(env, `"operator":"staff-1"`, `"operator":null`, 1),
		"escaped key":        strings.Replace(env, `"seq":7`, `"s\u0065q":7`, 1),
		"surrogate escape":   strings.Replace(env, `"staff-1"`, `"\ud83d\ude00"`, 1),
		"invalid UTF-8":      strings.Replace(env, `"staff-1"`, "\"staff\xff\"", 1),
		"fraction seq":       strings.Replace(env, `"seq":7`, `"seq":7.0`, 1),
		"negative seq":       strings.Replace(env, `"seq":7`, `"seq":-7`, 1),
		"seq overflow":       strings.Replace(env, `"seq":7`, `"seq":18446744073709551616`, 1),
		"quoted seq":         strings.Replace(env, `"seq":7`, `"seq":"7"`, 1),
		"bad base64":         strings.Replace(env, `"sealed":"`, `"sealed":"!`, 1),
		"bad hlc":            strings.Replace(env, `"hlc":"`, `"hlc":"x`, 1),
		"trailing data":      env + ` {}`,
		"trailing brace":     env + `}`,
		"trailing comma":     env[:len(env)-1] + `,}`,
		"leading zero":       strings.Replace(env, `"seq":7`, `"seq":07`, 1),
		"not an object":      `[` + env + `]`,
		"empty":              ``,
		"control in string":  strings.Replace(env, `"staff-1"`, "\"staff\t1\"", 1),
		"truncated":          env[:len(env)/2],
		"purposes null":      strings.Replace(env, `"purposes":[`, `"purposes":null,"x":[`, 1),
		"granted as number":  strings.Replace(env, `"granted":true`, `"granted":1`, 1),
		"unknown in purpose": strings.Replace(env, `"granted":true`, `"granted":true,"why":"x"`, 1),
	}
	for name, in := range cases {
		if _, ok := fastEnvelope([]byte(in)); ok {
			t.Errorf("%s: stayed on the fast path: %s", name, in)
		}
		agree(t, []byte(in))
	}
}

// agree checks that Decode and encoding/json plus Validate answer alike.
func agree(t *testing.T, b []byte) {
	t.Helper()
	got, gotErr := Signed{Envelope: b}.Decode()
	want, wantErr := strictEnvelope(b)
	if wantErr == nil {
		if wantErr = want.Validate(); wantErr != nil {
			want = nil
		}
	}
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("%q: Decode says %v, encoding/json says %v", b, gotErr, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: Decode gives %+v, encoding/json %+v", b, got, want)
	}
}

func FuzzFastDecode(f *testing.F) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := Sign(fullEnvelope(), priv)
	f.Add([]byte(s.Envelope))
	f.Add([]byte(`{"schema":1,"id":"a\u00e9","purposes":[],"sealed":"","seq":0}`))
	f.Add([]byte(`{"schema":1,"extra":true}`))
	f.Add([]byte(` {"notice":{"version":-0,"id":"\"\\"}} `))
	f.Fuzz(func(t *testing.T, b []byte) {
		if fast, ok := fastEnvelope(b); ok {
			strict, err := strictEnvelope(b)
			if err != nil {
				t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, b)
			}
			if !reflect.DeepEqual(fast, strict) {
				t.Fatalf("%q: fast %+v, strict %+v", b, fast, strict)
			}
		}
		agree(t, b)
	})
}

func FuzzFastDecodePayload(f *testing.F) {
	b, _ := json.Marshal(fullPayload())
	f.Add(b)
	f.Add([]byte(`{"subject":{"given_name":"Anna","family_name":"Rossi","email":"a@b.it"},"salt":"AAAA"}`))
	f.Add([]byte(`{"signature":{"png":"AA==","points":[[{"x":1,"y":2.5e-3,"t":-3}],[]]}}`))
	f.Add([]byte(`{"signature":null,"salt":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		strict, strictErr := strictPayload(b)
		if fast, ok := fastPayload(b); ok {
			if strictErr != nil {
				t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", strictErr, b)
			}
			if !reflect.DeepEqual(fast, strict) {
				t.Fatalf("%q: fast %+v, strict %+v", b, fast, strict)
			}
		}
		got, err := DecodePayload(b)
		if (err == nil) != (strictErr == nil) || err != nil && err.Error() != strictErr.Error() || !reflect.DeepEqual(got, strict) {
			t.Fatalf("%q: DecodePayload %+v %v, encoding/json %+v %v", b, got, err, strict, strictErr)
		}
	})
}

// go test -run '^$' -bench 'Decode' ./shared/record/
func BenchmarkDecode(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := Sign(fullEnvelope(), priv)
	p, _ := json.Marshal(fullPayload())
	b.Run("envelope/fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Decode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("envelope/encoding-json", func(b *testing.B) {
		for b.Loop() {
			e, err := strictEnvelope(s.Envelope)
			if err != nil || e.Validate() != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("payload/fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := DecodePayload(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("payload/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := strictPayload(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

var (
	hex64RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	codeRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
)

func shapesAgree(t *testing.T, s string) {
	t.Helper()
	if isHex64(s) != hex64RE.MatchString(s) || isUUID(s) != uuidRE.MatchString(s) || isCode(s) != codeRE.MatchString(s) {
		t.Fatalf("%q: hex64 %v/%v uuid %v/%v code %v/%v", s, isHex64(s), hex64RE.MatchString(s),
			isUUID(s), uuidRE.MatchString(s), isCode(s), codeRE.MatchString(s))
	}
}

func TestShapes(t *testing.T) {
	for _, s := range []string{"", strings.Repeat("a", 64), strings.Repeat("A", 64), strings.Repeat("a", 63), strings.Repeat("0", 65),
		"01939a52-7b7c-7cc1-8f5e-1b2c3d4e5f60", "01939a52-7b7c-7cc1-cf5e-1b2c3d4e5f60", "01939a52-7b7c-7cc1-8f5e-1b2c3d4e5f6",
		"01939a52x7b7c-7cc1-8f5e-1b2c3d4e5f60", "newsletter", "_x", "x_", "a.b-c", strings.Repeat("a", 64) + "\n", strings.Repeat("a", 65), "Sms"} {
		shapesAgree(t, s)
	}
}

func FuzzShapes(f *testing.F) {
	f.Add("01939a52-7b7c-7cc1-8f5e-1b2c3d4e5f60")
	f.Add(strings.Repeat("a", 64))
	f.Add("newsletter")
	f.Fuzz(shapesAgree)
}
