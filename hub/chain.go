package hub

// Advance records that seq arrived in a stream whose highest committed seq
// is through with the given missing ranges. It returns the new through and
// gaps: a jump ahead opens a gap, a late arrival fills one.
func Advance(through uint64, gaps []Range, seq uint64) (uint64, []Range) {
	if seq > through {
		if seq > through+1 {
			gaps = append(gaps, Range{From: through + 1, To: seq - 1})
		}
		return seq, gaps
	}
	out := make([]Range, 0, len(gaps)+1)
	for _, g := range gaps {
		switch {
		case seq < g.From || seq > g.To:
			out = append(out, g)
		case g.From == g.To:
			// filled completely
		case seq == g.From:
			out = append(out, Range{g.From + 1, g.To})
		case seq == g.To:
			out = append(out, Range{g.From, g.To - 1})
		default:
			out = append(out, Range{g.From, seq - 1}, Range{seq + 1, g.To})
		}
	}
	return through, out
}

// Missing counts the sequence numbers in gaps.
func Missing(gaps []Range) uint64 {
	var n uint64
	for _, g := range gaps {
		n += g.To - g.From + 1
	}
	return n
}
