package jsonscan

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// encoding/json matches object keys to struct fields without regard to case
// and keeps the last of a repeated key, where SQLite's json_extract, jq and a
// person reading the bytes take the first exact match. A signed document
// that may be read both ways must hold neither, so that everyone reads the
// same values from it: CheckKeys refuses both.

// Keys says which keys the objects of a JSON value may hold, as KeysOf
// derives them from the Go type the value decodes into. A nil *Keys holds
// nothing to check.
type Keys struct {
	fields map[string]*Keys // a struct's keys and what their values hold; nil for a map, whose keys are free
	elem   *Keys            // what a map's values hold
}

// KeysOf describes the objects of T's JSON form: a struct's fields by their
// json names, and through pointers, slices, arrays and maps the objects
// within. A type that decodes itself (json.Unmarshaler,
// encoding.TextUnmarshaler, json.RawMessage) or an interface is not looked
// into. It panics on an embedded struct field, which it does not follow.
func KeysOf[T any]() *Keys { return keysOf(reflect.TypeFor[T](), map[reflect.Type]*Keys{}) }

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func keysOf(t reflect.Type, done map[reflect.Type]*Keys) *Keys {
	if k, ok := done[t]; ok {
		return k
	}
	if p := reflect.PointerTo(t); p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return keysOf(t.Elem(), done)
	case reflect.Map:
		k := &Keys{}
		done[t] = k
		k.elem = keysOf(t.Elem(), done)
		return k
	case reflect.Struct:
		k := &Keys{fields: map[string]*Keys{}}
		done[t] = k
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				panic(fmt.Sprintf("jsonscan: KeysOf does not follow the embedded field %s.%s", t, f.Name))
			}
			tag := f.Tag.Get("json")
			if !f.IsExported() || tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if name == "" {
				name = f.Name
			}
			k.fields[name] = keysOf(f.Type, done)
		}
		return k
	}
	return nil
}

// maxKeysDepth is encoding/json's nesting limit: CheckKeys never meets
// deeper values in bytes encoding/json has accepted.
const maxKeysDepth = 10000

// CheckKeys reports the first object in b that holds a key twice, or a key
// that k does not name exactly (keys are compared after unescaping, as
// every reader unescapes them, and quoted with non-ASCII escaped, so a
// look-alike shows). b must begin with one valid JSON value, as when
// encoding/json has just decoded it: CheckKeys does not check grammar, and
// does not look past that value.
func CheckKeys(b []byte, k *Keys) error {
	w := keyWalker{b: b}
	return w.value(k, 0)
}

type keyWalker struct {
	b []byte
	i int
}

func (w *keyWalker) ws() {
	for w.i < len(w.b) && (w.b[w.i] == ' ' || w.b[w.i] == '\t' || w.b[w.i] == '\n' || w.b[w.i] == '\r') {
		w.i++
	}
}

// value walks one value; each step consumes at least one byte, so it ends
// on any input.
func (w *keyWalker) value(k *Keys, depth int) error {
	if depth > maxKeysDepth {
		return errors.New("nested too deeply")
	}
	w.ws()
	if w.i >= len(w.b) {
		return nil
	}
	switch w.b[w.i] {
	case '{':
		return w.object(k, depth)
	case '[':
		w.i++
		for {
			w.ws()
			if w.i >= len(w.b) {
				return nil
			}
			switch w.b[w.i] {
			case ']':
				w.i++
				return nil
			case ',':
				w.i++
				continue
			}
			if err := w.value(k, depth+1); err != nil {
				return err
			}
		}
	case '"':
		w.str()
	default: // a number or a literal
		w.i++
		for w.i < len(w.b) && !strings.ContainsRune(",:[]{}\" \t\n\r", rune(w.b[w.i])) {
			w.i++
		}
	}
	return nil
}

func (w *keyWalker) object(k *Keys, depth int) error {
	w.i++
	var seen map[string]bool
	for {
		w.ws()
		if w.i >= len(w.b) {
			return nil
		}
		switch w.b[w.i] {
		case '}':
			w.i++
			return nil
		case ',':
			w.i++
			continue
		case '"':
		default:
			return nil // not JSON
		}
		key := w.key()
		if w.ws(); w.i < len(w.b) && w.b[w.i] == ':' {
			w.i++
		}
		var sub *Keys
		if k != nil {
			if seen[key] {
				return fmt.Errorf("repeated key %+q", key)
			}
			if seen == nil {
				seen = map[string]bool{}
			}
			seen[key] = true
			if k.fields == nil {
				sub = k.elem
			} else if s, ok := k.fields[key]; ok {
				sub = s
			} else {
				return fmt.Errorf("unknown key %+q", key)
			}
		}
		if err := w.value(sub, depth+1); err != nil {
			return err
		}
	}
}

// str skips a string and returns its bytes with the quotes, and whether it
// holds an escape or a byte beyond ASCII.
func (w *keyWalker) str() (raw []byte, plain bool) {
	start := w.i
	w.i++
	plain = true
	for w.i < len(w.b) {
		switch c := w.b[w.i]; {
		case c == '"':
			w.i++
			return w.b[start:w.i], plain
		case c == '\\':
			plain = false
			w.i++
		case c >= 0x80:
			plain = false
		}
		w.i++
	}
	w.i = len(w.b)
	return w.b[start:], false
}

// key reads an object key as encoding/json reads it.
func (w *keyWalker) key() string {
	raw, plain := w.str()
	if plain {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return string(raw) // not JSON
	}
	return s
}
