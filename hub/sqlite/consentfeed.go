package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/attesta/attesta/hub"
)

// ConsentChange is the data of a consent.changed notification: a subject's
// decision for one purpose changed. It holds no personal data.
type ConsentChange struct {
	SubjectID  string `json:"subject_id"`
	Purpose    string `json:"purpose"`
	Decision   string `json:"decision"` // allowed, denied, or unknown when no choice counts any more
	Previous   string `json:"previous"` // the decision before, in the same terms
	EventID    string `json:"event_id,omitempty"`
	Since      string `json:"since,omitempty"`       // when the deciding choice was made (hub-corrected)
	MergedInto string `json:"merged_into,omitempty"` // the subject now deciding for this one
}

// decisionName names an effect as the consent check does; "" is no decision.
func decisionName(e hub.Effect) string {
	switch e {
	case hub.Grant:
		return hub.Allowed
	case hub.Deny:
		return hub.Denied
	}
	return hub.Unknown
}

// consentChange is the notification for win (nil: none) deciding after
// prev; ok is false when the decision is the same. Only a change of
// decision is news: a second identical grant is not.
func consentChange(root, purpose string, prev hub.Effect, win *hub.Fact, mergedInto string) (c ConsentChange, ok bool) {
	c = ConsentChange{SubjectID: root, Purpose: purpose, Previous: decisionName(prev), Decision: hub.Unknown, MergedInto: mergedInto}
	if win != nil {
		c.Decision, c.EventID, c.Since = decisionName(win.Effect), win.EventID, hub.FormatTime(win.At)
	}
	return c, c.Decision != c.Previous
}

// consentChanged appends a consent.changed notification when the decision
// changed (merges and undos).
func consentChanged(ctx context.Context, tx *sql.Tx, now, root, purpose string, prev hub.Effect, win *hub.Fact, mergedInto string) error {
	if c, ok := consentChange(root, purpose, prev, win, mergedInto); ok {
		return notify(ctx, tx, hub.NotifyConsentChanged, root, now, c)
	}
	return nil
}

// changed is consentChanged for ingest: the notification waits for the
// reconciler's flush, with the others ingest makes, in order.
func (r *reconciler) changed(root string, prev hub.Effect, win *hub.Fact) error {
	c, ok := consentChange(root, win.Purpose, prev, win, "")
	if !ok {
		return nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	r.hold(pendNotification, hub.NotifyConsentChanged, root, r.now, string(b))
	return nil
}

// consentEffects reads a root subject's current effects, for one purpose or
// ("") all of them.
func consentEffects(ctx context.Context, tx *sql.Tx, root, purpose string) (map[string]hub.Effect, error) {
	rows, err := tx.QueryContext(ctx, `SELECT purpose, effect FROM consent_state WHERE subject_id = ? AND (? = '' OR purpose = ?)`, root, purpose, purpose)
	if err != nil {
		return nil, fmt.Errorf("read consent state: %w", err)
	}
	defer rows.Close()
	out := map[string]hub.Effect{}
	for rows.Next() {
		var p, e string
		if err := rows.Scan(&p, &e); err != nil {
			return nil, err
		}
		out[p] = hub.Effect(e)
	}
	return out, rows.Err()
}
