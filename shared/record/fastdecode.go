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
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "schema":
			e.Schema = int(sc.Int(strconv.IntSize))
			return 1 << 0
		case "id":
			e.ID = sc.String()
			return 1 << 1
		case "kind":
			e.Kind = Kind(sc.String())
			return 1 << 2
		case "collector":
			e.Collector = sc.String()
			return 1 << 3
		case "epoch":
			e.Epoch = sc.String()
			return 1 << 4
		case "seq":
			e.Seq = sc.Uint(64)
			return 1 << 5
		case "prev":
			e.Prev = sc.String()
			return 1 << 6
		case "captured_at":
			e.CapturedAt = sc.String()
			return 1 << 7
		case "hlc":
			if t := sc.Text(); !sc.Failed() && e.HLC.UnmarshalText(t) != nil {
				sc.Fail()
			}
			return 1 << 8
		case "controller":
			fastController(&sc, &e.Controller)
			return 1 << 9
		case "jurisdiction":
			e.Jurisdiction = sc.String()
			return 1 << 10
		case "language":
			e.Language = sc.String()
			return 1 << 11
		case "touchpoint":
			e.Touchpoint = sc.String()
			return 1 << 12
		case "operator":
			e.Operator = sc.String()
			return 1 << 13
		case "app_version":
			e.AppVersion = sc.String()
			return 1 << 14
		case "notice":
			fastNotice(&sc, &e.Notice)
			return 1 << 15
		case "purposes":
			e.Purposes = fastChoices(&sc)
			return 1 << 16
		case "ref":
			e.Ref = sc.String()
			return 1 << 17
		case "withdraw":
			e.Withdraw = sc.String()
			return 1 << 18
		case "payload_sha256":
			e.PayloadSHA256 = sc.String()
			return 1 << 19
		case "signature_sha256":
			e.SignatureSHA256 = sc.String()
			return 1 << 20
		case "sealed":
			e.Sealed = sc.Bytes()
			return 1 << 21
		}
		return 0
	})
	sc.End()
	if sc.Failed() {
		return nil, false
	}
	return e, true
}

func fastController(sc *jsonscan.Scanner, c *Controller) {
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "name":
			c.Name = sc.String()
			return 1
		case "contact":
			c.Contact = sc.String()
			return 2
		}
		return 0
	})
}

func fastNotice(sc *jsonscan.Scanner, r *NoticeRef) {
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "id":
			r.ID = sc.String()
			return 1
		case "version":
			r.Version = int(sc.Int(strconv.IntSize))
			return 2
		case "sha256":
			r.SHA256 = sc.String()
			return 4
		case "viewed_at":
			r.ViewedAt = sc.String()
			return 8
		}
		return 0
	})
}

func fastChoices(sc *jsonscan.Scanner) []Choice {
	out := []Choice{} // encoding/json makes [] an empty, non-nil slice
	sc.Array(func() {
		var c Choice
		sc.Object(func(key []byte) uint64 {
			switch string(key) {
			case "purpose":
				c.Purpose = sc.String()
				return 1
			case "dpv":
				c.DPV = sc.String()
				return 2
			case "granted":
				c.Granted = sc.Bool()
				return 4
			case "legal_basis":
				c.LegalBasis = sc.String()
				return 8
			case "retention_days":
				c.RetentionDays = int(sc.Int(strconv.IntSize))
				return 16
			}
			return 0
		})
		out = append(out, c)
	})
	return out
}

// fastPayload decodes an opened payload when it has the common shape.
func fastPayload(b []byte) (p *Payload, ok bool) {
	var sc jsonscan.Scanner
	sc.Reset(b)
	p = &Payload{}
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "subject":
			fastSubject(&sc, &p.Subject)
			return 1
		case "signature":
			p.Signature = fastHandwriting(&sc)
			return 2
		case "receipt":
			p.Receipt = sc.String()
			return 4
		case "salt":
			p.Salt = sc.Bytes()
			return 8
		}
		return 0
	})
	sc.End()
	if sc.Failed() {
		return nil, false
	}
	return p, true
}

func fastSubject(sc *jsonscan.Scanner, s *Subject) {
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "given_name":
			s.GivenName = sc.String()
			return 1
		case "family_name":
			s.FamilyName = sc.String()
			return 2
		case "email":
			s.Email = sc.String()
			return 4
		case "phone":
			s.Phone = sc.String()
			return 8
		}
		return 0
	})
}

func fastHandwriting(sc *jsonscan.Scanner) *Handwriting {
	h := &Handwriting{}
	sc.Object(func(key []byte) uint64 {
		switch string(key) {
		case "png":
			h.PNG = sc.Bytes()
			return 1
		case "points":
			h.Points = fastStrokes(sc)
			return 2
		}
		return 0
	})
	return h
}

func fastStrokes(sc *jsonscan.Scanner) [][]Point {
	out := [][]Point{}
	sc.Array(func() {
		stroke := []Point{}
		sc.Array(func() {
			var pt Point
			sc.Object(func(key []byte) uint64 {
				switch string(key) {
				case "x":
					pt.X = sc.Float()
					return 1
				case "y":
					pt.Y = sc.Float()
					return 2
				case "t":
					pt.T = sc.Int(64)
					return 4
				case "p":
					pt.P = sc.Float()
					return 8
				}
				return 0
			})
			stroke = append(stroke, pt)
		})
		out = append(out, stroke)
	})
	return out
}
