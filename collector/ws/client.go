// Package ws is the collector's connection to the hub: enrollment over
// HTTP(S) and the sync session over a gorilla/websocket connection, with
// exponential backoff and jitter that never gives up.
package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/attesta/attesta/collector"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/wire"
)

// Outbox is what the client needs of the outbox.
type Outbox interface {
	collector.Outbox
	Appended() <-chan struct{}
}

// Client syncs an outbox to the hub. Exported fields are options.
type Client struct {
	Outbox   Outbox
	Identity *collector.Identity
	Logger   *slog.Logger
	Clock    *hlc.Clock
	Now      func() time.Time
	// NewBackOff makes the reconnect policy; the default never gives up.
	NewBackOff   func() backoff.BackOff
	PingInterval time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	ReadLimit    int64
	Poll         time.Duration // how often an idle session looks for new records anyway

	syncNow chan struct{}
	stop    stopper
	Stats   Stats

	mu        sync.Mutex
	connected bool
	lastSync  time.Time
	lastErr   string
}

// NewClient returns a client with production defaults.
func NewClient(o Outbox, id *collector.Identity, clock *hlc.Clock) *Client {
	return &Client{
		Outbox: o, Identity: id, Logger: slog.Default(), Clock: clock, Now: time.Now,
		NewBackOff: func() backoff.BackOff {
			b := backoff.NewExponentialBackOff()
			b.InitialInterval, b.MaxInterval, b.Multiplier, b.RandomizationFactor = time.Second, time.Minute, 2, 0.5
			b.MaxElapsedTime = 0 // never give up (the v4 default stops after 15 minutes)
			return b
		},
		PingInterval: 20 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 15 * time.Second,
		ReadLimit: 16 << 20, Poll: 5 * time.Second, syncNow: make(chan struct{}, 1),
		stop: newStopper(),
	}
}

// State is the connection as the kiosk shows it.
func (c *Client) State() (connected bool, lastSync time.Time, lastErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected, c.lastSync, c.lastErr
}

func (c *Client) setState(f func()) { c.mu.Lock(); f(); c.mu.Unlock() }

// SyncNow wakes the client: an idle session looks for records at once, a
// waiting reconnect dials at once.
func (c *Client) SyncNow() {
	select {
	case c.syncNow <- struct{}{}:
	default:
	}
}

// Run syncs until ctx ends, reconnecting with backoff after every failure.
func (c *Client) Run(ctx context.Context) error {
	b := c.NewBackOff()
	var wait time.Duration
	woken := false // the last wait was cut short by SyncNow
	for {
		healthy, err := c.session(ctx)
		if c.stop.requested() {
			c.setState(func() { c.connected = false })
			return nil
		}
		c.setState(func() {
			c.connected = false
			if err != nil {
				c.lastErr = apperr.Message(err)
				if apperr.Code(err) == apperr.EINTERNAL {
					c.lastErr = err.Error()
				}
			}
		})
		if ctx.Err() != nil {
			return nil
		}
		if healthy {
			b.Reset()
			woken = false
		}
		// A dial made on request (a capture, "sync now") does not make the
		// next wait longer: a busy kiosk with the hub down must not push its
		// retries out to the maximum.
		if !woken || wait == 0 {
			wait = b.NextBackOff()
		}
		delay := wait
		var ra *retryAfter
		if errors.As(err, &ra) && ra.d > delay {
			delay = ra.d
		}
		c.Logger.Warn("sync disconnected", "err", err, "retry_in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
			woken = false
		case <-c.syncNow:
			t.Stop()
			woken = true
		case <-c.stop.ctx.Done():
			t.Stop()
			return nil
		}
	}
}

type retryAfter struct {
	d   time.Duration
	err error
}

func (r *retryAfter) Error() string { return r.err.Error() }
func (r *retryAfter) Unwrap() error { return r.err }

// SyncURL turns the hub base URL into the websocket URL.
func SyncURL(hub string) (string, error) {
	u, err := url.Parse(hub)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("hub URL %q must start with http:// or https://", hub)
	}
	u.Path = strings.TrimRight(u.Path, "/") + wire.SyncPath
	return u.String(), nil
}

