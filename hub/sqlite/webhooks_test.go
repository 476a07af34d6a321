package sqlite_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/record"
)

func TestWebhookCursorPauseAndLog(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.st.Now = func() time.Time { return t0.Add(time.Hour) }
	e.choose("fair", 1, t0, record.Subject{GivenName: "Anna", FamilyName: "Verdi", Email: "anna@esempio.it"}, map[string]bool{"newsletter": true})

	w, err := e.st.CreateWebhook(ctx, hub.NewWebhook{URL: "https://crm.example.com/h", Events: []string{"consent.changed"}})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := e.st.Notifications(ctx, 0, 100)
	if err != nil || len(feed) == 0 {
		t.Fatalf("feed %v %v", feed, err)
	}
	if w.Cursor != feed[len(feed)-1].Seq || len(w.Secret) < 40 || w.Paused != nil {
		t.Fatalf("a new webhook starts at the end of the feed with a secret: %+v", w)
	}
	b := w.Cursor - 1 // seqs below are counted from the first consent's notification (the catalog's come before)
	if _, err := e.st.CreateWebhook(ctx, hub.NewWebhook{URL: "gopher://x", Events: []string{"*"}}); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("bad URL: %v", err)
	}
	e.choose("fair", 2, t0.Add(time.Minute), record.Subject{GivenName: "Bo", FamilyName: "Neri", Email: "bo@esempio.it"}, map[string]bool{"newsletter": true, "sms": false})
	e.choose("fair", 3, t0.Add(2*time.Minute), record.Subject{GivenName: "Ci", FamilyName: "Blu", Email: "ci@esempio.it"}, map[string]bool{"sms": true})

	at := t0.Add(time.Hour)
	rec := func(seq int64, outcome string, code int) error {
		return e.st.RecordDelivery(ctx, hub.Delivery{WebhookID: w.ID, Seq: seq, Type: "consent.changed", Attempt: 1, AttemptedAt: at, StatusCode: code, Outcome: outcome})
	}
	// A retry leaves the cursor; a delivery moves it; an older delivery
	// (a repeat) never moves it back.
	for _, step := range []struct {
		seq     int64
		outcome string
		code    int
		cursor  int64
	}{{b + 2, hub.DeliveryRetry, 503, b + 1}, {b + 2, hub.DeliveryDelivered, 200, b + 2}, {b + 3, hub.DeliveryDelivered, 204, b + 3}, {b + 2, hub.DeliveryDelivered, 200, b + 3}} {
		if err := rec(step.seq, step.outcome, step.code); err != nil {
			t.Fatal(err)
		}
		if w, _ := e.st.Webhook(ctx, w.ID); w.Cursor != step.cursor {
			t.Fatalf("after %+v the cursor is %d", step, w.Cursor)
		}
	}
	// A refusal pauses; passing over cannot move a paused cursor.
	if err := e.st.RecordDelivery(ctx, hub.Delivery{WebhookID: w.ID, Seq: b + 4, Type: "consent.changed", AttemptedAt: at, StatusCode: 410,
		Error: "410 Gone", Outcome: hub.DeliveryFailed}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.PassWebhook(ctx, w.ID, b+9); err != nil {
		t.Fatal(err)
	}
	got, _ := e.st.Webhook(ctx, w.ID)
	if got.Paused == nil || got.Paused.Seq != b+4 || got.Paused.Reason != "410 Gone" || got.Cursor != b+3 {
		t.Fatalf("paused webhook %+v", got)
	}
	e.st.Now = func() time.Time { return t0.Add(2 * time.Hour) } // the last change was made an hour ago
	lags, err := e.st.WebhookLags(ctx)
	if err != nil || len(lags) != 1 || !lags[0].Paused || lags[0].Pending != 1 || lags[0].Seconds != 3600 {
		t.Fatalf("lags %+v %v", lags, err)
	}
	// Resumed with skip: the cursor passes the refused notification and the log says so.
	if got, err = e.st.ResumeWebhook(ctx, w.ID, true); err != nil || got.Paused != nil || got.Cursor != b+4 {
		t.Fatalf("resume: %+v %v", got, err)
	}
	ds, _ := e.st.Deliveries(ctx, w.ID, false, 100)
	if len(ds) != 6 || ds[0].Outcome != hub.DeliverySkipped || ds[0].Seq != b+4 || ds[1].Outcome != hub.DeliveryFailed {
		t.Fatalf("log %+v", ds)
	}
	if failed, _ := e.st.Deliveries(ctx, w.ID, true, 100); len(failed) != 1 || failed[0].StatusCode != 410 {
		t.Fatalf("failed %+v", failed)
	}
	// Pruning keeps refusals.
	n, err := e.st.PruneDeliveries(ctx, at.Add(time.Second))
	if err != nil || n != 4 {
		t.Fatalf("pruned %d: %v", n, err)
	}
	if ds, _ := e.st.Deliveries(ctx, w.ID, false, 100); len(ds) != 2 {
		t.Fatalf("after pruning %+v", ds)
	}
	// An update keeps the cursor; a bad one changes nothing.
	url := "https://crm2.example.com/h"
	got, err = e.st.UpdateWebhook(ctx, w.ID, hub.WebhookUpdate{URL: &url, Events: []string{"subject.erased", "consent.changed"}})
	if err != nil || got.URL != url || got.Cursor != b+4 || len(got.Events) != 2 || got.Events[0] != "consent.changed" {
		t.Fatalf("update: %+v %v", got, err)
	}
	bad := "mailto:crm@example.com"
	if _, err := e.st.UpdateWebhook(ctx, w.ID, hub.WebhookUpdate{URL: &bad}); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("bad update: %v", err)
	}
	if _, err := e.st.UpdateWebhook(ctx, "nope", hub.WebhookUpdate{URL: &url}); apperr.Code(err) != apperr.ENOTFOUND {
		t.Fatalf("update of nothing: %v", err)
	}
	// A rotation signs with both secrets for the grace period, then the new one only.
	old := got.Secret
	if got.Secrets(t0)[0] != old || len(got.Secrets(t0)) != 1 {
		t.Fatalf("before rotation: %v", got.Secrets(t0))
	}
	got, err = e.st.RotateWebhookSecret(ctx, w.ID, time.Hour)
	if err != nil || got.Secret == old || got.OldSecret != old {
		t.Fatalf("rotate: %+v %v", got, err)
	}
	now := e.st.Now()
	if s := got.Secrets(now.Add(59 * time.Minute)); len(s) != 2 || s[0] != got.Secret || s[1] != old {
		t.Fatalf("during grace: %v", s)
	}
	if s := got.Secrets(now.Add(time.Hour)); len(s) != 1 || s[0] != got.Secret {
		t.Fatalf("after grace: %v", s)
	}
	if _, err := e.st.RotateWebhookSecret(ctx, w.ID, -time.Second); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("negative grace: %v", err)
	}

	// From the start: the whole feed.
	all, err := e.st.CreateWebhook(ctx, hub.NewWebhook{URL: "https://crm.example.com/load", Events: []string{"*"}, FromStart: true})
	if err != nil || all.Cursor != 0 {
		t.Fatalf("from start: %+v %v", all, err)
	}
	e.st.DeleteWebhook(ctx, all.ID)

	// Removal takes the log along; a removed webhook is not found.
	if err := e.st.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if err := rec(5, hub.DeliveryDelivered, 200); apperr.Code(err) != apperr.ENOTFOUND {
		t.Fatalf("delivery to a removed webhook: %v", err)
	}
	if _, err := e.st.Deliveries(ctx, w.ID, false, 10); apperr.Code(err) != apperr.ENOTFOUND {
		t.Fatal(err)
	}
	var left int
	e.st.DB().R.QueryRow(`SELECT COUNT(*) FROM webhook_deliveries`).Scan(&left)
	if left != 0 {
		t.Fatalf("%d log rows outlived their webhook", left)
	}
}

