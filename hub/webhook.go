package hub

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/attesta/attesta/shared/apperr"
)

// Webhook is a receiver (a CRM integration) that hears about changes: every
// notification of its event types, in feed order, signed with its secret.
type Webhook struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// Cursor is the feed position delivered (or passed over) so far.
	Cursor int64 `json:"cursor"`
	// Paused is set when the receiver refused a delivery for good (a 4xx
	// other than 408, 425 and 429): delivery stops at that notification
	// until an admin resumes the webhook, so nothing is dropped unseen.
	Paused *WebhookPause `json:"paused,omitempty"`
	Secret string        `json:"-"`
	// OldSecret, after a rotation, signs deliveries too until OldUntil.
	OldSecret string     `json:"-"`
	OldUntil  *time.Time `json:"old_secret_until,omitempty"`
}

// Secrets are the keys deliveries at now are signed with: the current one
// and, during a rotation's grace period, the one before.
func (w *Webhook) Secrets(now time.Time) []string {
	if w.Rotating(now) {
		return []string{w.Secret, w.OldSecret}
	}
	return []string{w.Secret}
}

// Rotating reports whether at now a rotation's grace period runs: the
// secret before the current one still signs.
func (w *Webhook) Rotating(now time.Time) bool {
	return w.OldSecret != "" && w.OldUntil != nil && now.Before(*w.OldUntil)
}

// WebhookUpdate changes a webhook; nil fields stay as they are.
type WebhookUpdate struct {
	URL         *string  `json:"url"`
	Events      []string `json:"events"`
	Description *string  `json:"description"`
}

// WebhookPause is why and where delivery stopped.
type WebhookPause struct {
	At     time.Time `json:"at"`
	Seq    int64     `json:"seq"`
	Reason string    `json:"reason"`
}

// Delivery outcomes.
const (
	DeliveryDelivered = "delivered" // a 2xx answer; the cursor moved on
	DeliveryRetry     = "retry"     // network error, timeout, 5xx, 408, 425 or 429: tried again
	DeliveryFailed    = "failed"    // any other answer: the webhook is paused
	DeliverySkipped   = "skipped"   // an admin resumed past a failed notification
)

// Delivery is one attempt to deliver one notification.
type Delivery struct {
	ID          int64     `json:"id"`
	WebhookID   string    `json:"webhook_id"`
	Seq         int64     `json:"seq"` // the notification
	Type        string    `json:"type"`
	Attempt     int       `json:"attempt"`
	AttemptedAt time.Time `json:"attempted_at"`
	StatusCode  int       `json:"status_code,omitempty"` // 0 when no answer came
	Error       string    `json:"error,omitempty"`
	DurationMS  int64     `json:"duration_ms"`
	Outcome     string    `json:"outcome"`
}

// NotifyTypes are the notification types a webhook may subscribe to.
var NotifyTypes = []string{NotifyConsentChanged, NotifyRequestCreated, NotifyRequestUpdated, NotifySubjectErased, NotifyConfigChanged}

// NewWebhook is what an admin gives to add a webhook.
type NewWebhook struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	// FromStart delivers the whole change feed kept so far first, e.g. for
	// a CRM's initial load; otherwise only changes from now on.
	FromStart bool `json:"from_start"`
}

