package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

func signedBatch(t testing.TB, n int) []record.Signed {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	out := make([]record.Signed, n)
	for i := range out {
		s, err := record.Sign(&record.Envelope{Schema: 1, ID: fmt.Sprintf("01939a52-7b7c-7cc1-8f5e-1b2c3d4e%04x", i), Kind: record.Given,
			Collector: "c1", Epoch: "e1", Seq: uint64(i + 1), CapturedAt: "2026-11-22T10:00:00Z", HLC: hlc.New(1763802000500, 1),
			Controller: record.Controller{Name: "Acme S.p.A. <dpo> & co \u2028"}, Touchpoint: "fair-b12",
			Purposes: []record.Choice{{Purpose: "newsletter", Granted: true}}, PayloadSHA256: strings.Repeat("b", 64), Sealed: []byte{1, 2, 3}}, priv)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// The push frames a collector sends take the hand-written paths and are
// byte for byte, and value for value, what encoding/json makes of them.
func TestPushFastMatchesEncodingJSON(t *testing.T) {
	f := &Frame{V: Version, Type: TPush, Push: &Push{Batch: 42, Records: signedBatch(t, 3)}}
	fast, ok := encodePushFast(f)
	if !ok {
		t.Fatal("a plain push frame left the fast encoder")
	}
	want, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(fast) != string(want) {
		t.Fatalf("fast encoding\n%s\nencoding/json\n%s", fast, want)
	}
	got, ok := decodePushFast(fast)
	if !ok {
		t.Fatal("a plain push frame left the fast decoder")
	}
	strict, err := decodeStrict(fast)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, strict) || !reflect.DeepEqual(got, f) {
		t.Fatalf("fast %+v\nstrict %+v", got.Push, strict.Push)
	}
}

// An envelope encoding/json would rewrite in transit (whitespace, unescaped
// HTML characters) goes through encoding/json, as before.
func TestPushFastLeavesTheUnusual(t *testing.T) {
	recs := signedBatch(t, 1)
	for _, env := range []string{`{"a": 1}`, `{"a":"<"}`, `{"a":"&"}`, "{\"a\":\"\u2028\"}", `nul`, ``} {
		f := &Frame{V: Version, Type: TPush, Push: &Push{Batch: 1, Records: []record.Signed{{Envelope: []byte(env), Sig: recs[0].Sig}}}}
		if _, ok := encodePushFast(f); ok {
			t.Errorf("%q stayed on the fast encoder", env)
		}
		encodeAgrees(t, f)
	}
	for _, frame := range []string{
		`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{},"sig":"AA=="}]},"ack":null}`,
		`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{},"sig":"AA==","env":{}}]}}`,
		`{"v":1,"type":"push","push":{"batch":1,"records":null}}`,
		`{"v":1,"type":"push","Push":{"batch":1,"records":[]}}`,
		`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{"a":[1,}]},"sig":"AA=="}]}}`,
		`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{},"sig":"A"}]}}`,
		`{"v":1,"type":"push","push":{"batch":1,"records":[]}} x`,
		`{"v":1,"type":"hello","hello":{"collector":"c"}}`,
	} {
		if _, ok := decodePushFast([]byte(frame)); ok {
			t.Errorf("%s stayed on the fast decoder", frame)
		}
		decodeAgrees(t, []byte(frame))
	}
}

func encodeAgrees(t *testing.T, f *Frame) {
	t.Helper()
	got, gotErr := Encode(f)
	want, wantErr := json.Marshal(f)
	if (gotErr == nil) != (wantErr == nil) || string(got) != string(want) {
		t.Fatalf("Encode gives %q %v, encoding/json %q %v", got, gotErr, want, wantErr)
	}
}

func decodeAgrees(t *testing.T, b []byte) {
	t.Helper()
	got, gotErr := Decode(b)
	var want *Frame
	wantErr := error(nil)
	if f, ok := decodePushFast(b); ok {
		strict, err := decodeStrict(b)
		if err != nil {
			t.Fatalf("fast decoder accepted what encoding/json refuses (%v): %q", err, b)
		}
		if !reflect.DeepEqual(f, strict) {
			t.Fatalf("%q: fast %+v, strict %+v", b, f, strict)
		}
	}
	// Decode's answer with the fast path taken out.
	if f, err := decodeStrict(b); err != nil {
		wantErr = err
	} else {
		want, wantErr = f, check(f)
		if wantErr != nil {
			want = nil
		}
	}
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: Decode %+v %v, encoding/json %+v %v", b, got, gotErr, want, wantErr)
	}
}

func FuzzPushFast(f *testing.F) {
	recs := signedBatch(f, 2)
	b, _ := Encode(&Frame{Type: TPush, Push: &Push{Batch: 7, Records: recs}})
	f.Add(b, []byte(recs[0].Envelope))
	f.Add([]byte(`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{"a":[1,2.5e3,-0,true,null,"\u00e9"]},"sig":""}]}}`), []byte(`{"a":[1,{"b":"\""}]}`))
	f.Add([]byte(` { "type" : "push" , "v" : 1 , "push" : { "records" : [ ] , "batch" : 0 } } `), []byte(`[ ]`))
	f.Fuzz(func(t *testing.T, frame, env []byte) {
		decodeAgrees(t, frame)
		encodeAgrees(t, &Frame{V: Version, Type: TPush, Push: &Push{Batch: 3, Records: []record.Signed{recs[0], {Envelope: env, Sig: recs[1].Sig}}}})
	})
}

// go test -run '^$' -bench Push ./shared/wire/
func BenchmarkPush(b *testing.B) {
	f := &Frame{Type: TPush, Push: &Push{Batch: 1, Records: signedBatch(b, 500)}}
	enc, _ := Encode(f)
	b.Run("encode/fast", func(b *testing.B) {
		for b.Loop() {
			Encode(f)
		}
	})
	b.Run("encode/encoding-json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(f)
		}
	})
	b.Run("decode/fast", func(b *testing.B) {
		for b.Loop() {
			if _, err := Decode(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeStrict(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
