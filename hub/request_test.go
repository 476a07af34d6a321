package hub

import (
	"net/url"
	"testing"
	"time"
)

func TestDueDates(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	for _, tc := range []struct {
		received      time.Time
		due, extended string
	}{
		{time.Date(2027, 1, 31, 10, 0, 0, 0, rome), "2027-02-28", "2027-04-30"},
		{time.Date(2028, 1, 31, 10, 0, 0, 0, rome), "2028-02-29", "2028-04-30"}, // leap year
		{time.Date(2027, 1, 30, 10, 0, 0, 0, rome), "2027-02-28", "2027-04-30"},
		{time.Date(2027, 3, 31, 10, 0, 0, 0, rome), "2027-04-30", "2027-06-30"},
		{time.Date(2027, 12, 31, 10, 0, 0, 0, rome), "2028-01-31", "2028-03-31"}, // across the year
		{time.Date(2027, 5, 15, 10, 0, 0, 0, rome), "2027-06-15", "2027-08-15"},
		// 23:30 UTC on 31 January is already 1 February in Rome.
		{time.Date(2027, 1, 31, 23, 30, 0, 0, time.UTC), "2027-03-01", "2027-05-01"},
	} {
		if got := DueDate(tc.received, rome); !got.Equal(day(tc.due)) {
			t.Errorf("DueDate(%s) = %s, want %s", tc.received, got.Format(time.DateOnly), tc.due)
		}
		if got := ExtendedDueDate(tc.received, rome); !got.Equal(day(tc.extended)) {
			t.Errorf("ExtendedDueDate(%s) = %s, want %s", tc.received, got.Format(time.DateOnly), tc.extended)
		}
	}
	due := day("2027-02-28")
	if Overdue(due, time.Date(2027, 2, 28, 23, 59, 0, 0, rome), rome) {
		t.Error("overdue on its due day")
	}
	if !Overdue(due, time.Date(2027, 3, 1, 0, 1, 0, 0, rome), rome) {
		t.Error("not overdue the day after")
	}
}

var queuePlaceCases = []struct {
	in string
	ok bool
}{
	{"2027-02-28_2027-01-31T09:00:00.000000000Z_0194b2a8-7c1e-7d3a-9a6f-1c2d3e4f5a6b", true},
	{"0194b2a8-7c1e-7d3a-9a6f-1c2d3e4f5a6b", false}, // a bare id: the older form
	{"2027-02-28_2027-01-31T09:00:00.000000000Z_", false},
	{"2027-02-28_2027-01-31T09:00:00Z_id", false},                // not the store's exact text
	{"2027-02-28_2027-01-31T10:00:00.000000000+01:00_id", false}, // nor in UTC
	{"2027-2-28_2027-01-31T09:00:00.000000000Z_id", false},       // nor a padded date
	{"2027-02-30_2027-01-31T09:00:00.000000000Z_id", false},      // no such day
	{"2027-02-28_2027-01-31T09:00:00.000000000Z_an_id_with_underscores", true},
	{"", false},
}

func TestQueuePlace(t *testing.T) {
	r := Request{ID: "0194b2a8-7c1e-7d3a-9a6f-1c2d3e4f5a6b", DueOn: time.Date(2027, 2, 28, 0, 0, 0, 0, time.UTC),
		ReceivedAt: time.Date(2027, 1, 31, 10, 0, 0, 0, time.FixedZone("CET", 3600))}
	s := r.Place().String()
	if s != queuePlaceCases[0].in {
		t.Errorf("cursor %q, want %q", s, queuePlaceCases[0].in)
	}
	if q, err := url.ParseQuery("after=" + s); err != nil || q.Get("after") != s {
		t.Errorf("cursor %q does not survive a URL query unescaped: %q %v", s, q.Get("after"), err)
	}
	if p, ok := ParseQueuePlace(s); !ok || p.ID != r.ID || !p.DueOn.Equal(r.DueOn) || !p.ReceivedAt.Equal(r.ReceivedAt) {
		t.Errorf("ParseQueuePlace(%q) = %+v, %t; want %+v", s, p, ok, r.Place())
	}
	for _, c := range queuePlaceCases {
		if _, ok := ParseQueuePlace(c.in); ok != c.ok {
			t.Errorf("ParseQueuePlace(%q): ok %t, want %t", c.in, ok, c.ok)
		}
	}
}

func FuzzParseQueuePlace(f *testing.F) {
	for _, c := range queuePlaceCases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, ok := ParseQueuePlace(s)
		if ok && p.String() != s {
			t.Fatalf("ParseQueuePlace(%q) accepted it as %q", s, p.String())
		}
	})
}
