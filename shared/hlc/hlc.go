// Package hlc implements a hybrid logical clock: timestamps that follow the
// wall clock but never go backwards and order causally related events even
// when device clocks disagree.
//
// A Timestamp packs milliseconds since the Unix epoch into the high 48 bits
// and a logical counter into the low 16. Its JSON form is a fixed-width
// string ("0001763834289123.00004"), so it sorts as text and survives
// JavaScript's 53-bit numbers.
package hlc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Timestamp is a hybrid logical clock reading.
type Timestamp uint64

const logicalBits = 16

// New builds a Timestamp from wall milliseconds and a logical counter.
func New(wallMS int64, logical uint16) Timestamp {
	return Timestamp(uint64(wallMS)<<logicalBits | uint64(logical))
}

// WallMS is the wall-clock part in milliseconds since the Unix epoch.
func (t Timestamp) WallMS() int64 { return int64(uint64(t) >> logicalBits) }

// Logical is the counter that orders readings within one millisecond.
func (t Timestamp) Logical() uint16 { return uint16(t) }

// Time is the wall-clock part as a time.Time in UTC.
func (t Timestamp) Time() time.Time { return time.UnixMilli(t.WallMS()).UTC() }

func (t Timestamp) String() string { return fmt.Sprintf("%016d.%05d", t.WallMS(), t.Logical()) }

// Parse reads the String form.
func Parse(s string) (Timestamp, error) {
	wall, logical, ok := strings.Cut(s, ".")
	if !ok || len(wall) != 16 || len(logical) != 5 {
		return 0, fmt.Errorf("hlc: malformed timestamp %q", s)
	}
	w, err := strconv.ParseInt(wall, 10, 64)
	if err != nil || w < 0 || w >= 1<<(64-logicalBits) {
		return 0, fmt.Errorf("hlc: malformed wall time in %q", s)
	}
	l, err := strconv.ParseUint(logical, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("hlc: malformed counter in %q", s)
	}
	return New(w, uint16(l)), nil
}

func (t Timestamp) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func (t *Timestamp) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ErrDrift is returned by Update when a remote timestamp is further ahead of
// the local wall clock than the clock's MaxOffset allows. The clock is left
// unchanged: a device with a wrong clock never drags another clock forward.
var ErrDrift = errors.New("hlc: remote clock too far ahead")

// Clock issues Timestamps. The zero value is not ready; use NewClock.
type Clock struct {
	// Now reads the physical clock; tests replace it.
	Now func() time.Time
	// MaxOffset bounds how far ahead of the physical clock a remote
	// timestamp may pull this clock. Zero means no bound.
	MaxOffset time.Duration

	mu   sync.Mutex
	last Timestamp
}

// NewClock returns a clock reading time.Now.
func NewClock() *Clock { return &Clock{Now: time.Now} }

// Last is the most recent timestamp issued or observed.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Restore raises the clock to at least t, for example after a restart with
// the highest timestamp persisted.
func (c *Clock) Restore(t Timestamp) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t > c.last {
		c.last = t
	}
}

// Tick returns a new timestamp for a local event.
func (c *Clock) Tick() Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	phys := New(c.Now().UnixMilli(), 0)
	if phys > c.last {
		c.last = phys
	} else {
		c.last++
	}
	return c.last
}

// Update merges a timestamp received from another node and returns a new
// local timestamp after it.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	physMS := c.Now().UnixMilli()
	if c.MaxOffset > 0 && remote.WallMS()-physMS > c.MaxOffset.Milliseconds() {
		return c.last, ErrDrift
	}
	next := New(physMS, 0)
	if c.last >= next {
		next = c.last + 1
	}
	if remote >= next {
		next = remote + 1
	}
	c.last = next
	return next, nil
}
