package record

import (
	"strconv"

	"github.com/attesta/attesta/shared/jsonscan"
)

// The hub decodes every envelope and payload it receives; encoding/json's
// reflective, strict decoding was a sixth of its CPU per record. These
// decoders read the shapes this package writes by hand and leave anything
// else (unknown, repeated or case-folded keys, nulls, surrogate escapes,
// invalid UTF-8, trailing data…) to the strict encoding/json path, which
// then accepts or refuses the bytes exactly as before. FuzzFastDecode and
// FuzzFastDecodePayload check that the two agree.

// fastEnvelope decodes b when it has the common shape; ok is false when b
// must go through encoding/json instead.
func fastEnvelope(b []byte) (e *Envelope, ok bool) {
	var sc jsonscan.Scanner
	sc.Reset(b)
	e = &Envelope{}
	sc.Expect('{')
	var seen uint32
	once := func(bit uint32) {
		if seen&bit != 0 {
			sc.Fail() // a repeated key: encoding/json keeps the last, or merges objects
		}
		seen |= bit
	}
	n := 0
	for sc.Next('}', &n) {
		switch string(sc.Key()) {
		case "schema":
			once(1 << 0)
			e.Schema = int(sc.Int(strconv.IntSize))
		case "id":
			once(1 << 1)
			e.ID = sc.String()
		case "kind":
			once(1 << 2)
			e.Kind = Kind(sc.String())
		case "collector":
			once(1 << 3)
			e.Collector = sc.String()
		case "epoch":
			once(1 << 4)
			e.Epoch = sc.String()
		case "seq":
			once(1 << 5)
			e.Seq = sc.Uint(64)
		case "prev":
			once(1 << 6)
			e.Prev = sc.String()
		case "captured_at":
			once(1 << 7)
			e.CapturedAt = sc.String()
		case "hlc":
			once(1 << 8)
			if t := sc.Text(); !sc.Failed() && e.HLC.UnmarshalText(t) != nil {
				sc.Fail()
			}
		case "controller":
			once(1 << 9)
			fastController(&sc, &e.Controller)
		case "jurisdiction":
			once(1 << 10)
			e.Jurisdiction = sc.String()
		case "language":
			once(1 << 11)
			e.Language = sc.String()
		case "touchpoint":
			once(1 << 12)
			e.Touchpoint = sc.String()
		case "operator":
			once(1 << 13)
			e.Operator = sc.String()
		case "app_version":
			once(1 << 14)
			e.AppVersion = sc.String()
		case "notice":
			once(1 << 15)
			fastNotice(&sc, &e.Notice)
		case "purposes":
			once(1 << 16)
			e.Purposes = fastChoices(&sc)
		case "ref":
			once(1 << 17)
			e.Ref = sc.String()
		case "withdraw":
			once(1 << 18)
			e.Withdraw = sc.String()
		case "payload_sha256":
			once(1 << 19)
			e.PayloadSHA256 = sc.String()
		case "signature_sha256":
			once(1 << 20)
			e.SignatureSHA256 = sc.String()
		case "sealed":
			once(1 << 21)
			e.Sealed = sc.Bytes()
		default:
			sc.Fail()
		}
	}
	sc.End()
	if sc.Failed() {
		return nil, false
	}
	return e, true
}

