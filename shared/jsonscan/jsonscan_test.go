package jsonscan_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/attesta/attesta/shared/jsonscan"
)

var seeds = []string{
	`{"a":[1,-0,2.5e-3,1E+2,true,false,null,"x\u00e9\n\"\\\/"],"b":{}}`,
	` [ ] `, `"plain"`, `"\ud83d\ude00"`, "\"\xff\"", `01`, `1.`, `-`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `nul`, `{"a":1}}`,
	`"` + "\t" + `"`, `1e400`, `18446744073709551616`, `-9223372036854775809`,
}

// Whatever the scanner accepts, encoding/json accepts with the same value.
func FuzzScanner(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sc := jsonscan.New(b)
		raw := sc.Skip()
		sc.End()
		if !sc.Failed() && (!json.Valid(b) || !json.Valid(raw)) {
			t.Fatalf("Skip accepted invalid JSON %q", b)
		}
		sc = jsonscan.New(b)
		if s := sc.String(); ends(sc) {
			var want string
			if err := json.Unmarshal(b, &want); err != nil || want != s {
				t.Fatalf("%q: String %q, encoding/json %q %v", b, s, want, err)
			}
		}
		sc = jsonscan.New(b)
		if v := sc.Float(); ends(sc) {
			var want float64
			if err := json.Unmarshal(b, &want); err != nil || want != v && !(math.IsNaN(v) && math.IsNaN(want)) {
				t.Fatalf("%q: Float %v, encoding/json %v %v", b, v, want, err)
			}
		}
		sc = jsonscan.New(b)
		if v := sc.Int(64); ends(sc) {
			var want int64
			if err := json.Unmarshal(b, &want); err != nil || want != v {
				t.Fatalf("%q: Int %v, encoding/json %v %v", b, v, want, err)
			}
		}
		sc = jsonscan.New(b)
		if v := sc.Uint(64); ends(sc) {
			var want uint64
			if err := json.Unmarshal(b, &want); err != nil || want != v {
				t.Fatalf("%q: Uint %v, encoding/json %v %v", b, v, want, err)
			}
		}
		sc = jsonscan.New(b)
		if v := sc.Bytes(); ends(sc) {
			var want []byte
			if err := json.Unmarshal(b, &want); err != nil || string(want) != string(v) {
				t.Fatalf("%q: Bytes %v, encoding/json %v %v", b, v, want, err)
			}
		}
	})
}

func ends(sc *jsonscan.Scanner) bool { sc.End(); return !sc.Failed() }

func TestScannerTable(t *testing.T) {
	for _, s := range []struct {
		in string
		ok bool
	}{{seeds[0], true}, {` [ ] `, true}, {`01`, false}, {`1.`, false}, {`{"a":1,}`, false}, {`[1,]`, false}, {`{"a" 1}`, false}, {`nul`, false}, {`{"a":1}}`, false}, {"\"\xff\"", false}} {
		sc := jsonscan.New([]byte(s.in))
		sc.Skip()
		sc.End()
		if sc.Failed() == s.ok {
			t.Errorf("%q: failed %v, want ok %v", s.in, sc.Failed(), s.ok)
		}
	}
	sc := jsonscan.New([]byte("\"\xff\""))
	if s := sc.String(); !sc.Failed() {
		t.Errorf("invalid UTF-8 stayed on the fast path as %q (encoding/json replaces it)", s)
	}
}
