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
// the decision receivers last heard; ok is false when it is the same. Only
// a change of decision is news: a second identical grant is not.
func consentChange(root, purpose, previous string, win *hub.Fact, mergedInto string) (c ConsentChange, ok bool) {
	c = ConsentChange{SubjectID: root, Purpose: purpose, Previous: previous, Decision: hub.Unknown, MergedInto: mergedInto}
	if win != nil {
		c.Decision, c.EventID, c.Since = decisionName(win.Effect), win.EventID, hub.FormatTime(win.At)
	}
	return c, c.Decision != c.Previous
}

// prior is the fact deciding a subject's purpose before a change.
type prior struct {
	effect hub.Effect
	event  string
}

const expiredGrantSQL = `SELECT EXISTS (SELECT 1 FROM expiries WHERE event_id = ? AND purpose = ?)`

// announced names a prior decision as receivers last heard it: a grant
// whose expiry the retention sweep announced is "expired". expired runs
// expiredGrantSQL.
func announced(purpose string, p prior, expired func(event, purpose string) *sql.Row) (string, error) {
	if p.effect != hub.Grant {
		return decisionName(p.effect), nil
	}
	var gone bool
	if err := expired(p.event, purpose).Scan(&gone); err != nil {
		return "", fmt.Errorf("read expiries: %w", err)
	}
	if gone {
		return hub.Expired, nil
	}
	return hub.Allowed, nil
}

// consentChanged appends a consent.changed notification when the decision
// changed (merges and undos).
func consentChanged(ctx context.Context, tx *sql.Tx, now, root, purpose string, prev prior, win *hub.Fact, mergedInto string) error {
	previous, err := announced(purpose, prev, func(event, purpose string) *sql.Row {
		return tx.QueryRowContext(ctx, expiredGrantSQL, event, purpose)
	})
	if err != nil {
		return err
	}
	if c, ok := consentChange(root, purpose, previous, win, mergedInto); ok {
		return notify(ctx, tx, hub.NotifyConsentChanged, root, now, c)
	}
	return nil
}

// changed is consentChanged for ingest: the notification waits for the
// reconciler's flush, with the others ingest makes, in order.
func (r *reconciler) changed(root string, prev prior, win *hub.Fact) error {
	previous, err := announced(win.Purpose, prev, func(event, purpose string) *sql.Row {
		return r.st["expiredGrant"].QueryRowContext(r.ctx, event, purpose)
	})
	if err != nil {
		return err
	}
	c, ok := consentChange(root, win.Purpose, previous, win, "")
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

// consentPriors reads a root subject's deciding facts, for one purpose or
// ("") all of them.
func consentPriors(ctx context.Context, tx *sql.Tx, root, purpose string) (map[string]prior, error) {
	rows, err := tx.QueryContext(ctx, `SELECT purpose, effect, event_id FROM consent_state WHERE subject_id = ? AND (? = '' OR purpose = ?)`, root, purpose, purpose)
	if err != nil {
		return nil, fmt.Errorf("read consent state: %w", err)
	}
	defer rows.Close()
	out := map[string]prior{}
	for rows.Next() {
		var p, e, ev string
		if err := rows.Scan(&p, &e, &ev); err != nil {
			return nil, err
		}
		out[p] = prior{hub.Effect(e), ev}
	}
	return out, rows.Err()
}
