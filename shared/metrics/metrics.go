// Package metrics keeps counters, gauges and histograms with labels and
// writes them in the Prometheus text exposition format (version 0.0.4):
// HELP and TYPE lines, escaped label values and help text, cumulative
// histogram buckets. It is small on purpose; a program registers what it
// counts and, for figures read at scrape time (database size, devices),
// a Collector that writes them itself.
package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Type is a metric family's type.
type Type string

const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// Collector writes metric families at each scrape.
type Collector interface {
	Collect(w *Writer)
}

// CollectorFunc is a function as a Collector.
type CollectorFunc func(w *Writer)

// Collect implements Collector.
func (f CollectorFunc) Collect(w *Writer) { f(w) }

// Registry is the set of what a program exposes.
type Registry struct {
	mu sync.Mutex
	cs []Collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds collectors; they are written in the order registered.
func (r *Registry) Register(cs ...Collector) {
	r.mu.Lock()
	r.cs = append(r.cs, cs...)
	r.mu.Unlock()
}

// ContentType is the text exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Write writes every family to out.
func (r *Registry) Write(ctx context.Context, out io.Writer) error {
	r.mu.Lock()
	cs := slices.Clone(r.cs)
	r.mu.Unlock()
	w := &Writer{ctx: ctx, b: bufio.NewWriter(out), seen: map[string]bool{}}
	for _, c := range cs {
		c.Collect(w)
	}
	if err := w.b.Flush(); err != nil {
		return err
	}
	return w.err
}

// ServeHTTP serves the registry as /metrics does.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	r.Write(req.Context(), w)
}

var (
	nameRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Writer writes families in the text format. A malformed name or a family
// written twice is skipped and remembered as the scrape's error.
type Writer struct {
	ctx    context.Context
	b      *bufio.Writer
	seen   map[string]bool
	family string // the family being written; samples must belong to it
	skip   bool
	err    error
}

// Context is the scrape's context, for collectors that query.
func (w *Writer) Context() context.Context { return w.ctx }

func (w *Writer) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("metrics: "+format, args...)
	}
}

// Family starts a family: its HELP and TYPE lines.
func (w *Writer) Family(name, help string, typ Type) {
	w.family, w.skip = name, false
	switch {
	case !nameRE.MatchString(name):
		w.fail("bad metric name %q", name)
		w.skip = true
	case w.seen[name]:
		w.fail("family %q written twice", name)
		w.skip = true
	}
	if w.skip {
		return
	}
	w.seen[name] = true
	fmt.Fprintf(w.b, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
}

// Sample writes one sample of the current family; name is the family's
// name or, for a histogram, with _bucket, _sum or _count. labels are
// name, value pairs.
func (w *Writer) Sample(name string, value float64, labels ...string) {
	if w.skip {
		return
	}
	if name != w.family && !strings.HasPrefix(name, w.family+"_") {
		w.fail("sample %q outside its family %q", name, w.family)
		return
	}
	if len(labels)%2 != 0 {
		w.fail("odd label list for %q", name)
		return
	}
	w.b.WriteString(name)
	if len(labels) > 0 {
		w.b.WriteByte('{')
		for i := 0; i < len(labels); i += 2 {
			if !labelRE.MatchString(labels[i]) || strings.HasPrefix(labels[i], "__") {
				w.fail("bad label name %q on %q", labels[i], name)
			}
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.b.WriteString(labels[i])
			w.b.WriteString(`="`)
			w.b.WriteString(escapeLabel(labels[i+1]))
			w.b.WriteByte('"')
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(FormatValue(value))
	w.b.WriteByte('\n')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// FormatValue writes a sample value: integers without an exponent,
// +Inf, -Inf and NaN as the format spells them.
func FormatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// vec is the label bookkeeping shared by the three kinds.
type vec[T any] struct {
	name, help string
	labels     []string
	newT       func() *T
	mu         sync.Mutex
	series     map[string]*series[T]
}

type series[T any] struct {
	values []string
	v      *T
}

func newVec[T any](name, help string, labels []string, newT func() *T) *vec[T] {
	if !nameRE.MatchString(name) {
		panic(fmt.Sprintf("metrics: bad name %q", name))
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) || strings.HasPrefix(l, "__") || l == "le" {
			panic(fmt.Sprintf("metrics: bad label %q on %q", l, name))
		}
	}
	return &vec[T]{name: name, help: help, labels: labels, newT: newT, series: map[string]*series[T]{}}
}

func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.series[key]
	if s == nil {
		s = &series[T]{values: slices.Clone(values), v: v.newT()}
		v.series[key] = s
	}
	return s.v
}

// sorted returns the series in label order, for stable output.
func (v *vec[T]) sorted() []*series[T] {
	v.mu.Lock()
	out := make([]*series[T], 0, len(v.series))
	for _, s := range v.series {
		out = append(out, s)
	}
	v.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].values, out[j].values) < 0 })
	return out
}

