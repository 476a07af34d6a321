package hlc_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/hlc"
)

const base = 1_763_800_000_000

type fakeTime struct{ t time.Time }

func (f *fakeTime) now() time.Time { return f.t }

func TestClockMonotonic(t *testing.T) {
	ft := &fakeTime{time.UnixMilli(base)}
	c := &hlc.Clock{Now: ft.now}
	a := c.Tick()
	b := c.Tick() // same millisecond: logical counter advances
	if !(b > a) || b.WallMS() != a.WallMS() || b.Logical() != 1 {
		t.Fatalf("a=%v b=%v", a, b)
	}
	ft.t = ft.t.Add(-time.Hour) // clock stepped back
	if c2 := c.Tick(); c2 <= b {
		t.Fatalf("went backwards: %v after %v", c2, b)
	}
	ft.t = time.UnixMilli(base + 1000)
	if d := c.Tick(); d != hlc.New(base+1000, 0) {
		t.Fatalf("did not follow wall clock: %v", d)
	}
}

func TestClockUpdate(t *testing.T) {
	ft := &fakeTime{time.UnixMilli(base)}
	c := &hlc.Clock{Now: ft.now, MaxOffset: time.Minute}
	remote := hlc.New(base+30_000, 7)
	got, err := c.Update(remote)
	if err != nil || got <= remote {
		t.Fatalf("update: %v %v", got, err)
	}
	before := c.Last()
	if _, err := c.Update(hlc.New(base+3*24*3600*1000, 0)); !errors.Is(err, hlc.ErrDrift) {
		t.Fatalf("3 days ahead accepted: %v", err)
	}
	if c.Last() != before {
		t.Fatal("drifting remote moved the clock")
	}
}

func TestTextRoundTrip(t *testing.T) {
	for _, ts := range []hlc.Timestamp{0, hlc.New(1763834289123, 4), hlc.New(1<<47, 65535)} {
		b, err := json.Marshal(ts)
		if err != nil {
			t.Fatal(err)
		}
		var back hlc.Timestamp
		if err := json.Unmarshal(b, &back); err != nil || back != ts {
			t.Fatalf("%s: %v %v", b, back, err)
		}
	}
	for _, bad := range []string{"", "1.2", "abcdefghijklmnop.00001", "0001763834289123.99999", "0001763834289123-00001"} {
		if _, err := hlc.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("0001763834289123.00004")
	f.Add("1.2")
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := hlc.Parse(s)
		if err != nil {
			return
		}
		if back, err := hlc.Parse(ts.String()); err != nil || back != ts {
			t.Fatalf("round trip of %q: %v %v", s, back, err)
		}
	})
}