// Validate checks the URL (absolute http or https with a host, no
// credentials, no fragment) and event names, and normalises the events
// (sorted, without duplicates; "*" means all of them).
func (n *NewWebhook) Validate() error {
	u, err := url.Parse(strings.TrimSpace(n.URL))
	switch {
	case strings.TrimSpace(n.URL) == "":
		return apperr.Errorf(apperr.EINVALID, "a webhook needs a URL")
	case err != nil:
		return apperr.Errorf(apperr.EINVALID, "webhook URL %q does not parse: %v", n.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return apperr.Errorf(apperr.EINVALID, "webhook URL %q must start with http:// or https://", n.URL)
	case u.Host == "" || u.Hostname() == "":
		return apperr.Errorf(apperr.EINVALID, "webhook URL %q has no host", n.URL)
	case u.User != nil:
		return apperr.Errorf(apperr.EINVALID, "webhook URL must not carry credentials: receivers check the Attesta-Signature header instead")
	case u.Fragment != "":
		return apperr.Errorf(apperr.EINVALID, "webhook URL %q must not have a #fragment", n.URL)
	case len(n.URL) > 2048:
		return apperr.Errorf(apperr.EINVALID, "webhook URL is longer than 2048 characters")
	case len(n.Description) > 500:
		return apperr.Errorf(apperr.EINVALID, "description is longer than 500 characters")
	}
	n.URL = u.String()
	var events []string
	for _, e := range n.Events {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case e == "*":
			events = append(events, NotifyTypes...)
		case !slices.Contains(NotifyTypes, e):
			return apperr.Errorf(apperr.EINVALID, "unknown event %q; events are %s (or * for all)", e, strings.Join(NotifyTypes, ", "))
		default:
			events = append(events, e)
		}
	}
	if len(events) == 0 {
		return apperr.Errorf(apperr.EINVALID, "a webhook needs at least one event: %s (or * for all)", strings.Join(NotifyTypes, ", "))
	}
	slices.Sort(events)
	n.Events = slices.Compact(events)
	return nil
}

// Wants reports whether the webhook subscribes to notifications of typ.
func (w *Webhook) Wants(typ string) bool { return slices.Contains(w.Events, typ) }

// WebhookStore keeps webhooks, their cursors and delivery log.
type WebhookStore interface {
	Notifications
	// CreateWebhook adds a webhook that hears about changes from now on
	// and returns it with its signing secret.
	CreateWebhook(ctx context.Context, n NewWebhook) (*Webhook, error)
	Webhook(ctx context.Context, id string) (*Webhook, error) // with its secret
	Webhooks(ctx context.Context) ([]Webhook, error)          // with their secrets
	DeleteWebhook(ctx context.Context, id string) error
	// Deliveries returns a webhook's latest attempts, newest first.
	Deliveries(ctx context.Context, id string, failedOnly bool, limit int) ([]Delivery, error)
	// RecordDelivery logs an attempt. A delivered one moves the cursor to
	// its seq, a failed one pauses the webhook there, in the same transaction.
	RecordDelivery(ctx context.Context, d Delivery) error
	// PassWebhook moves the cursor over notifications the webhook does not
	// subscribe to, up to seq.
	PassWebhook(ctx context.Context, id string, seq int64) error
	// UpdateWebhook changes a webhook's URL, events or description; its
	// cursor stays, so nothing is lost or sent twice by the change.
	UpdateWebhook(ctx context.Context, id string, u WebhookUpdate) (*Webhook, error)
	// RotateWebhookSecret gives a webhook a new secret; the old one signs
	// deliveries too for grace, so receivers can switch without a gap.
	// While a rotation's grace runs, another with grace is ECONFLICT (it
	// would end the older secret early); one with grace 0 cuts off every
	// older secret at once.
	RotateWebhookSecret(ctx context.Context, id string, grace time.Duration) (*Webhook, error)
	// ResumeWebhook clears a pause; with skip, the notification it stopped
	// at is logged as skipped and passed over, else it is tried again.
	ResumeWebhook(ctx context.Context, id string, skip bool) (*Webhook, error)
	// PruneDeliveries deletes delivery log entries attempted before t,
	// except failed ones (few, and the reason a webhook paused).
	PruneDeliveries(ctx context.Context, before time.Time) (int64, error)
	// PruneNotifications deletes change-feed notifications made before t
	// that every webhook has passed.
	PruneNotifications(ctx context.Context, before time.Time) (int64, error)
	// WebhookLags reads how far each webhook is behind the feed.
	WebhookLags(ctx context.Context) ([]WebhookLag, error)
}

// WebhookLag is how far one webhook is behind the feed.
type WebhookLag struct {
	ID      string
	Pending int64   // notifications after its cursor (of any type)
	Seconds float64 // age of the oldest of them; 0 when caught up
	Paused  bool
}