func (c *Client) dial(ctx context.Context) (*websocket.Conn, error) {
	u, err := SyncURL(c.Identity.HubURL)
	if err != nil {
		return nil, err
	}
	d := websocket.Dialer{HandshakeTimeout: 15 * time.Second, Proxy: http.ProxyFromEnvironment, ReadBufferSize: 16 << 10, WriteBufferSize: 64 << 10}
	conn, resp, err := d.DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + c.Identity.Token}})
	if err == nil {
		return conn, nil
	}
	if resp == nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	defer resp.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	herr := fmt.Errorf("hub refused the connection: %s %s", resp.Status, body.Error.Message)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return nil, apperr.Errorf(apperr.EUNAUTHORIZED, "hub refused this device: %s", body.Error.Message)
	case http.StatusForbidden:
		return nil, apperr.Errorf(apperr.EFORBIDDEN, "hub refused this device: %s", body.Error.Message)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return nil, &retryAfter{d: time.Duration(secs) * time.Second, err: herr}
	}
	return nil, herr
}

type inflight struct {
	batch   uint64
	epoch   string
	through uint64
}

// session runs one connection. healthy reports whether it got far enough
// (a welcome and an ack, or a long quiet life) to reset the backoff.
func (c *Client) session(ctx context.Context) (healthy bool, err error) {
	dctx, cancel := context.WithCancel(ctx)
	defer context.AfterFunc(c.stop.ctx, cancel)() // Stop ends a dial in progress
	defer cancel()
	conn, err := c.dial(dctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	conn.SetReadLimit(c.ReadLimit)
	started := c.Now()
	defer func() {
		if c.Now().Sub(started) > 30*time.Second {
			healthy = true
		}
	}()

	if err := c.hello(ctx, conn); err != nil {
		return false, err
	}
	conn.SetReadDeadline(time.Now().Add(c.ReadTimeout))
	f, err := readFrame(conn)
	if err != nil {
		return false, fmt.Errorf("waiting for welcome: %w", err)
	}
	if f.Type == wire.TError {
		return false, apperr.Errorf(f.Error.Code, "hub: %s", f.Error.Message)
	}
	if f.Type != wire.TWelcome {
		return false, fmt.Errorf("expected welcome, got %s", f.Type)
	}
	w := f.Welcome
	c.Clock.Update(w.HLC)
	if err := c.resume(ctx, w.Positions); err != nil {
		return false, err
	}
	if err := c.applyPublicURL(ctx, w.PublicURL); err != nil {
		return false, err
	}
	c.setState(func() { c.connected, c.lastErr = true, "" })
	c.Stats.Sessions.Add(1)
	c.Logger.Info("sync connected", "hub", c.Identity.HubURL, "clock_offset_ms", w.ClockOffsetMS)

	g, gctx := errgroup.WithContext(ctx)
	out := make(chan *wire.Frame, w.Window+2)
	in := make(chan *wire.Frame, w.Window+2)
	g.Go(func() error { return c.writer(gctx, conn, out) })
	// A read error (the hub's close frame, a cut) closes in after the frames
	// read before it, so the acks that arrived are applied before the
	// session ends; pump returns readErr then.
	var readErr error
	g.Go(func() error {
		defer close(in)
		conn.SetPongHandler(func(string) error { conn.SetReadDeadline(time.Now().Add(c.ReadTimeout)); return nil })
		for {
			conn.SetReadDeadline(time.Now().Add(c.ReadTimeout))
			f, err := readFrame(conn)
			if err != nil {
				if gctx.Err() == nil {
					readErr = err
				}
				return nil
			}
			select { // prefer delivering a frame already read (an ack) over stopping
			case in <- f:
				continue
			default:
			}
			select {
			case in <- f:
			case <-gctx.Done():
				return nil
			}
		}
	})
	g.Go(func() error {
		<-gctx.Done()
		conn.Close()
		return nil
	})
	g.Go(func() error {
		return c.pump(gctx, w, in, out, &healthy, &readErr)
	})
	err = g.Wait()
	if err == nil && ctx.Err() == nil {
		err = errors.New("connection closed")
	}
	return healthy, err
}

func readFrame(conn *websocket.Conn) (*wire.Frame, error) {
	_, b, err := conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	return wire.Decode(b)
}

func (c *Client) hello(ctx context.Context, conn *websocket.Conn) error {
	streams, err := c.Outbox.Streams(ctx)
	if err != nil {
		return err
	}
	st, err := c.Outbox.Status(ctx, time.Time{})
	if err != nil {
		return err
	}
	b, err := wire.Encode(&wire.Frame{Type: wire.THello, Hello: &wire.Hello{
		Collector: c.Identity.CollectorID, DeviceTime: c.Now().Format(time.RFC3339Nano), HLC: c.Clock.Tick(),
		Streams: streams, Pending: st.Pending, ConfigSeq: st.ConfigSeq, AppVersion: collector.Version,
	}})
	if err != nil {
		return err
	}
	conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
	return conn.WriteMessage(websocket.TextMessage, b)
}

// applyPublicURL keeps the kiosk's QR codes pointing where the hub says
// visitors' phones reach it.
func (c *Client) applyPublicURL(ctx context.Context, u string) error {
	if u == "" {
		return nil
	}
	cat, err := c.Outbox.Catalog(ctx)
	if err != nil || cat.PublicURL == u {
		return err
	}
	cat.PublicURL = u
	c.Logger.Info("hub public URL changed", "public_url", u)
	return c.Outbox.ApplyCatalog(ctx, cat)
}

// resume reconciles the outbox with how far the hub has committed.
func (c *Client) resume(ctx context.Context, positions []wire.Position) error {
	streams, err := c.Outbox.Streams(ctx)
	if err != nil {
		return err
	}
	hubAt := map[string]wire.Position{}
	for _, p := range positions {
		hubAt[p.Epoch] = p
	}
	forked := false
	for i, st := range streams {
		p := hubAt[st.Epoch]
		switch {
		case p.Through == 0:
			if st.Acked > 0 { // the hub lost what it acknowledged (restored from a backup): send it again
				c.Logger.Warn("hub has nothing of an epoch it acknowledged; resending", "epoch", st.Epoch, "acked", st.Acked)
				if err := c.Outbox.Rewind(ctx, st.Epoch, 0); err != nil {
					return err
				}
			}
		default:
			local, err := c.Outbox.HashAt(ctx, st.Epoch, p.Through)
			if err != nil {
				return err
			}
			if p.Through > st.Head || local != p.Hash {
				// The hub holds a different history at our positions: this
				// database is a restored copy. Send everything of the epoch (the
				// hub keeps both versions as a fork) and continue in a new epoch.
				c.Logger.Warn("fork: the hub holds other records at this device's positions; resending and starting a new epoch",
					"epoch", st.Epoch, "hub_through", p.Through, "local_head", st.Head)
				if err := c.Outbox.Rewind(ctx, st.Epoch, 0); err != nil {
					return err
				}
				forked = forked || i == len(streams)-1
				continue
			}
			if err := c.Outbox.Ack(ctx, st.Epoch, p.Through, nil); err != nil {
				return err
			}
			if p.Through < st.Acked {
				c.Logger.Warn("hub is behind this device's acks; resending", "epoch", st.Epoch, "hub_through", p.Through, "acked", st.Acked)
				if err := c.Outbox.Rewind(ctx, st.Epoch, p.Through); err != nil {
					return err
				}
			}
		}
	}
	if forked {
		if _, err := c.Outbox.NewEpoch(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) writer(ctx context.Context, conn *websocket.Conn, out <-chan *wire.Frame) error {
	ping := time.NewTicker(c.PingInterval)
	defer ping.Stop()
	for {
		select {
		case f := <-out:
			b, err := wire.Encode(f)
			if err != nil {
				return err
			}
			conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.WriteTimeout)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		case <-ctx.Done():
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			return nil
		}
	}
}

// pump sends pending records in bounded batches with a window in flight and
// applies acks and configuration as they come.
func (c *Client) pump(ctx context.Context, w *wire.Welcome, in <-chan *wire.Frame, out chan<- *wire.Frame, healthy *bool, readErr *error) error {
	maxBatch, maxBytes, window := max(w.MaxBatch, 1), max(w.MaxBatchBytes, 64<<10), max(w.Window, 1)
	var queue []inflight
	var batchID uint64
	cursorEpoch, cursorSeq := "", uint64(0)
	poll := time.NewTicker(c.Poll)
	defer poll.Stop()
	idle := false

	draining := false // Stop was called: send nothing more, wait for the acks in flight
	fill := func() error {
		for !draining && len(queue) < window {
			recs, err := c.Outbox.Pending(ctx, cursorEpoch, cursorSeq, maxBatch)
			if err != nil {
				return err
			}
			if len(recs) == 0 {
				if len(queue) == 0 && !idle {
					idle = true
					c.setState(func() { c.lastSync = c.Now() })
				}
				return nil
			}
			idle = false
			epoch, size, n := recs[0].Epoch, 0, 0
			for _, r := range recs {
				sz := len(r.Signed.Envelope) + 2*len(r.Signed.Sig) + 32
				if r.Epoch != epoch || (n > 0 && size+sz > maxBytes) {
					break
				}
				size += sz
				n++
			}
			batch := make([]record.Signed, 0, n)
			for _, r := range recs[:n] {
				batch = append(batch, r.Signed)
			}
			batchID++
			last := recs[n-1]
			select {
			case out <- &wire.Frame{Type: wire.TPush, Push: &wire.Push{Batch: batchID, Records: batch}}:
			case <-ctx.Done():
				return nil
			}
			queue = append(queue, inflight{batch: batchID, epoch: last.Epoch, through: last.Seq})
			cursorEpoch, cursorSeq = last.Epoch, last.Seq
		}
		return nil
	}

	// ack records an ack received. Not cancelled with the session: a write
	// failing after the hub's close frame must not abort recording an ack
	// that came before it.
	ack := func(a *wire.Ack) error {
		if len(queue) == 0 || queue[0].batch != a.Batch {
			return fmt.Errorf("ack for batch %d was not expected", a.Batch)
		}
		q := queue[0]
		queue = queue[1:]
		if err := c.Outbox.Ack(context.WithoutCancel(ctx), q.epoch, q.through, a.Rejected); err != nil {
			return err
		}
		for _, r := range a.Rejected {
			c.Logger.Warn("hub quarantined a record", "record", r.ID, "seq", r.Seq, "code", r.Code, "reason", r.Reason)
		}
		c.Stats.Acked.Add(int64(a.Accepted + a.Duplicates + len(a.Rejected)))
		*healthy = true
		c.setState(func() { c.lastSync = c.Now() })
		return nil
	}

	// ended applies the acks already received once the session has ended
	// (a write failed after the hub's close frame, or a stop), so the hub's
	// commits are not sent again and the kiosk shows them synced while the
	// hub is away. in closes once the reader has returned, which the closed
	// connection makes prompt.
	ended := func() error {
		for f := range in {
			if f.Type == wire.TAck {
				if err := ack(f.Ack); err != nil {
					return nil
				}
			}
		}
		return nil
	}
	for {
		if err := fill(); err != nil {
			if ctx.Err() != nil {
				return ended()
			}
			return err
		}
		if draining && len(queue) == 0 {
			return errStopped
		}
		select {
		case <-ctx.Done():
			return ended()
		case f, ok := <-in:
			if !ok {
				return *readErr // set before in was closed
			}
			switch f.Type {
			case wire.TAck:
				if err := ack(f.Ack); err != nil {
					return err
				}
			case wire.TConfig:
				cat := f.Config.Catalog
				cur, err := c.Outbox.Catalog(ctx)
				if ctx.Err() != nil {
					return ended() // the hub sends the config again next session
				}
				if err != nil {
					return err
				}
				if cat.Seq < cur.Seq {
					c.Logger.Warn("config older than the one applied; ignored", "seq", cat.Seq, "applied", cur.Seq)
					continue
				}
				if cat.Seq > cur.Seq {
					// One transaction: the kiosk sees the old catalog or the new, never a mix.
					if err := c.Outbox.ApplyCatalog(ctx, &cat); err != nil {
						if ctx.Err() != nil {
							return ended()
						}
						c.Logger.Error("config refused", "seq", cat.Seq, "err", err)
						continue
					}
					c.Stats.ConfigsApplied.Add(1)
					active := make([]string, 0, len(cat.Notices))
					for _, n := range cat.Active() {
						active = append(active, n.ID+"/"+strconv.Itoa(n.Version))
					}
					c.Logger.Info("config applied", "seq", cat.Seq, "notices", strings.Join(active, ","))
				}
				select {
				case out <- &wire.Frame{Type: wire.TConfigAck, ConfigAck: &wire.ConfigAck{Seq: cat.Seq}}:
				case <-ctx.Done():
					return ended()
				}
			case wire.TError:
				return apperr.Errorf(f.Error.Code, "hub: %s", f.Error.Message)
			default:
				return fmt.Errorf("unexpected %s frame from the hub", f.Type)
			}
		case <-c.Outbox.Appended():
		case <-c.syncNow:
		case <-poll.C:
		case <-c.stop.ctx.Done():
			draining = true
		}
	}
}

// Enroll spends a one-time code at the hub and returns what the hub gave.
func Enroll(ctx context.Context, hubURL string, req wire.EnrollRequest) (*wire.EnrollResponse, error) {
	u, err := url.Parse(hubURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, apperr.Errorf(apperr.EINVALID, "--hub %q is not an http:// or https:// URL", hubURL)
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(hubURL, "/")+wire.EnrollPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(hreq)
	if err != nil {
		return nil, apperr.Errorf(apperr.EUNAVAILABLE, "cannot reach the hub at %s: %v", hubURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusCreated {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
			return nil, apperr.Errorf(e.Error.Code, "enrollment refused: %s", e.Error.Message)
		}
		return nil, apperr.Errorf(apperr.EUNAVAILABLE, "enrollment failed: hub answered %s", resp.Status)
	}
	var out wire.EnrollResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("malformed enrollment response: %w", err)
	}
	return &out, nil
}
