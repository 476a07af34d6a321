package hub_test

import (
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/record"
)

var t0 = time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)

func grant(id, collector string, at time.Time) hub.Fact {
	return hub.Fact{EventID: id, Kind: record.Given, Purpose: "newsletter", Effect: hub.Grant, At: at, Collector: collector, Seq: 1, RetentionDays: 730}
}

func deny(id, collector string, kind record.Kind, at time.Time) hub.Fact {
	return hub.Fact{EventID: id, Kind: kind, Purpose: "newsletter", Effect: hub.Deny, At: at, Collector: collector, Seq: 1}
}

func suspect(f hub.Fact) hub.Fact { f.Suspect = true; return f }

func TestDecide(t *testing.T) {
	now := t0.Add(24 * time.Hour)
	for _, tc := range []struct {
		name     string
		facts    []hub.Fact
		now      time.Time
		decision string
		event    string
	}{
		{"no choice", nil, now, hub.Unknown, ""},
		{"a grant", []hub.Fact{grant("g", "fair", t0)}, now, hub.Allowed, "g"},
		{"refused at capture", []hub.Fact{deny("r", "fair", record.Refused, t0)}, now, hub.Denied, "r"},
		{
			// Device B's clock runs two days behind; the hub corrected its
			// time with the offset measured at hello, so the withdrawal,
			// made an hour after the grant, sorts after it.
			"grant, then withdrawal from a device 2 days behind (corrected)",
			[]hub.Fact{suspect(deny("w", "store", record.Withdrawn, t0.Add(time.Hour))), grant("g", "fair", t0)},
			now, hub.Denied, "w",
		},
		{
			// The same, had the hub not been able to correct it: the
			// withdrawal appears two days before the grant and loses.
			// This is why the offset is measured at every hello.
			"uncorrected withdrawal 2 days early loses to the grant",
			[]hub.Fact{deny("w", "store", record.Withdrawn, t0.Add(time.Hour-48*time.Hour)), grant("g", "fair", t0)},
			now, hub.Allowed, "g",
		},
		{
			"withdrawal and grant in the same second, grant later",
			[]hub.Fact{deny("w", "store", record.Withdrawn, t0), grant("g", "fair", t0.Add(900*time.Millisecond))},
			now, hub.Denied, "w",
		},
		{
			"withdrawal and grant in the same second, withdrawal later",
			[]hub.Fact{grant("g", "fair", t0), deny("w", "store", record.Withdrawn, t0.Add(300*time.Millisecond))},
			now, hub.Denied, "w",
		},
		{
			"withdrawal and grant at the same instant",
			[]hub.Fact{grant("g", "fair", t0), deny("w", "fair", record.Withdrawn, t0)},
			now, hub.Denied, "w",
		},
		{
			"a grant from a clock-suspect device does not overturn a withdrawal",
			[]hub.Fact{deny("w", "store", record.Withdrawn, t0), suspect(grant("g", "fair", t0.Add(time.Hour)))},
			now, hub.Denied, "w",
		},
		{
			"a later re-grant after withdrawal",
			[]hub.Fact{grant("g1", "fair", t0), deny("w", "hub", record.Withdrawn, t0.Add(time.Hour)), grant("g2", "store", t0.Add(2*time.Hour))},
			now, hub.Allowed, "g2",
		},
		{
			"re-grant arriving before the withdrawal it follows",
			[]hub.Fact{grant("g2", "store", t0.Add(2*time.Hour)), grant("g1", "fair", t0), deny("w", "hub", record.Withdrawn, t0.Add(time.Hour))},
			now, hub.Allowed, "g2",
		},
		{
			"unticked at a later capture",
			[]hub.Fact{grant("g", "fair", t0), deny("r", "store", record.Given, t0.Add(time.Hour))},
			now, hub.Denied, "r",
		},
		{"expired after its retention", []hub.Fact{grant("g", "fair", t0)}, t0.AddDate(0, 0, 730), hub.Expired, "g"},
		{"a day before expiry", []hub.Fact{grant("g", "fair", t0)}, t0.AddDate(0, 0, 729), hub.Allowed, "g"},
		{
			"profiling: 12 months",
			[]hub.Fact{func() hub.Fact { f := grant("p", "fair", t0); f.RetentionDays = 365; return f }()},
			t0.AddDate(1, 0, 1), hub.Expired, "p",
		},
		{
			"a re-grant renews an expired consent",
			[]hub.Fact{grant("g1", "fair", t0), grant("g2", "store", t0.AddDate(0, 0, 800))},
			t0.AddDate(0, 0, 801), hub.Allowed, "g2",
		},
		{
			"ties in time order by HLC, then collector and seq",
			[]hub.Fact{
				func() hub.Fact { f := grant("g", "b", t0); f.HLC = 5; return f }(),
				func() hub.Fact { f := grant("h", "a", t0); f.HLC = 7; return f }(),
			},
			now, hub.Allowed, "h",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			win, ok := hub.Decide(tc.facts)
			st := hub.Evaluate("newsletter", win, ok, tc.now)
			if st.Decision != tc.decision || st.EventID != tc.event {
				t.Fatalf("decision %s by %q, want %s by %q", st.Decision, st.EventID, tc.decision, tc.event)
			}
		})
	}
}

// Folding facts one at a time in arrival order, as the store does when a
// new fact sorts last, gives the same answer as deciding over all of them.
func TestDecideIsOrderIndependent(t *testing.T) {
	facts := []hub.Fact{
		grant("g1", "fair", t0), deny("w", "hub", record.Withdrawn, t0.Add(time.Hour)),
		suspect(grant("g2", "store", t0.Add(3*time.Hour))), grant("g3", "fair", t0.Add(90*time.Minute)),
		deny("r", "store", record.Given, t0.Add(90*time.Minute+200*time.Millisecond)),
	}
	want, _ := hub.Decide(facts)
	perm(facts, 0, func(p []hub.Fact) {
		if got, _ := hub.Decide(p); got.EventID != want.EventID {
			t.Fatalf("order %v: %s, want %s", ids(p), got.EventID, want.EventID)
		}
	})
}

func perm(a []hub.Fact, k int, f func([]hub.Fact)) {
	if k == len(a) {
		f(a)
		return
	}
	for i := k; i < len(a); i++ {
		a[k], a[i] = a[i], a[k]
		perm(a, k+1, f)
		a[k], a[i] = a[i], a[k]
	}
}

func ids(fs []hub.Fact) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.EventID)
	}
	return out
}

func TestFacts(t *testing.T) {
	env := &record.Envelope{ID: "e", Kind: record.Given, Collector: "c", Seq: 4, Touchpoint: "fair", Purposes: []record.Choice{
		{Purpose: "newsletter", Granted: true, RetentionDays: 730}, {Purpose: "profiling", Granted: true}, {Purpose: "sms", Granted: false},
	}}
	fs := hub.Facts(env, t0, true, func(string) int { return 365 })
	if len(fs) != 3 || fs[0].Effect != hub.Grant || fs[0].RetentionDays != 730 || fs[1].RetentionDays != 365 || fs[2].Effect != hub.Deny || !fs[2].Suspect {
		t.Fatalf("facts %+v", fs)
	}
	env.Kind = record.Withdrawn
	for _, f := range hub.Facts(env, t0, false, nil) {
		if f.Effect != hub.Deny {
			t.Fatalf("a withdrawal granted %s", f.Purpose)
		}
	}
	env.Kind = record.NoticeViewed
	if fs := hub.Facts(env, t0, false, nil); len(fs) != 0 {
		t.Fatalf("notice view made facts %+v", fs)
	}
}
