// Package jsonscan reads the common shapes of JSON quickly, for hand-written
// decoders of hot message types that fall back to encoding/json for
// anything unusual.
//
// A Scanner never accepts input that encoding/json would refuse, and gives
// the values encoding/json would give. Where that would take care (a null, a
// surrogate escape, invalid UTF-8, a number that needs rounding rules, a
// duplicate or case-folded key), it fails instead: Failed reports true and
// the caller decodes the same bytes with encoding/json, which then accepts or
// refuses them with its own message. Failure is sticky, and a failed Scanner
// never moves forward, so loops over its objects and arrays end.
//
// CheckKeys holds bytes encoding/json has decoded to the exact keys of
// their type, for the strict path of such decoders.
package jsonscan

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// MaxDepth bounds nesting in Skip (encoding/json allows 10,000; deeper
// values go to encoding/json).
const MaxDepth = 1000

// Scanner walks one JSON text.
type Scanner struct {
	b    []byte
	i    int
	fail bool
}

// New returns a scanner at the start of b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

// Reset points the scanner at the start of b.
func (s *Scanner) Reset(b []byte) { *s = Scanner{b: b} }

// Failed reports whether the input left the fast path.
func (s *Scanner) Failed() bool { return s.fail }

// Fail takes the scanner off the fast path (a caller's decoder saw
// something it does not handle, such as an unknown key).
func (s *Scanner) Fail() { s.fail = true }

