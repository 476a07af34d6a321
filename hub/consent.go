package hub

import (
	"cmp"
	"slices"
	"time"

	"github.com/attesta/attesta/shared/record"
)

// Effect is what an event says about one purpose.
type Effect string

const (
	Grant Effect = "grant" // the purpose was ticked
	Deny  Effect = "deny"  // left unticked at a capture, or withdrawn
)

// Decisions the consent check answers.
const (
	Allowed = "allowed" // the latest choice is a grant still within its retention
	Denied  = "denied"  // the latest choice is a refusal or a withdrawal
	Expired = "expired" // the latest choice is a grant whose retention has passed
	Unknown = "unknown" // no such person, or they never chose for this purpose
)

// Concurrent is how close in hub-corrected time a grant and a denial must
// be for the denial to win whatever their order: two tablets' clocks,
// even corrected, do not order events within a second.
const Concurrent = time.Second

// Fact is one event's choice for one purpose of one subject: a line of the
// consent history.
type Fact struct {
	EventID       string      `json:"event_id"`
	Kind          record.Kind `json:"kind"`
	Purpose       string      `json:"purpose"`
	Effect        Effect      `json:"effect"`
	At            time.Time   `json:"at"` // hub-corrected time
	HLC           uint64      `json:"-"`
	Collector     string      `json:"collector"`
	Seq           uint64      `json:"seq"`
	Suspect       bool        `json:"clock_suspect,omitempty"`
	RetentionDays int         `json:"retention_days,omitempty"`
	Touchpoint    string      `json:"touchpoint"`
}

// Facts are the choices one event makes, one per purpose. A capture states
// every purpose it showed, so an unticked purpose is a denial: the latest
// choice the person made is the one that counts.
func Facts(env *record.Envelope, at time.Time, suspect bool, retention func(purpose string) int) []Fact {
	if env.Kind != record.Given && env.Kind != record.Refused && env.Kind != record.Withdrawn {
		return nil
	}
	out := make([]Fact, 0, len(env.Purposes))
	for _, c := range env.Purposes {
		f := Fact{EventID: env.ID, Kind: env.Kind, Purpose: c.Purpose, Effect: Deny, At: at.UTC(), HLC: uint64(env.HLC),
			Collector: env.Collector, Seq: env.Seq, Suspect: suspect, Touchpoint: env.Touchpoint}
		if c.Granted && env.Kind != record.Withdrawn {
			f.Effect = Grant
			f.RetentionDays = c.RetentionDays
			if f.RetentionDays <= 0 && retention != nil {
				f.RetentionDays = retention(c.Purpose)
			}
		}
		out = append(out, f)
	}
	return out
}

// Compare orders facts: by hub-corrected time, then HLC, collector and seq.
func Compare(a, b Fact) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(a.HLC, b.HLC), cmp.Compare(a.Collector, b.Collector), cmp.Compare(a.Seq, b.Seq),
		cmp.Compare(a.EventID, b.EventID))
}

// Supersedes reports whether next, which sorts after cur, replaces it as the
// deciding choice. It always does, except that a grant never overturns a
// denial it is concurrent with, nor any denial when its own device clock
// was suspect: when the order is uncertain, the withdrawal wins.
func Supersedes(next, cur Fact) bool {
	if next.Effect == Grant && cur.Effect == Deny {
		return !next.Suspect && next.At.Sub(cur.At) >= Concurrent
	}
	return true
}

// Decide returns the deciding fact among one subject's facts for one
// purpose, in any order of arrival; ok is false when there are none.
func Decide(facts []Fact) (win Fact, ok bool) {
	sorted := slices.SortedFunc(slices.Values(facts), Compare)
	for i, f := range sorted {
		if i == 0 || Supersedes(f, win) {
			win = f
		}
	}
	return win, len(sorted) > 0
}

// State is the current decision for one purpose.
type State struct {
	Purpose   string     `json:"purpose"`
	Decision  string     `json:"decision"`
	EventID   string     `json:"event_id,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Evaluate turns a deciding fact into a decision at now: a grant lasts its
// purpose's retention period from when it was given, then reads expired.
func Evaluate(purpose string, win Fact, ok bool, now time.Time) State {
	if !ok {
		return State{Purpose: purpose, Decision: Unknown}
	}
	since := win.At
	st := State{Purpose: purpose, Decision: Denied, EventID: win.EventID, Since: &since}
	if win.Effect == Grant {
		st.Decision = Allowed
		if win.RetentionDays > 0 {
			exp := win.At.AddDate(0, 0, win.RetentionDays)
			st.ExpiresAt = &exp
			if !now.Before(exp) {
				st.Decision = Expired
			}
		}
	}
	return st
}
