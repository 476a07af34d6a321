package sqlite_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/record"
)

// changes returns the consent.changed notifications after seq and the last seq.
func (e *env) changes(after int64) ([]sqlite.ConsentChange, int64) {
	e.t.Helper()
	ns, err := e.st.Notifications(context.Background(), after, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []sqlite.ConsentChange
	for _, n := range ns {
		after = n.Seq
		if n.Type != hub.NotifyConsentChanged {
			continue
		}
		var c sqlite.ConsentChange
		if err := json.Unmarshal(n.Data, &c); err != nil {
			e.t.Fatal(err)
		}
		if c.SubjectID != n.SubjectID {
			e.t.Fatalf("data subject %s, notification subject %s", c.SubjectID, n.SubjectID)
		}
		out = append(out, c)
	}
	return out, after
}

func TestConsentChangedOnlyWhenTheDecisionChanges(t *testing.T) {
	e := mustOpen(t)
	p := record.Subject{GivenName: "Anna", FamilyName: "Verdi", Email: "anna@esempio.it"}

	grant := e.choose("fair", 1, t0, p, map[string]bool{"newsletter": true})
	cs, seq := e.changes(0)
	if len(cs) != 1 || cs[0].Purpose != "newsletter" || cs[0].Decision != hub.Allowed || cs[0].Previous != hub.Unknown ||
		cs[0].EventID != grant || cs[0].Since != hub.FormatTime(t0) {
		t.Fatalf("first grant: %+v", cs)
	}
	sid := cs[0].SubjectID

	// The same grant again (a second visit) decides nothing new.
	e.choose("fair", 2, t0.Add(time.Hour), p, map[string]bool{"newsletter": true})
	if cs, _ := e.changes(seq); len(cs) != 0 {
		t.Fatalf("a repeated grant notified: %+v", cs)
	}

	// A withdrawal does.
	withdraw := e.choose("store", 1, t0.Add(2*time.Hour), p, map[string]bool{"newsletter": false})
	cs, seq = e.changes(seq)
	if len(cs) != 1 || cs[0].Decision != hub.Denied || cs[0].Previous != hub.Allowed || cs[0].EventID != withdraw || cs[0].SubjectID != sid {
		t.Fatalf("withdrawal: %+v", cs)
	}

	// An earlier grant arriving late (an offline kiosk) changes nothing: the
	// later refusal still decides.
	e.choose("kiosk", 1, t0.Add(30*time.Minute), p, map[string]bool{"newsletter": true})
	if cs, _ := e.changes(seq); len(cs) != 0 {
		t.Fatalf("a late earlier grant notified: %+v", cs)
	}
	// No personal data in the feed.
	ns, _ := e.st.Notifications(context.Background(), 0, 100)
	for _, n := range ns {
		if s := strings.ToLower(string(n.Data)); strings.Contains(s, "anna") || strings.Contains(s, "verdi") {
			t.Fatalf("personal data in %s", s)
		}
	}
}

func TestConsentChangedOnMergeAndUndo(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.choose("fair", 1, t0, record.Subject{GivenName: "Mario", FamilyName: "Rossi", Email: "mario.rossi@gmail.com"}, map[string]bool{"newsletter": true})
	e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "Mario", FamilyName: "Rosi", Email: "m.rossi@esempio.it"}, map[string]bool{"newsletter": false})
	_, seq := e.changes(0)
	granting := e.check("email", "mario.rossi@gmail.com", "newsletter").SubjectID
	sg, err := e.suggestions(10)
	if err != nil {
		t.Fatal(err)
	}
	var name hub.Suggested
	for _, g := range sg {
		if g.Reason == hub.SuggestSimilarName {
			name = g
		}
	}
	if err := e.st.ResolveSuggestion(ctx, name.ID, true, "dpo"); err != nil {
		t.Fatal(err)
	}
	// Merged, the later refusal decides for both: the granting subject's
	// decision changes (one notification, under whichever is the root) and
	// the absorbed one says where its decisions went.
	cs, seq := e.changes(seq)
	var toDenied, absorbed int
	for _, c := range cs {
		switch {
		case c.MergedInto != "" && c.Decision == hub.Unknown:
			absorbed++
		case c.Decision == hub.Denied && c.Previous == hub.Allowed:
			toDenied++
		}
	}
	root := e.check("email", "mario.rossi@gmail.com", "newsletter").SubjectID
	wantDenied := 0
	if root == granting {
		wantDenied = 1 // the root was the granting subject; else its decision stays denied
	}
	if absorbed != 1 || toDenied != wantDenied || len(cs) != 1+wantDenied {
		t.Fatalf("merge into %s (granting %s): %+v", root, granting, cs)
	}
	sub, _ := e.st.Subject(ctx, root)
	if err := e.st.Unmerge(ctx, sub.Merged[0].ID, "dpo"); err != nil {
		t.Fatal(err)
	}
	// Undone, the separated subject gets its own decision back.
	cs, _ = e.changes(seq)
	if len(cs) == 0 {
		t.Fatal("undoing a merge that changes a decision notified nothing")
	}
	for _, c := range cs {
		if c.Decision == c.Previous {
			t.Fatalf("notified a non-change: %+v", c)
		}
	}
}
