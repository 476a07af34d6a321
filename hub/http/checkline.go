package http

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// decodeCheckLine reads one bulk-check line. Campaign lists are millions
// of lines of the same plain shape, so the common case — one flat object
// of the known keys with plain string values — is read directly; anything
// else (escapes, other types, unknown or repeated keys, trailing bytes)
// goes to encoding/json, which decides and words the error. The two agree
// on every line the fast path accepts (FuzzDecodeCheckLine).
func decodeCheckLine(line []byte) (checkLine, error) {
	if cl, ok := fastCheckLine(line); ok {
		return cl, nil
	}
	return slowCheckLine(line)
}

// slowCheckLine decodes a line with encoding/json. A Decoder reads only
// the first value, so what follows it is refused here: otherwise a second
// object on the line would go unanswered and garbage after one unnoticed.
func slowCheckLine(line []byte) (checkLine, error) {
	var cl checkLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cl); err != nil {
		return checkLine{}, err
	}
	if next := skipSpace(line, int(dec.InputOffset())); next != len(line) {
		return checkLine{}, fmt.Errorf("more follows the object at byte %d (one object per line)", next+1)
	}
	return cl, nil
}

// fastCheckLine parses {"key":"value",…} with keys email, phone, purpose
// and ref, each at most once, values without backslashes or control
// characters, and nothing but whitespace after the object.
func fastCheckLine(b []byte) (cl checkLine, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return cl, false
	}
	i = skipSpace(b, i+1)
	var seen [4]bool
	if i < len(b) && b[i] == '}' {
		return cl, skipSpace(b, i+1) == len(b)
	}
	for {
		var key, val []byte
		if key, i, ok = plainString(b, i); !ok {
			return cl, false
		}
		i = skipSpace(b, i)
		if i >= len(b) || b[i] != ':' {
			return cl, false
		}
		i = skipSpace(b, i+1)
		if val, i, ok = plainString(b, i); !ok {
			return cl, false
		}
		var k int
		switch string(key) {
		case "email":
			k, cl.Email = 0, string(val)
		case "phone":
			k, cl.Phone = 1, string(val)
		case "purpose":
			k, cl.Purpose = 2, string(val)
		case "ref":
			k, cl.Ref = 3, string(val)
		default:
			return cl, false
		}
		if seen[k] {
			return cl, false
		}
		seen[k] = true
		i = skipSpace(b, i)
		if i >= len(b) {
			return cl, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return cl, skipSpace(b, i+1) == len(b)
		default:
			return cl, false
		}
	}
}

// plainString reads a JSON string at b[i] that needs no unescaping and is
// valid UTF-8 (multi-byte sequences are left to encoding/json).
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, i, false
		}
	}
	return nil, i, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// checkLineError words a line that is not a check for the caller.
func checkLineError(n int, err error) string {
	return fmt.Sprintf("line %d is not a JSON object {\"email\"|\"phone\", \"purpose\"}: %v", n, err)
}