func (s *Scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte (0 at the end).
func (s *Scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// Expect consumes byte c after optional whitespace.
func (s *Scanner) Expect(c byte) {
	if s.fail {
		return
	}
	if s.peek() != c {
		s.fail = true
		return
	}
	s.i++
}

// End requires that nothing but whitespace follows.
func (s *Scanner) End() {
	if s.fail {
		return
	}
	if s.peek() != 0 || s.i != len(s.b) {
		s.fail = true
	}
}

// Next steps through the members of an object or the elements of an array
// whose opening byte was consumed: it consumes the separating comma or the
// closing byte and reports whether another member follows. n counts the
// members seen; start it at 0.
func (s *Scanner) Next(closing byte, n *int) bool {
	if s.fail {
		return false
	}
	c := s.peek()
	if c == closing {
		s.i++
		return false
	}
	if *n > 0 {
		if c != ',' {
			s.fail = true
			return false
		}
		s.i++
	}
	*n++
	return true
}

// Object reads an object of known keys. field is called with each key and
// reads its value; it returns the key's bit (1, 2, 4, …: one per key it
// knows), or 0 for a key it does not know, without reading the value. An
// unknown or repeated key fails the scan: encoding/json would ignore or
// case-fold the one and keep the last of the other, so the strict path
// must decide.
func (s *Scanner) Object(field func(key []byte) uint64) {
	s.Expect('{')
	var seen uint64
	n := 0
	for s.Next('}', &n) {
		bit := field(s.Key())
		if bit == 0 || seen&bit != 0 {
			s.fail = true
		}
		seen |= bit
	}
}

// Array reads an array, calling elem to read each element.
func (s *Scanner) Array(elem func()) {
	s.Expect('[')
	n := 0
	for s.Next(']', &n) {
		elem()
	}
}

// Key reads an object key and its colon. Keys with escapes leave the fast
// path (encoding/json would unescape them before matching).
func (s *Scanner) Key() []byte {
	if s.fail {
		return nil
	}
	if s.peek() != '"' {
		s.fail = true
		return nil
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		if c == '"' {
			s.i = j + 1
			s.Expect(':')
			return s.b[start:j]
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
	}
	s.fail = true
	return nil
}

// rawString returns a string token's contents without the quotes, and
// whether they hold an escape. It checks the token's grammar and that its
// bytes are valid UTF-8.
func (s *Scanner) rawString() (raw []byte, escaped bool) {
	if s.fail {
		return nil, false
	}
	if s.peek() != '"' {
		s.fail = true
		return nil, false
	}
	start := s.i + 1
	j := start
	for j < len(s.b) {
		for j < len(s.b) && plain[s.b[j]] { // the common bytes, quickly
			j++
		}
		if j == len(s.b) {
			break
		}
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return s.b[start:j], escaped
		case c == '\\':
			escaped = true
			if j+1 >= len(s.b) {
				s.fail = true
				return nil, false
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s.b) || !isHex4(s.b[j+2:j+6]) {
					s.fail = true
					return nil, false
				}
				j += 6
			default:
				s.fail = true
				return nil, false
			}
		case c < 0x20:
			s.fail = true
			return nil, false
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(s.b[j:])
			if r == utf8.RuneError && size == 1 {
				s.fail = true // encoding/json would replace it with U+FFFD
				return nil, false
			}
			j += size
		}
	}
	s.fail = true
	return nil, false
}

// plain marks the bytes a string holds as they are: printable ASCII other
// than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// String reads a string value.
func (s *Scanner) String() string {
	raw, escaped := s.rawString()
	if s.fail {
		return ""
	}
	if !escaped {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	for j := 0; j < len(raw); {
		c := raw[j]
		if c != '\\' {
			out = append(out, c)
			j++
			continue
		}
		switch raw[j+1] {
		case '"', '\\', '/':
			out = append(out, raw[j+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			v, _ := strconv.ParseUint(string(raw[j+2:j+6]), 16, 32)
			r := rune(v)
			if 0xd800 <= r && r < 0xe000 {
				s.fail = true // surrogates: pairs and lone halves follow encoding/json's own rules
				return ""
			}
			out = utf8.AppendRune(out, r)
			j += 6
			continue
		}
		j += 2
	}
	return string(out)
}

// Text reads a string value without escapes as bytes (for a caller's
// UnmarshalText). The bytes alias the input.
func (s *Scanner) Text() []byte {
	raw, escaped := s.rawString()
	if escaped {
		s.fail = true
	}
	if s.fail {
		return nil
	}
	return raw
}

// Bytes reads a base64 (standard, padded) string value as encoding/json
// decodes a []byte field.
func (s *Scanner) Bytes() []byte {
	raw := s.Text()
	if s.fail {
		return nil
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(raw)))
	n, err := base64.StdEncoding.Decode(out, raw)
	if err != nil {
		s.fail = true
		return nil
	}
	return out[:n]
}

// Bool reads true or false.
func (s *Scanner) Bool() bool {
	if s.fail {
		return false
	}
	switch c := s.peek(); {
	case c == 't' && s.literal("true"):
		return true
	case c == 'f' && s.literal("false"):
		return false
	}
	s.fail = true
	return false
}

func (s *Scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number returns a number token after checking its grammar.
func (s *Scanner) number() []byte {
	if s.fail {
		return nil
	}
	s.ws()
	start, j := s.i, s.i
	digits := func() bool {
		k := j
		for j < len(s.b) && '0' <= s.b[j] && s.b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	switch {
	case j < len(s.b) && s.b[j] == '0':
		j++
	case !digits():
		s.fail = true
		return nil
	}
	if j < len(s.b) && s.b[j] == '.' {
		j++
		if !digits() {
			s.fail = true
			return nil
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		j++
		if j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		if !digits() {
			s.fail = true
			return nil
		}
	}
	s.i = j
	return s.b[start:j]
}

// Uint reads a number into an unsigned integer of the given bits.
func (s *Scanner) Uint(bits int) uint64 {
	tok := s.number()
	if s.fail {
		return 0
	}
	v, err := strconv.ParseUint(string(tok), 10, bits)
	if err != nil {
		s.fail = true
	}
	return v
}

// Int reads a number into a signed integer of the given bits.
func (s *Scanner) Int(bits int) int64 {
	tok := s.number()
	if s.fail {
		return 0
	}
	v, err := strconv.ParseInt(string(tok), 10, bits)
	if err != nil {
		s.fail = true
	}
	return v
}

// Float reads a number into a float64.
func (s *Scanner) Float() float64 {
	tok := s.number()
	if s.fail {
		return 0
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		s.fail = true
	}
	return v
}

// Skip reads any one value, checking its grammar, and returns its bytes
// (aliasing the input) as encoding/json gives them to a json.RawMessage.
func (s *Scanner) Skip() []byte {
	if s.fail {
		return nil
	}
	s.ws()
	start := s.i
	s.skip(0)
	if s.fail {
		return nil
	}
	return s.b[start:s.i]
}

func (s *Scanner) skip(depth int) {
	if depth > MaxDepth {
		s.fail = true
		return
	}
	switch c := s.peek(); {
	case c == '{':
		s.i++
		n := 0
		for s.Next('}', &n) {
			s.rawString()
			s.Expect(':')
			s.skip(depth + 1)
		}
	case c == '[':
		s.i++
		n := 0
		for s.Next(']', &n) {
			s.skip(depth + 1)
		}
	case c == '"':
		s.rawString()
	case c == 't' && s.literal("true"), c == 'f' && s.literal("false"), c == 'n' && s.literal("null"):
	case c == '-' || '0' <= c && c <= '9':
		s.number()
	default:
		s.fail = true
	}
}