func fastController(sc *jsonscan.Scanner, c *Controller) {
	sc.Expect('{')
	var seen uint8
	n := 0
	for sc.Next('}', &n) {
		var bit uint8
		switch string(sc.Key()) {
		case "name":
			bit, c.Name = 1, sc.String()
		case "contact":
			bit, c.Contact = 2, sc.String()
		default:
			sc.Fail()
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func fastNotice(sc *jsonscan.Scanner, r *NoticeRef) {
	sc.Expect('{')
	var seen uint8
	n := 0
	for sc.Next('}', &n) {
		var bit uint8
		switch string(sc.Key()) {
		case "id":
			bit, r.ID = 1, sc.String()
		case "version":
			bit, r.Version = 2, int(sc.Int(strconv.IntSize))
		case "sha256":
			bit, r.SHA256 = 4, sc.String()
		case "viewed_at":
			bit, r.ViewedAt = 8, sc.String()
		default:
			sc.Fail()
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func fastChoices(sc *jsonscan.Scanner) []Choice {
	sc.Expect('[')
	out := []Choice{} // encoding/json makes [] an empty, non-nil slice
	n := 0
	for sc.Next(']', &n) {
		var c Choice
		sc.Expect('{')
		var seen uint8
		m := 0
		for sc.Next('}', &m) {
			var bit uint8
			switch string(sc.Key()) {
			case "purpose":
				bit, c.Purpose = 1, sc.String()
			case "dpv":
				bit, c.DPV = 2, sc.String()
			case "granted":
				bit, c.Granted = 4, sc.Bool()
			case "legal_basis":
				bit, c.LegalBasis = 8, sc.String()
			case "retention_days":
				bit, c.RetentionDays = 16, int(sc.Int(strconv.IntSize))
			default:
				sc.Fail()
			}
			if seen&bit != 0 {
				sc.Fail()
			}
			seen |= bit
		}
		out = append(out, c)
	}
	return out
}

// fastPayload decodes an opened payload when it has the common shape.
func fastPayload(b []byte) (p *Payload, ok bool) {
	var sc jsonscan.Scanner
	sc.Reset(b)
	p = &Payload{}
	sc.Expect('{')
	var seen uint8
	n := 0
	for sc.Next('}', &n) {
		var bit uint8
		switch string(sc.Key()) {
		case "subject":
			bit = 1
			fastSubject(&sc, &p.Subject)
		case "signature":
			bit = 2
			p.Signature = fastHandwriting(&sc)
		case "receipt":
			bit, p.Receipt = 4, sc.String()
		case "salt":
			bit, p.Salt = 8, sc.Bytes()
		default:
			sc.Fail()
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
	sc.End()
	if sc.Failed() {
		return nil, false
	}
	return p, true
}

func fastSubject(sc *jsonscan.Scanner, s *Subject) {
	sc.Expect('{')
	var seen uint8
	n := 0
	for sc.Next('}', &n) {
		var bit uint8
		switch string(sc.Key()) {
		case "given_name":
			bit, s.GivenName = 1, sc.String()
		case "family_name":
			bit, s.FamilyName = 2, sc.String()
		case "email":
			bit, s.Email = 4, sc.String()
		case "phone":
			bit, s.Phone = 8, sc.String()
		default:
			sc.Fail()
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
}

func fastHandwriting(sc *jsonscan.Scanner) *Handwriting {
	h := &Handwriting{}
	sc.Expect('{')
	var seen uint8
	n := 0
	for sc.Next('}', &n) {
		var bit uint8
		switch string(sc.Key()) {
		case "png":
			bit, h.PNG = 1, sc.Bytes()
		case "points":
			bit = 2
			h.Points = fastStrokes(sc)
		default:
			sc.Fail()
		}
		if seen&bit != 0 {
			sc.Fail()
		}
		seen |= bit
	}
	return h
}

func fastStrokes(sc *jsonscan.Scanner) [][]Point {
	sc.Expect('[')
	out := [][]Point{}
	n := 0
	for sc.Next(']', &n) {
		stroke := []Point{}
		sc.Expect('[')
		m := 0
		for sc.Next(']', &m) {
			var pt Point
			sc.Expect('{')
			var seen uint8
			k := 0
			for sc.Next('}', &k) {
				var bit uint8
				switch string(sc.Key()) {
				case "x":
					bit, pt.X = 1, sc.Float()
				case "y":
					bit, pt.Y = 2, sc.Float()
				case "t":
					bit, pt.T = 4, sc.Int(64)
				case "p":
					bit, pt.P = 8, sc.Float()
				default:
					sc.Fail()
				}
				if seen&bit != 0 {
					sc.Fail()
				}
				seen |= bit
			}
			stroke = append(stroke, pt)
		}
		out = append(out, stroke)
	}
	return out
}
