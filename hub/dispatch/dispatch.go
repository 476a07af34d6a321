// Package dispatch delivers the hub's change feed to webhooks over HTTP.
//
// Each webhook has its own worker and a durable cursor over the feed. A
// worker delivers its webhook's notifications strictly in feed order, one at
// a time, so order per subject holds trivially. A delivery is retried with
// exponential backoff and jitter, without ever giving up, while the receiver
// is unreachable or answers 5xx, 408, 425 or 429 (a Retry-After is honoured).
// Any other answer (a 4xx, a redirect not followed) pauses the webhook at
// that notification: the delivery log shows it failed, /metrics counts it,
// and an admin resumes the webhook (retrying or skipping the notification).
//
// Delivery is at least once: the cursor moves in the transaction that logs a
// 2xx, so a crash between the receiver's 2xx and that commit delivers the
// notification again after a restart. Receivers deduplicate by event id.
//
// The cursor is a feed position, which is safe because the feed's seq
// order is its commit order: SQLite has one writer. A PostgreSQL store
// must keep that true (assign seq under a lock, or hold readers back
// behind transactions still open), or a notification that commits after
// a later-numbered one would be passed over.
package dispatch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v4"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/metrics"
	"github.com/attesta/attesta/shared/webhook"
)

// Payload is the JSON body of a delivery.
type Payload struct {
	ID        string          `json:"id"` // the notification's feed position; the idempotency key
	Type      string          `json:"type"`
	SubjectID string          `json:"subject_id,omitempty"`
	At        time.Time       `json:"at"`
	Data      json.RawMessage `json:"data"`
}

// NewPayload is the delivery body of n.
func NewPayload(n hub.Notification) Payload {
	return Payload{ID: strconv.FormatInt(n.Seq, 10), Type: n.Type, SubjectID: n.SubjectID, At: n.At.UTC(), Data: n.Data}
}