// A rotation promises receivers the old secret until its grace ends, so a
// second rotation within it is refused rather than end that secret early;
// one with no grace still cuts every old secret off at once.
func TestRotateWebhookSecretWithinGrace(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	now := t0.Add(time.Hour)
	e.st.Now = func() time.Time { return now }
	w, err := e.st.CreateWebhook(ctx, hub.NewWebhook{URL: "https://crm.example.com/h", Events: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	s0 := w.Secret
	w1, err := e.st.RotateWebhookSecret(ctx, w.ID, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(10 * time.Minute)
	_, err = e.st.RotateWebhookSecret(ctx, w.ID, 24*time.Hour)
	if apperr.Code(err) != apperr.ECONFLICT || !strings.Contains(apperr.Message(err), "until 2026-03-11T11:00:00Z") ||
		!strings.Contains(apperr.Message(err), "grace 0s") {
		t.Fatalf("a second rotation within the grace period: %v", err)
	}
	if got, _ := e.st.Webhook(ctx, w.ID); !slices.Equal(got.Secrets(now), []string{w1.Secret, s0}) {
		t.Fatalf("the refused rotation changed the secrets: %v", got.Secrets(now))
	}
	// Cutting off: only the new secret signs, from now.
	w2, err := e.st.RotateWebhookSecret(ctx, w.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := w2.Secrets(now); len(got) != 1 || got[0] == w1.Secret || got[0] == s0 {
		t.Fatalf("after a rotation without grace: %v", got)
	}
	// Nothing is in its grace period any more: a rotation with grace goes ahead.
	w3, err := e.st.RotateWebhookSecret(ctx, w.ID, time.Hour)
	if err != nil || !slices.Equal(w3.Secrets(now), []string{w3.Secret, w2.Secret}) {
		t.Fatalf("a rotation after the cut-off: %v %v", w3, err)
	}
	now = now.Add(time.Hour)
	if _, err := e.st.RotateWebhookSecret(ctx, w.ID, time.Hour); err != nil {
		t.Fatalf("a rotation once the grace period is over: %v", err)
	}
	if _, err := e.st.RotateWebhookSecret(ctx, "nope", time.Hour); apperr.Code(err) != apperr.ENOTFOUND {
		t.Fatalf("rotating no webhook: %v", err)
	}
}

// The change feed is pruned of old notifications, but never of one a
// webhook has not passed.
func TestPruneNotifications(t *testing.T) {
	e := mustOpen(t)
	ctx := context.Background()
	e.st.Now = func() time.Time { return t0 }
	for i, email := range []string{"a@esempio.it", "b@esempio.it", "c@esempio.it"} {
		e.choose("fair", uint64(i+1), t0, record.Subject{GivenName: "A", FamilyName: "B", Email: email}, map[string]bool{"newsletter": true})
	}
	w, err := e.st.CreateWebhook(ctx, hub.NewWebhook{URL: "https://crm.example.com/h", Events: []string{"*"}, FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	var old []hub.Notification // the consents' (the catalog's were made at the real time, later)
	all, _ := e.st.Notifications(ctx, 0, 1000)
	for _, n := range all {
		if n.At.Equal(t0) {
			old = append(old, n)
		}
	}
	e.st.Now = func() time.Time { return t0.Add(48 * time.Hour) }
	e.choose("fair", 4, t0, record.Subject{GivenName: "A", FamilyName: "B", Email: "d@esempio.it"}, map[string]bool{"newsletter": true})
	held := func() int {
		all, err := e.st.Notifications(ctx, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		return len(all)
	}
	total := held()
	prune := func(want int64) {
		t.Helper()
		if n, err := e.st.PruneNotifications(ctx, t0.Add(24*time.Hour)); err != nil || n != want {
			t.Fatalf("pruned %d (%v), want %d", n, err, want)
		}
	}
	prune(0) // the webhook, from the start, has passed none
	if err := e.st.PassWebhook(ctx, w.ID, old[1].Seq); err != nil {
		t.Fatal(err)
	}
	prune(2)
	if err := e.st.DeleteWebhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	prune(int64(len(old) - 2)) // no webhook: every old one goes, the new ones stay
	if n := held(); n != total-len(old) {
		t.Fatalf("%d notifications held, want %d", n, total-len(old))
	}
}
