package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

type (
	stamp struct{ v string }
	doc   struct {
		Name  string            `json:"name"`
		Items []item            `json:"items,omitempty"`
		Tags  map[string][]item `json:"tags"`
		Raw   json.RawMessage   `json:"raw"`
		At    *stamp            `json:"at"`
		Skip  string            `json:"-"`
		Plain int
	}
	item struct {
		ID string `json:"id"`
	}
	// tree checks every object it reaches for repeated keys and no other way.
	tree map[string][]tree
)

func (s *stamp) UnmarshalText(b []byte) error { s.v = string(b); return nil }

func TestCheckKeys(t *testing.T) {
	keys := jsonscan.KeysOf[doc]()
	for in, want := range map[string]string{
		`{"name":"a","items":[{"id":"1"},{"id":"2"}],"tags":{"x":[{"id":"3"}],"X":[]},"raw":{"a":1,"a":2},"at":"t","Plain":1}`: ``,
		` {"n\u0061me":"a"} trailing`:                  ``,
		`[{"name":"a"},{"name":"b"}]`:                  ``,
		`{"name":"a","Name":"b"}`:                      `unknown key "Name"`,
		`{"NAME":"a"}`:                                 `unknown key "NAME"`,
		`{"plain":1}`:                                  `unknown key "plain"`,
		`{"Skip":"x"}`:                                 `unknown key "Skip"`,
		`{"-":"x"}`:                                    `unknown key "-"`,
		`{"name":"a","name":"b"}`:                      `repeated key "name"`,
		`{"name":"a","n\u0061me":"b"}`:                 `repeated key "name"`,
		`{"items":[{"id":"1"},{"id":"2","id":"3"}]}`:   `repeated key "id"`,
		`{"items":[{"ID":"1"}]}`:                       `unknown key "ID"`,
		`{"tags":{"x":[],"x":[]}}`:                     `repeated key "x"`,
		`{"tags":{"x":[{"Id":"1"}]}}`:                  `unknown key "Id"`,
		"{\"tags\":{\"\\u00e9\":[],\"\u00e9\":[]}}":    `repeated key "\u00e9"`,
		"{\"tag\u017f\":{}}":                           `unknown key "tag\u017f"`,
		`{"name":"a","items":[],"items":[{"id":"1"}]}`: `repeated key "items"`,
	} {
		err := jsonscan.CheckKeys([]byte(in), keys)
		if got := fmt.Sprint(err); want == "" && err != nil || want != "" && got != want {
			t.Errorf("%s: CheckKeys says %v, want %q", in, err, want)
		}
	}
}

// CheckKeys with tree finds a repeated key in valid JSON exactly when
// encoding/json's own tokens show one, and ends on any input.
func FuzzCheckKeys(f *testing.F) {
	for _, s := range append(seeds, `{"a":{"b":1,"b":2}}`, `[{"\u0061":1,"a":2}]`, "{\"\xff\":1,\"\xfe\":2}", `{"a":[{"a":1},{"a":2}]}`) {
		f.Add([]byte(s))
	}
	keys := jsonscan.KeysOf[tree]()
	f.Fuzz(func(t *testing.T, b []byte) {
		err := jsonscan.CheckKeys(b, keys)
		if !json.Valid(b) {
			return
		}
		if want, ok := repeatedKey(t, b); (err == nil) == ok || ok && err.Error() != fmt.Sprintf("repeated key %+q", want) {
			t.Fatalf("%q: CheckKeys says %v, encoding/json's tokens repeat %q", b, err, want)
		}
	})
}

// repeatedKey is the first key repeated within an object of valid JSON b,
// read with encoding/json's tokens.
func repeatedKey(t *testing.T, b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var objects []map[string]bool // open containers, nil for an array
	var expectKey []bool
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return "", false
		}
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		n := len(objects)
		if n > 0 && objects[n-1] != nil && expectKey[n-1] {
			if k, ok := tok.(string); ok {
				if objects[n-1][k] {
					return k, true
				}
				objects[n-1][k], expectKey[n-1] = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			objects, expectKey = append(objects, map[string]bool{}), append(expectKey, true)
			continue
		case json.Delim('['):
			objects, expectKey = append(objects, nil), append(expectKey, false)
			continue
		case json.Delim('}'), json.Delim(']'):
			objects, expectKey = objects[:n-1], expectKey[:n-1]
		}
		if n := len(objects); n > 0 && objects[n-1] != nil {
			expectKey[n-1] = true // a value ended
		}
	}
}

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
