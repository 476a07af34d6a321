package wire

import (
	"encoding/base64"
	"strconv"

	"github.com/attesta/attesta/shared/jsonscan"
	"github.com/attesta/attesta/shared/record"
)

// Push frames carry almost every byte of a sync. encoding/json encodes and
// decodes them through reflection, validating and copying each envelope on
// the way; these hand-written paths read and write the same bytes directly
// and leave every other frame, and any push frame of an unusual shape, to
// encoding/json. FuzzPushFast checks that both agree.

// encodePushFast writes f as encoding/json would, or reports false when f
// is not a plain push frame.
func encodePushFast(f *Frame) ([]byte, bool) {
	if f.Type != TPush || f.Push == nil || f.Hello != nil || f.Welcome != nil || f.Ack != nil ||
		f.Config != nil || f.ConfigAck != nil || f.Error != nil || f.Push.Records == nil {
		return nil, false
	}
	size := 64
	for _, r := range f.Push.Records {
		if r.Envelope == nil || r.Sig == nil || !compactJSON(r.Envelope) {
			return nil, false // encoding/json's null, compaction and escaping
		}
		size += len(r.Envelope) + base64.StdEncoding.EncodedLen(len(r.Sig)) + 20
	}
	b := make([]byte, 0, size)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(f.V), 10)
	b = append(b, `,"type":"push","push":{"batch":`...)
	b = strconv.AppendUint(b, f.Push.Batch, 10)
	b = append(b, `,"records":[`...)
	for i, r := range f.Push.Records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"env":`...)
		b = append(b, r.Envelope...)
		b = append(b, `,"sig":"`...)
		b = base64.StdEncoding.AppendEncode(b, r.Sig)
		b = append(b, `"}`...)
	}
	b = append(b, "]}}"...)
	return b, true
}

// compactJSON reports whether b is one valid JSON value that encoding/json
// would copy unchanged into an encoding (it compacts raw messages and
// escapes <, >, & and U+2028/U+2029 in them).
func compactJSON(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		if !notable[b[i]] {
			continue
		}
		switch c := b[i]; c {
		case '\\':
			if in {
				i++
			}
		case '"':
			in = !in
		case ' ', '\t', '\n', '\r':
			if !in {
				return false
			}
		case '<', '>', '&':
			return false
		case 0xe2: // U+2028 and U+2029 are e2 80 a8 and e2 80 a9
			if i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xa8 || b[i+2] == 0xa9) {
				return false
			}
		}
	}
	sc := jsonscan.New(b)
	sc.Skip()
	sc.End()
	return !sc.Failed()
}

// notable marks the bytes compactJSON looks at.
var notable = func() (t [256]bool) {
	for _, c := range []byte("\\\" \t\n\r<>&\xe2") {
		t[c] = true
	}
	return t
}()

// decodePushFast reads a push frame of the common shape; ok is false when
// b must go through encoding/json instead.
func decodePushFast(b []byte) (f *Frame, ok bool) {
	sc := jsonscan.New(b)
	f = &Frame{}
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "v":
			f.V = int(sc.Int(strconv.IntSize))
			return 1
		case "type":
			f.Type = sc.String()
			return 2
		case "push":
			f.Push = decodePushBody(sc)
			return 4
		}
		return 0
	})
	sc.End()
	if sc.Failed() || f.Push == nil {
		return nil, false
	}
	return f, true
}

func decodePushBody(sc *jsonscan.Scanner) *Push {
	p := &Push{}
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "batch":
			p.Batch = sc.Uint(64)
			return 1
		case "records":
			p.Records = decodeRecords(sc)
			return 2
		}
		return 0
	})
	return p
}

func decodeRecords(sc *jsonscan.Scanner) []record.Signed {
	out := []record.Signed{}
	sc.Array(func() {
		var r record.Signed
		sc.Object(func(key []byte) uint64 {
			switch string(key) {
			case "env":
				if raw := sc.Skip(); !sc.Failed() {
					r.Envelope = append([]byte(nil), raw...) // as json.RawMessage copies it
				}
				return 1
			case "sig":
				r.Sig = sc.Bytes()
				return 2
			}
			return 0
		})
		out = append(out, r)
	})
	return out
}
