package wire_test

import (
	"testing"

	"github.com/attesta/attesta/shared/wire"
)

func TestRoundTrip(t *testing.T) {
	in := &wire.Frame{Type: wire.TAck, Ack: &wire.Ack{Batch: 7, Accepted: 3, Rejected: []wire.Rejection{{Seq: 2, Code: "invalid", Reason: "bad signature"}}}}
	b, err := wire.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := wire.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.Ack.Batch != 7 || out.Ack.Rejected[0].Reason != "bad signature" {
		t.Fatalf("%+v", out.Ack)
	}
}

var bad = []string{
	`{}`,
	`not json`,
	`{"v":2,"type":"ack","ack":{}}`,
	`{"v":1,"type":"nope"}`,
	`{"v":1,"type":"ack"}`,
	`{"v":1,"type":"ack","ack":{},"hello":{}}`,
	`{"v":1,"type":"ack","ack":{},"surprise":1}`,
	`{"v":1,"type":"ack","ack":{}} {}`,
	`{"v":1,"type":"ack","ack":{}}}`,
	`{"v":1,"type":"push","push":{"batch":1,"records":[]}}]`,
	`{"v":1,"type":"ack","Ack":{}}`,
	`{"v":1,"type":"ack","ack":{"batch":1,"batch":2}}`,
	`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{},"sig":"AA==","env":{}}]}}`,
	`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{},"Sig":"AA=="}]}}`,
}

func TestDecodeRefuses(t *testing.T) {
	for _, s := range bad {
		if _, err := wire.Decode([]byte(s)); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"hello","hello":{"collector":"c","streams":[{"epoch":"e","head":3}]}}`))
	f.Add([]byte(`{"v":1,"type":"push","push":{"batch":1,"records":[{"env":{"schema":1},"sig":"AA=="}]}}`))
	for _, s := range bad {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := wire.Decode(b)
		if err != nil {
			return
		}
		again, err := wire.Encode(fr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wire.Decode(again); err != nil {
			t.Fatalf("re-encoded frame refused: %v", err)
		}
	})
}
