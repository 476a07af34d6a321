package dashboard

import (
	"fmt"
	"slices"
	"time"

	"github.com/attesta/attesta/hub"
)

// chart is a stacked bar chart of consents per day and touchpoint, drawn
// as inline SVG by the template: no script, and readable without colour
// through each bar's title and the table beside it.
type chart struct {
	W, H    int
	Left    int // x of the plot area
	Bottom  int // y of the axis
	Days    []chartDay
	Series  []chartSeries
	Ticks   []chartTick
	Total   int
	Summary string // for screen readers
}

type chartDay struct {
	Day   string
	Label string // shown under every few bars
	X     int
	Total int
}

type chartSeries struct {
	Touchpoint string
	Name       string
	Class      string // s0…s5: colours in app.css
	Total      int
	Bars       []chartBar
}

type chartBar struct {
	X, Y, W, H int
	Title      string
}

type chartTick struct {
	Y     int
	Label string
}

// buildChart lays out counts for the days from first to last (dates) with
// names for the touchpoints.
func buildChart(counts []hub.DayCount, first time.Time, days int, names map[string]string) chart {
	c := chart{W: 880, H: 260, Left: 44, Bottom: 224}
	byDay := map[string]map[string]int{}
	totals := map[string]int{}
	for _, n := range counts {
		if byDay[n.Day] == nil {
			byDay[n.Day] = map[string]int{}
		}
		byDay[n.Day][n.Touchpoint] += n.Given + n.Refused
		totals[n.Touchpoint] += n.Given + n.Refused
	}
	tps := make([]string, 0, len(totals))
	for tp := range totals {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b string) int { return totals[b] - totals[a] })
	peak := 0
	for i := range days {
		d := first.AddDate(0, 0, i).Format(time.DateOnly)
		t := 0
		for _, n := range byDay[d] {
			t += n
		}
		peak = max(peak, t)
		c.Total += t
	}
	step := niceStep(peak)
	top := max(step*((peak+step-1)/step), step)
	plotH := c.Bottom - 16
	slot := (c.W - c.Left - 8) / max(days, 1)
	barW := max(slot*3/4, 2)
	every := max(days/10, 1)
	for i := range days {
		day := first.AddDate(0, 0, i)
		d := chartDay{Day: day.Format(time.DateOnly), X: c.Left + i*slot + (slot-barW)/2}
		if i%every == 0 || i == days-1 {
			d.Label = day.Format("2 Jan")
		}
		for _, n := range byDay[d.Day] {
			d.Total += n
		}
		c.Days = append(c.Days, d)
	}
	for si, tp := range tps {
		name := names[tp]
		if name == "" {
			name = tp
		}
		c.Series = append(c.Series, chartSeries{Touchpoint: tp, Name: name, Class: fmt.Sprintf("s%d", min(si, 5)), Total: totals[tp]})
	}
	for i, d := range c.Days {
		y := c.Bottom
		for si := range c.Series {
			s := &c.Series[si]
			n := byDay[d.Day][s.Touchpoint]
			if n == 0 {
				continue
			}
			bh := max(n*plotH/top, 1)
			y -= bh
			s.Bars = append(s.Bars, chartBar{X: c.Days[i].X, Y: y, W: barW, H: bh,
				Title: fmt.Sprintf("%s, %s: %d", d.Day, s.Name, n)})
		}
	}
	for v := 0; v <= top; v += step {
		c.Ticks = append(c.Ticks, chartTick{Y: c.Bottom - v*plotH/top, Label: fmt.Sprint(v)})
	}
	c.Summary = fmt.Sprintf("%d consents in %d days at %d touchpoints", c.Total, days, len(c.Series))
	return c
}

// niceStep is a round axis step giving about four ticks up to peak.
func niceStep(peak int) int {
	for _, s := range []int{1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000} {
		if peak <= 4*s {
			return s
		}
	}
	return max(peak/4, 1)
}