func (v *vec[T]) pairs(values []string, extra ...string) []string {
	out := make([]string, 0, 2*len(values)+len(extra))
	for i, l := range v.labels {
		out = append(out, l, values[i])
	}
	return append(out, extra...)
}

// Float is a float64 updated atomically.
type Float struct{ bits atomic.Uint64 }

// Add adds d.
func (f *Float) Add(d float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// Set sets the value.
func (f *Float) Set(v float64) { f.bits.Store(math.Float64bits(v)) }

// Value reads the value.
func (f *Float) Value() float64 { return math.Float64frombits(f.bits.Load()) }

// CounterVec is a counter with labels.
type CounterVec struct{ v *vec[Float] }

// NewCounter makes a counter family with the given label names.
func NewCounter(name, help string, labels ...string) *CounterVec {
	return &CounterVec{newVec(name, help, labels, func() *Float { return new(Float) })}
}

// With returns the counter for the label values; Add with a negative
// number is a programming error the format cannot show, so it is ignored.
func (c *CounterVec) With(values ...string) *CounterValue { return &CounterValue{c.v.with(values)} }

// CounterValue is one series of a counter.
type CounterValue struct{ f *Float }

// Add adds d ≥ 0.
func (c *CounterValue) Add(d float64) {
	if d > 0 {
		c.f.Add(d)
	}
}

// Inc adds 1.
func (c *CounterValue) Inc() { c.f.Add(1) }

// Value reads the count.
func (c *CounterValue) Value() float64 { return c.f.Value() }

// Collect implements Collector.
func (c *CounterVec) Collect(w *Writer) {
	w.Family(c.v.name, c.v.help, Counter)
	for _, s := range c.v.sorted() {
		w.Sample(c.v.name, s.v.Value(), c.v.pairs(s.values)...)
	}
}

// GaugeVec is a gauge with labels.
type GaugeVec struct{ v *vec[Float] }

// NewGauge makes a gauge family with the given label names.
func NewGauge(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{newVec(name, help, labels, func() *Float { return new(Float) })}
}

// With returns the gauge for the label values.
func (g *GaugeVec) With(values ...string) *Float { return g.v.with(values) }

// Collect implements Collector.
func (g *GaugeVec) Collect(w *Writer) {
	w.Family(g.v.name, g.v.help, Gauge)
	for _, s := range g.v.sorted() {
		w.Sample(g.v.name, s.v.Value(), g.v.pairs(s.values)...)
	}
}

// DefaultBuckets suit request latencies in seconds, 1 ms to 10 s.
var DefaultBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// HistogramVec is a histogram with labels.
type HistogramVec struct {
	v       *vec[hist]
	buckets []float64
}

type hist struct {
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    Float
}

// NewHistogram makes a histogram family with the given upper bounds
// (increasing; +Inf is added) and label names.
func NewHistogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if len(buckets) == 0 || !slices.IsSorted(buckets) || slices.Contains(buckets, math.Inf(1)) {
		panic(fmt.Sprintf("metrics: %s needs increasing finite buckets", name))
	}
	b := slices.Clone(buckets)
	return &HistogramVec{v: newVec(name, help, labels, func() *hist { return &hist{counts: make([]atomic.Uint64, len(b)+1)} }), buckets: b}
}

// With returns the histogram for the label values.
func (h *HistogramVec) With(values ...string) *HistogramValue {
	return &HistogramValue{h: h.v.with(values), buckets: h.buckets}
}

// HistogramValue is one series of a histogram.
type HistogramValue struct {
	h       *hist
	buckets []float64
}

// Observe counts v in its bucket.
func (h *HistogramValue) Observe(v float64) {
	i := sort.SearchFloat64s(h.buckets, v) // the first bound ≥ v: le is inclusive
	h.h.counts[i].Add(1)
	h.h.sum.Add(v)
}

// Collect implements Collector.
func (h *HistogramVec) Collect(w *Writer) {
	name := h.v.name
	w.Family(name, h.v.help, Histogram)
	for _, s := range h.v.sorted() {
		var cum uint64
		for i := range s.v.counts {
			cum += s.v.counts[i].Load()
			le := "+Inf"
			if i < len(h.buckets) {
				le = FormatValue(h.buckets[i])
			}
			w.Sample(name+"_bucket", float64(cum), h.v.pairs(s.values, "le", le)...)
		}
		w.Sample(name+"_sum", s.v.sum.Value(), h.v.pairs(s.values)...)
		w.Sample(name+"_count", float64(cum), h.v.pairs(s.values)...)
	}
}
