package hub_test

import (
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
)

func TestCorrect(t *testing.T) {
	received := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name     string
		captured time.Time
		offset   time.Duration
		want     time.Time
		suspect  bool
	}{
		{"good clock", received.Add(-time.Hour), 0, received.Add(-time.Hour), false},
		{"small drift corrected", received.Add(-time.Hour + 2*time.Second), 2 * time.Second, received.Add(-time.Hour), false},
		{"3 days behind", received.Add(-3*day - time.Hour), -3 * day, received.Add(-time.Hour), true},
		{"3 days ahead", received.Add(3*day - time.Hour), 3 * day, received.Add(-time.Hour), true},
		{"future after correction", received.Add(time.Hour), 0, received.Add(time.Hour), true},
	}
	for _, c := range cases {
		got, flags := hub.Correct(c.captured, received, c.offset.Milliseconds(), 5*time.Minute)
		if !got.Equal(c.want) || (len(flags) > 0) != c.suspect {
			t.Errorf("%s: got %v %v", c.name, got, flags)
		}
	}
}