// Dispatcher runs one worker per webhook. Exported fields are options; set
// them before Open.
type Dispatcher struct {
	Store  hub.WebhookStore
	Logger *slog.Logger
	Client *http.Client // default: Timeout per request, no redirects to other hosts

	Timeout        time.Duration // per request; default 10s
	InitialBackoff time.Duration // first retry interval; default 1s
	MaxBackoff     time.Duration // retry interval cap; default 5m
	MaxRetryAfter  time.Duration // longest Retry-After honoured; default 1h
	Poll           time.Duration // how often idle workers look for news; default 1s
	Batch          int           // notifications read at a time; default 100
	LogRetention   time.Duration // delivery log entries older than this are pruned hourly (failed ones kept); default 30 days
	FeedRetention  time.Duration // notifications older than this that every webhook has passed are pruned hourly; default 90 days

	Now func() time.Time
	// Sleep waits out a retry interval, or until ctx ends; tests replace it
	// with a fake clock. Idle polling waits in real time.
	Sleep func(ctx context.Context, d time.Duration) error

	deliveries *metrics.CounterVec
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

// New returns a dispatcher with defaults.
func New(store hub.WebhookStore) *Dispatcher {
	return &Dispatcher{Store: store, Logger: slog.Default(), Timeout: 10 * time.Second, InitialBackoff: time.Second,
		MaxBackoff: 5 * time.Minute, MaxRetryAfter: time.Hour, Poll: time.Second, Batch: 100, LogRetention: 30 * 24 * time.Hour, FeedRetention: 90 * 24 * time.Hour, Now: time.Now, Sleep: sleep,
		deliveries: metrics.NewCounter("attesta_hub_webhook_deliveries_total",
			"Webhook delivery attempts by webhook and outcome (delivered, retry, failed).", "webhook", "outcome")}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// maxRedirects bounds same-host redirects followed.
const maxRedirects = 3

// NewClient returns an HTTP client that gives up after timeout and follows
// a redirect only to the same host with the same method (307 and 308), so
// a delivery's body and signature never go where the admin did not point.
func NewClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxResponseHeaderBytes = 64 << 10
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Timeout: timeout, Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > maxRedirects || req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme || req.Method != via[0].Method {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// Open starts the supervisor, which starts and stops a worker per webhook.
func (d *Dispatcher) Open() error {
	if d.Store == nil {
		return errors.New("dispatch: no store")
	}
	if d.MaxBackoff < d.InitialBackoff {
		return apperr.Errorf(apperr.EINVALID, "webhook_max_backoff %s is below the first retry interval %s", d.MaxBackoff, d.InitialBackoff)
	}
	if d.Client == nil {
		d.Client = NewClient(d.Timeout)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.supervise(ctx)
	}()
	return nil
}

// Close stops every worker: requests in flight are cut off and their
// notifications delivered again after a restart. It waits until the
// workers are gone or ctx ends.
func (d *Dispatcher) Close(ctx context.Context) error {
	if d.cancel == nil {
		return nil
	}
	d.cancel()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("webhook workers still running: %w", ctx.Err())
	}
}

// supervise keeps one worker per webhook until ctx ends.
func (d *Dispatcher) supervise(ctx context.Context) {
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	workers := map[string]running{}
	var pruned time.Time
	for {
		if now := time.Now(); now.Sub(pruned) >= time.Hour {
			pruned = now
			if n, err := d.Store.PruneDeliveries(ctx, d.Now().Add(-d.LogRetention)); err != nil && ctx.Err() == nil {
				d.Logger.Error("prune webhook delivery log", "err", err)
			} else if n > 0 {
				d.Logger.Info("webhook delivery log pruned", "entries", n, "older_than", d.LogRetention)
			}
			if n, err := d.Store.PruneNotifications(ctx, d.Now().Add(-d.FeedRetention)); err != nil && ctx.Err() == nil {
				d.Logger.Error("prune change feed", "err", err)
			} else if n > 0 {
				d.Logger.Info("change feed pruned", "notifications", n, "older_than", d.FeedRetention)
			}
		}
		hooks, err := d.Store.Webhooks(ctx)
		if err != nil && ctx.Err() == nil {
			d.Logger.Error("list webhooks", "err", err)
		}
		if err == nil {
			seen := map[string]bool{}
			for _, w := range hooks {
				seen[w.ID] = true
				if r, ok := workers[w.ID]; ok {
					select {
					case <-r.done: // it stopped on its own; start again
					default:
						continue
					}
				}
				wctx, cancel := context.WithCancel(ctx)
				r := running{cancel, make(chan struct{})}
				workers[w.ID] = r
				d.wg.Add(1)
				go func(id string) {
					defer d.wg.Done()
					defer close(r.done)
					d.work(wctx, id)
				}(w.ID)
			}
			for id, r := range workers {
				if !seen[id] {
					r.cancel()
					delete(workers, id)
				}
			}
		}
		if sleep(ctx, d.Poll) != nil {
			return
		}
	}
}

// work delivers one webhook's notifications in feed order until ctx ends
// or the webhook is removed.
func (d *Dispatcher) work(ctx context.Context, id string) {
	for ctx.Err() == nil {
		progressed, err := d.step(ctx, id)
		if apperr.Code(err) == apperr.ENOTFOUND {
			return
		}
		if err != nil && ctx.Err() == nil {
			d.Logger.Error("webhook delivery", "webhook", id, "err", err)
		}
		if !progressed && sleep(ctx, d.Poll) != nil {
			return
		}
	}
}

// step reads a batch after the cursor and delivers what the webhook
// subscribes to; progressed says whether to go on at once.
func (d *Dispatcher) step(ctx context.Context, id string) (progressed bool, err error) {
	w, err := d.Store.Webhook(ctx, id)
	if err != nil || w.Paused != nil {
		return false, err
	}
	ns, err := d.Store.Notifications(ctx, w.Cursor, d.Batch)
	if err != nil || len(ns) == 0 {
		return false, err
	}
	var pass int64 // the last notification passed over since the last delivery
	for _, n := range ns {
		if !w.Wants(n.Type) {
			pass = n.Seq
			continue
		}
		ok, err := d.deliver(ctx, id, n)
		if !ok || err != nil {
			return false, err
		}
		pass = 0 // the delivery moved the cursor over what came before
	}
	if pass > 0 {
		if err := d.Store.PassWebhook(ctx, id, pass); err != nil {
			return false, err
		}
	}
	return true, nil
}

// deliver sends one notification until the receiver takes it (true), or
// refuses it for good and the webhook is paused, or ctx ends (false).
func (d *Dispatcher) deliver(ctx context.Context, id string, n hub.Notification) (bool, error) {
	body, err := json.Marshal(NewPayload(n))
	if err != nil {
		return false, err
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = d.InitialBackoff, d.MaxBackoff, 0 // never give up
	b.Multiplier, b.RandomizationFactor, b.Clock = 2, 0.5, nowFunc(d.Now)
	b.Reset()
	for attempt := 1; ; attempt++ {
		// Read again before each attempt: the webhook may have been
		// removed, paused or given a new URL or secret meanwhile.
		w, err := d.Store.Webhook(ctx, id)
		if err != nil {
			return false, err
		}
		if w.Paused != nil || w.Cursor >= n.Seq {
			return false, nil
		}
		r := d.send(ctx, w, n, body, strconv.FormatInt(n.Seq, 10))
		if ctx.Err() != nil && r.Outcome != hub.DeliveryDelivered {
			return false, nil // cut off by shutdown; delivered again after a restart
		}
		r.Delivery.Attempt = attempt
		d.deliveries.With(id, r.Outcome).Inc()
		// A 2xx is recorded even while shutting down, so the window in which
		// a receiver gets a notification twice stays as small as a commit.
		if err := d.Store.RecordDelivery(context.WithoutCancel(ctx), r.Delivery); err != nil {
			return false, err
		}
		switch r.Outcome {
		case hub.DeliveryDelivered:
			return true, nil
		case hub.DeliveryFailed:
			d.Logger.Warn("webhook paused: the receiver refused a delivery; fix it, then 'attesta-hub webhook resume'",
				"webhook", id, "url", w.URL, "event", n.Seq, "status", r.StatusCode, "err", r.Error)
			return false, nil
		}
		wait := b.NextBackOff()
		if r.retryAfter > 0 {
			wait = min(r.retryAfter, d.MaxRetryAfter)
		}
		d.Logger.Info("webhook delivery will be retried", "webhook", id, "event", n.Seq, "attempt", attempt,
			"status", r.StatusCode, "err", r.Error, "in", wait.Round(time.Millisecond))
		if err := d.Sleep(ctx, wait); err != nil {
			return false, nil
		}
	}
}

// nowFunc is a clock for backoff.
type nowFunc func() time.Time

func (f nowFunc) Now() time.Time { return f() }

type result struct {
	hub.Delivery
	retryAfter time.Duration
}

// maxErrorBody bounds how much of a refusal's body the log keeps.
const maxErrorBody = 512

// TestType is the type of the notification Test sends.
const TestType = "webhook.test"

// Test sends w one signed webhook.test notification, outside the feed and
// the delivery log, and returns how the receiver answered (Outcome is
// delivered, retry or failed, as a real delivery's would be).
func (d *Dispatcher) Test(ctx context.Context, w *hub.Webhook) hub.Delivery {
	if d.Client == nil {
		d.Client = NewClient(d.Timeout)
	}
	now := d.Now()
	p := Payload{ID: "test-" + strconv.FormatInt(now.UnixNano(), 10), Type: TestType, At: now.UTC(),
		Data: json.RawMessage(`{"message":"a test from attesta-hub webhook test"}`)}
	body, _ := json.Marshal(p)
	r := d.send(ctx, w, hub.Notification{Type: TestType}, body, p.ID)
	return r.Delivery
}

// send makes one attempt.
func (d *Dispatcher) send(ctx context.Context, w *hub.Webhook, n hub.Notification, body []byte, eventID string) (r result) {
	start := d.Now()
	r = result{Delivery: hub.Delivery{WebhookID: w.ID, Seq: n.Seq, Type: n.Type, AttemptedAt: start}}
	defer func() { r.DurationMS = d.Now().Sub(start).Milliseconds() }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		r.Outcome, r.Error = hub.DeliveryFailed, err.Error()
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "attesta-hub/"+hub.Version)
	req.Header.Set(webhook.EventIDHeader, eventID)
	req.Header.Set(webhook.EventTypeHeader, n.Type)
	req.Header.Set(webhook.WebhookIDHeader, w.ID)
	now := d.Now()
	req.Header.Set(webhook.SignatureHeader, webhook.SignAll(now, body, w.Secrets(now)...))
	resp, err := d.Client.Do(req)
	if err != nil {
		r.Outcome, r.Error = hub.DeliveryRetry, err.Error()
		return r
	}
	defer resp.Body.Close()
	r.StatusCode = resp.StatusCode
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused, within bounds
	switch c := resp.StatusCode; {
	case c >= 200 && c < 300:
		r.Outcome = hub.DeliveryDelivered
	case c >= 500, c == http.StatusRequestTimeout, c == http.StatusTooEarly, c == http.StatusTooManyRequests:
		r.Outcome, r.Error = hub.DeliveryRetry, summary(resp, head)
		r.retryAfter = RetryAfter(resp.Header.Get("Retry-After"), d.Now())
	case c >= 300 && c < 400:
		r.Outcome, r.Error = hub.DeliveryFailed, fmt.Sprintf("%s: redirect to %q not followed (only same-host 307/308 are); update the webhook's URL",
			resp.Status, resp.Header.Get("Location"))
	default:
		r.Outcome, r.Error = hub.DeliveryFailed, summary(resp, head)
	}
	return r
}

// summary is a refusal's status and the start of its body, as valid text.
func summary(resp *http.Response, head []byte) string {
	s := strings.ToValidUTF8(strings.TrimSpace(string(head)), "?")
	for len(s) > 200 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	if s == "" {
		return resp.Status
	}
	return resp.Status + ": " + s
}

// RetryAfter parses a Retry-After value (seconds or an HTTP date); 0 when
// absent or unusable.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 || s > 1<<31 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Collect writes the delivery counters and each webhook's lag (metrics.Collector).
func (d *Dispatcher) Collect(w *metrics.Writer) {
	d.deliveries.Collect(w)
	lags, err := d.Store.WebhookLags(w.Context())
	if err != nil {
		return
	}
	w.Family("attesta_hub_webhook_lag_seconds", "Age of the oldest notification a webhook has not yet been delivered (0 when caught up).", metrics.Gauge)
	for _, l := range lags {
		w.Sample("attesta_hub_webhook_lag_seconds", l.Seconds, "webhook", l.ID)
	}
	w.Family("attesta_hub_webhook_pending", "Notifications after a webhook's cursor (of any type).", metrics.Gauge)
	for _, l := range lags {
		w.Sample("attesta_hub_webhook_pending", float64(l.Pending), "webhook", l.ID)
	}
	w.Family("attesta_hub_webhook_paused", "1 while a webhook is paused after a refused delivery.", metrics.Gauge)
	for _, l := range lags {
		v := 0.0
		if l.Paused {
			v = 1
		}
		w.Sample("attesta_hub_webhook_paused", v, "webhook", l.ID)
	}
}
