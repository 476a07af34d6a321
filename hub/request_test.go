package hub

import (
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
