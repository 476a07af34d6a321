package proof

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	"github.com/attesta/attesta/shared/record"
)

// SVG draws a handwritten signature from its vector strokes: one path per
// stroke, a dot for a single touch, on a box fitted to the points. It is a
// pure function of the points and part of the bundle format: the verifier
// draws it again and compares bytes, so the SVG in a bundle can only be the
// one the payload's points make. Pressure and timing stay in the payload;
// the drawing uses a constant pen. It returns nil when there are no points.
func SVG(strokes [][]record.Point) []byte {
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, s := range strokes {
		for _, p := range s {
			minX, maxX = math.Min(minX, p.X), math.Max(maxX, p.X)
			minY, maxY = math.Min(minY, p.Y), math.Max(maxY, p.Y)
		}
	}
	if math.IsInf(minX, 1) {
		return nil
	}
	const pad = 4.0
	minX, minY = minX-pad, minY-pad
	w, h := maxX-minX+pad, maxY-minY+pad
	var b bytes.Buffer
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="`)
	b.WriteString(num(minX) + " " + num(minY) + " " + num(w) + " " + num(h))
	b.WriteString(`" width="` + num(w) + `" height="` + num(h) + `" role="img" aria-label="handwritten signature">`)
	b.WriteString(`<g fill="none" stroke="#000" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round">`)
	for _, s := range strokes {
		switch len(s) {
		case 0:
		case 1:
			b.WriteString(`<circle cx="` + num(s[0].X) + `" cy="` + num(s[0].Y) + `" r="1.25" fill="#000" stroke="none"/>`)
		default:
			b.WriteString(`<path d="`)
			for i, p := range s {
				if i == 0 {
					b.WriteString("M")
				} else {
					b.WriteString(" L")
				}
				b.WriteString(num(p.X) + " " + num(p.Y))
			}
			b.WriteString(`"/>`)
		}
	}
	b.WriteString("</g></svg>\n")
	return b.Bytes()
}

// num formats a coordinate with at most two decimals ("12", "12.5").
// FormatFloat with 'f' always writes a point, so trimming stops there.
func num(v float64) string {
	s := strings.TrimRight(strings.TrimRight(strconv.FormatFloat(v, 'f', 2, 64), "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
