// Package ws serves the collectors' sync websocket (gorilla/websocket). Each
// session has one reader, one writer, a verify stage that spreads crypto
// over all cores and a commit stage that acknowledges a batch only after the
// store has committed it.
package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/wire"
)

// Server accepts sync sessions. Exported fields are options; set them
// before the first request.
type Server struct {
	Store  hub.SyncStore
	Keys   *hub.Keys
	Logger *slog.Logger
	Now    func() time.Time
	Clock  *hlc.Clock

	ReadLimit     int64         // largest frame accepted, bytes
	MaxBatch      int           // records per push the collector may send
	MaxBatchBytes int           // encoded bytes per push the collector may send
	Window        int           // pushes in flight per session
	PingInterval  time.Duration // keepalive
	ReadTimeout   time.Duration // no frame or pong for this long ends a session
	WriteTimeout  time.Duration
	HelloTimeout  time.Duration
	SkewBound     time.Duration // device clocks off by more are flagged
	MaxSessions   int           // beyond this, 429 with Retry-After
	Workers       int           // verify goroutines per batch
	PublicURL     string        // sent down in the catalog when set
	ConfigPoll    time.Duration // how often the config log is checked for changes other processes made

	Stats Stats

	mu       sync.Mutex
	sessions map[string]*session
	closed   bool
	wg       sync.WaitGroup
	figures  figures // per-code and per-device figures for /metrics

	// ahead bounds the records verified, across all sessions, that wait for
	// the store's one writer (aheadBatches × MaxBatch; made with the first
	// session). Verification runs on every core; when the writer is what
	// limits ingest, verifying further ahead only takes CPU from it.
	ahead *semaphore.Weighted

	configKick chan struct{}      // ConfigChanged: look at the config log now
	watchStop  context.CancelFunc // stops the config watcher; nil until the first session
	watchDone  chan struct{}

	frameMu     sync.Mutex
	configFrame []byte // the newest config frame, encoded once for every session
	frameSeq    int64
}

// Stats are the server's running totals.
type Stats struct {
	Sessions       atomic.Int64
	Accepted       atomic.Int64
	Duplicates     atomic.Int64
	Conflicts      atomic.Int64
	Forks          atomic.Int64
	Rejected       atomic.Int64
	ProtocolErrors atomic.Int64
	AuthFailures   atomic.Int64
	Batches        atomic.Int64
}

// NewServer returns a server with production defaults.
func NewServer(store hub.SyncStore, keys *hub.Keys) *Server {
	return &Server{
		Store: store, Keys: keys, Logger: slog.Default(), Now: time.Now, Clock: &hlc.Clock{Now: time.Now, MaxOffset: time.Minute},
		ReadLimit: 16 << 20, MaxBatch: 500, MaxBatchBytes: 8 << 20, Window: 8,
		PingInterval: 20 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 15 * time.Second, HelloTimeout: 15 * time.Second,
		SkewBound: 5 * time.Minute, MaxSessions: 2000, Workers: runtime.GOMAXPROCS(0), ConfigPoll: 2 * time.Second,
		sessions: map[string]*session{}, configKick: make(chan struct{}, 1),
	}
}

var upgrader = websocket.Upgrader{
	ReadBufferSize: 64 << 10, WriteBufferSize: 16 << 10,
	// Collectors are programs, not pages: a browser's cross-site upgrade is refused.
	CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" },
}

func httpError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// ServeHTTP authenticates the device before upgrading, then runs the session.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		s.Stats.AuthFailures.Add(1)
		httpError(w, http.StatusUnauthorized, apperr.EUNAUTHORIZED, "missing device token (Authorization: Bearer ...)")
		return
	}
	dev, err := s.Store.DeviceByToken(r.Context(), token)
	if err != nil {
		s.Stats.AuthFailures.Add(1)
		status := apperr.HTTPStatus(apperr.Code(err))
		if status == http.StatusInternalServerError {
			s.Logger.Error("sync auth", "err", err)
		}
		s.Logger.Warn("sync refused", "remote", r.RemoteAddr, "reason", apperr.Message(err))
		httpError(w, status, apperr.Code(err), apperr.Message(err))
		return
	}
	sess, err := s.register(dev)
	if err != nil {
		w.Header().Set("Retry-After", strconv.Itoa(5+int(time.Now().UnixNano()%10)))
		httpError(w, http.StatusTooManyRequests, apperr.EUNAVAILABLE, err.Error())
		return
	}
	defer s.unregister(sess)
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.Logger.Warn("sync upgrade failed", "device", dev.ID, "err", err)
		return
	}
	sess.attach(conn)
	s.Stats.Sessions.Add(1)
	defer s.Stats.Sessions.Add(-1)
	err = sess.run()
	lvl := slog.LevelInfo
	if err != nil && !errors.Is(err, errClosed) && !errors.Is(err, errDrained) {
		lvl = slog.LevelWarn
	}
	s.Logger.Log(context.Background(), lvl, "sync session ended", "device", dev.ID, "err", err)
}

var errClosed = errors.New("session closed")

func (s *Server) register(dev *hub.Device) (*session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("hub is shutting down; retry later")
	}
	if old := s.sessions[dev.ID]; old != nil {
		// A reconnect while the old connection is half-dead: the new one wins.
		old.cancel(errors.New("replaced by a new connection from the same device"))
	} else if len(s.sessions) >= s.MaxSessions {
		return nil, fmt.Errorf("too many collectors syncing (%d); retry later", s.MaxSessions)
	}
	if s.ahead == nil {
		s.ahead = semaphore.NewWeighted(int64(aheadBatches * s.MaxBatch))
	}
	if s.watchStop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.watchStop, s.watchDone = cancel, make(chan struct{})
		go func() { defer close(s.watchDone); s.watchConfig(ctx) }()
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sess := &session{srv: s, dev: dev, ctx: ctx, cancel: cancel, out: make(chan []byte, 8),
		configKick: make(chan struct{}, 1), prev: s.sessions[dev.ID], committed: make(chan struct{})}
	s.sessions[dev.ID] = sess
	s.wg.Add(1)
	return sess, nil
}

func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	if s.sessions[sess.dev.ID] == sess {
		delete(s.sessions, sess.dev.ID)
	}
	s.mu.Unlock()
	sess.cancel(errClosed)
	sess.commitEnded() // also for a session that never ran
	s.wg.Done()
}

// Connected lists the ids of devices with a live session.
func (s *Server) Connected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		out = append(out, id)
	}
	return out
}

type session struct {
	srv    *Server
	dev    *hub.Device
	conn   *websocket.Conn
	ctx    context.Context
	cancel context.CancelCauseFunc
	out    chan []byte // frames for the writer
	offset int64       // device minus hub, ms

	configKick chan struct{} // the config log may have moved on
	helloDone  atomic.Bool   // welcome is queued: config frames may follow
	devConfig  atomic.Int64  // the config seq the collector runs (hello, then its acks)

	// The device's row is written by one session at a time, in the order
	// the collector spoke: prev is the session this one replaced, whose
	// commit stage must end (closing committed) before this one writes.
	prev       *session
	committed  chan struct{}
	commitOnce sync.Once

	drainMu  sync.Mutex
	draining bool // the hub is shutting down: read nothing more, finish what was read
}

func (ss *session) log() *slog.Logger { return ss.srv.Logger.With("device", ss.dev.ID) }

func (ss *session) commitEnded() { ss.commitOnce.Do(func() { close(ss.committed) }) }

// devUpdate is a change to the device's row: the session's hello, or a
// config seq the collector acknowledged applying.
type devUpdate struct {
	hello     *hub.Hello
	configAck int64
}

func (ss *session) run() error {
	s := ss.srv
	ss.conn.SetReadLimit(s.ReadLimit)
	g, ctx := errgroup.WithContext(ss.ctx)
	pushes := make(chan *wire.Push, s.Window)
	verified := make(chan *verifiedBatch, s.Window)
	// The hello and config acks are recorded by the commit stage, in order
	// and before any batch read after them, not by the reader: under a
	// reconnect storm the one SQLite writer is busy with other devices'
	// batches, and a device must not wait for it to be welcomed.
	updates := make(chan devUpdate, 4)
	writerDone := make(chan struct{})

	g.Go(func() error { defer close(writerDone); return ss.writer(ctx) })
	g.Go(func() error {
		// The reader blocks in the network; closing the connection is how it stops.
		<-ctx.Done()
		select {
		case <-writerDone:
		case <-time.After(s.WriteTimeout):
		}
		ss.linger()
		return ss.conn.Close()
	})
	g.Go(func() error { defer close(pushes); return ss.reader(ctx, updates, pushes) })
	g.Go(func() error { ss.pushConfig(ctx); return nil })
	g.Go(func() error { defer close(verified); return ss.verify(ctx, pushes, verified) })
	g.Go(func() error {
		defer ss.commitEnded()
		if err := ss.commit(ctx, updates, verified); err != nil {
			return err
		}
		// Everything read has been committed and its ack queued: end the
		// session (the writer flushes the acks before its close frame).
		return errDrained
	})
	err := g.Wait()
	for vb := range verified { // verified, never committed
		s.ahead.Release(int64(len(vb.records)))
	}
	if cause := context.Cause(ss.ctx); cause != nil && err == nil {
		err = cause
	}
	return err
}

// send queues a frame for the writer.
func (ss *session) send(ctx context.Context, f *wire.Frame) error {
	b, err := wire.Encode(f)
	if err != nil {
		return err
	}
	return ss.sendEncoded(ctx, b)
}

// sendEncoded queues an encoded frame; the writer never modifies it, so
// one encoding may go to many sessions.
func (ss *session) sendEncoded(ctx context.Context, b []byte) error {
	select { // prefer queueing: the writer flushes the queue before it exits
	case ss.out <- b:
		return nil
	default:
	}
	select {
	case ss.out <- b:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// fail tells the collector why the session ends, then ends it.
func (ss *session) fail(ctx context.Context, code, msg string) error {
	ss.srv.Stats.ProtocolErrors.Add(1)
	ss.log().Warn("sync protocol error", "code", code, "reason", msg)
	ss.send(ctx, &wire.Frame{Type: wire.TError, Error: &wire.Error{Code: code, Message: msg}})
	return apperr.Errorf(code, "%s", msg)
}

func (ss *session) writer(ctx context.Context) error {
	s := ss.srv
	ping := time.NewTicker(s.PingInterval)
	defer ping.Stop()
	write := func(typ int, b []byte) error {
		ss.conn.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
		return ss.conn.WriteMessage(typ, b)
	}
	for {
		select {
		case b := <-ss.out:
			if err := write(websocket.TextMessage, b); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		case <-ping.C:
			if err := write(websocket.PingMessage, nil); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		case <-ctx.Done():
			// Flush what is queued (an error frame, a last ack), then say goodbye.
			for {
				select {
				case b := <-ss.out:
					if write(websocket.TextMessage, b) != nil {
						return nil
					}
				default:
					write(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
					return nil
				}
			}
		}
	}
}

func (ss *session) read(timeout time.Duration) (*wire.Frame, error) {
	if !ss.extendRead(timeout) {
		return nil, errDraining
	}
	typ, b, err := ss.conn.ReadMessage()
	if err != nil {
		return nil, err
	}
	if typ != websocket.TextMessage {
		return nil, apperr.Errorf(apperr.EINVALID, "binary frames are not part of the protocol")
	}
	f, err := wire.Decode(b)
	if err != nil {
		return nil, apperr.Errorf(apperr.EINVALID, "%v", err)
	}
	return f, nil
}

func (ss *session) reader(ctx context.Context, updates chan<- devUpdate, pushes chan<- *wire.Push) error {
	s := ss.srv
	ss.conn.SetPongHandler(func(string) error {
		ss.extendRead(s.ReadTimeout)
		return nil
	})
	f, err := ss.read(s.HelloTimeout)
	if err != nil {
		return ss.readErr(ctx, err)
	}
	if f.Type != wire.THello {
		return ss.fail(ctx, apperr.EINVALID, "the first frame must be hello, got "+f.Type)
	}
	h, err := ss.hello(ctx, f.Hello)
	if err != nil {
		return err
	}
	updates <- devUpdate{hello: &h} // buffered: the first update of a session
	for {
		f, err := ss.read(s.ReadTimeout)
		if err != nil {
			return ss.readErr(ctx, err)
		}
		switch f.Type {
		case wire.TPush:
			if n := len(f.Push.Records); n == 0 || n > s.MaxBatch {
				return ss.fail(ctx, apperr.EINVALID, fmt.Sprintf("a push holds 1 to %d records, got %d", s.MaxBatch, n))
			}
			select {
			case pushes <- f.Push:
			case <-ctx.Done():
				return nil
			}
		case wire.TConfigAck:
			ss.devConfig.Store(f.ConfigAck.Seq)
			select {
			case updates <- devUpdate{configAck: f.ConfigAck.Seq}:
			case <-ctx.Done():
				return nil
			}
		default:
			return ss.fail(ctx, apperr.EINVALID, "unexpected "+f.Type+" frame from a collector")
		}
	}
}

func (ss *session) readErr(ctx context.Context, err error) error {
	// Before the ctx check: the collector already got its 1009 close, so a
	// session replaced at that moment must still log and count the frame.
	if errors.Is(err, websocket.ErrReadLimit) {
		ss.srv.Stats.ProtocolErrors.Add(1)
		ss.log().Warn("sync frame over the read limit", "limit", ss.srv.ReadLimit)
		return apperr.Errorf(apperr.ETOOLARGE, "frame over the read limit of %d bytes", ss.srv.ReadLimit)
	}
	if ctx.Err() != nil || ss.isDraining() {
		return nil
	}
	if apperr.Code(err) == apperr.EINVALID {
		return ss.fail(ctx, apperr.EINVALID, apperr.Message(err))
	}
	if websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
		return errClosed
	}
	return fmt.Errorf("read: %w", err)
}

// hello measures the device's clock and answers with a welcome from
// committed state read beside the writer (positions, catalog); the hello
// itself is returned for the commit stage to record.
func (ss *session) hello(ctx context.Context, h *wire.Hello) (hub.Hello, error) {
	s := ss.srv
	now := s.Now()
	if h.Collector != ss.dev.ID {
		return hub.Hello{}, ss.fail(ctx, apperr.EFORBIDDEN, fmt.Sprintf("hello from collector %q on the token of %q", h.Collector, ss.dev.ID))
	}
	devTime, err := time.Parse(time.RFC3339Nano, h.DeviceTime)
	if err != nil {
		return hub.Hello{}, ss.fail(ctx, apperr.EINVALID, "hello.device_time is not an RFC 3339 time")
	}
	ss.offset = devTime.Sub(now).Milliseconds()
	if _, err := s.Clock.Update(h.HLC); err != nil {
		ss.log().Warn("device clock ahead of the hub; not followed", "clock_offset_ms", ss.offset)
	}
	rec := hub.Hello{DeviceID: ss.dev.ID, ClockOffsetMS: ss.offset, Pending: h.Pending,
		ConfigSeq: h.ConfigSeq, AppVersion: h.AppVersion, At: now}
	bg := context.WithoutCancel(ctx)
	epochs := make([]string, 0, len(h.Streams))
	for _, st := range h.Streams {
		epochs = append(epochs, st.Epoch)
	}
	pos, err := s.Store.Positions(bg, ss.dev.ID, epochs)
	if err != nil {
		return rec, err
	}
	cat, err := s.Store.Catalog(bg)
	if err != nil {
		return rec, err
	}
	ss.devConfig.Store(h.ConfigSeq)
	s.figures.touch(ss.dev.ID, now)
	ss.log().Info("sync session", "pending", h.Pending, "clock_offset_ms", ss.offset, "app_version", h.AppVersion)
	if err := ss.send(ctx, &wire.Frame{Type: wire.TWelcome, Welcome: &wire.Welcome{
		HubTime: now.UTC().Format(time.RFC3339Nano), HLC: s.Clock.Tick(), ClockOffsetMS: ss.offset, Positions: pos,
		ConfigSeq: cat.Seq, MaxBatch: s.MaxBatch, MaxBatchBytes: s.MaxBatchBytes, Window: s.Window, PublicURL: s.PublicURL,
	}}); err != nil {
		return rec, err
	}
	// A collector behind the config log gets the newest snapshot right
	// after the welcome, from the session's config pusher.
	ss.helloDone.Store(true)
	ss.kickConfig()
	return rec, nil
}

// ConfigChanged tells the server the config log has moved on (the API
// published a change), so connected collectors get it now rather than at
// the next poll. It never blocks.
func (s *Server) ConfigChanged() {
	select {
	case s.configKick <- struct{}{}:
	default:
	}
}

// watchConfig wakes every session when the config log moves on: at once
// after ConfigChanged, and within ConfigPoll for changes made by another
// process on the same database (attesta-hub notice publish).
func (s *Server) watchConfig(ctx context.Context) {
	t := time.NewTicker(s.ConfigPoll)
	defer t.Stop()
	last := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.configKick:
		}
		cat, err := s.Store.Catalog(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.Logger.Warn("config watch: cannot read the config log", "err", err)
			}
			continue
		}
		if cat.Seq == last {
			continue
		}
		last = cat.Seq
		s.mu.Lock()
		for _, ss := range s.sessions {
			ss.kickConfig()
		}
		s.mu.Unlock()
	}
}

func (ss *session) kickConfig() {
	select {
	case ss.configKick <- struct{}{}:
	default:
	}
}

// pushConfig sends the newest config snapshot whenever the collector is
// behind it, once per snapshot per session.
func (ss *session) pushConfig(ctx context.Context) {
	s := ss.srv
	var sent int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-ss.configKick:
		}
		if !ss.helloDone.Load() {
			continue // hello kicks again once the welcome is queued
		}
		cat, err := s.Store.Catalog(ctx)
		if err != nil {
			if ctx.Err() == nil {
				ss.log().Warn("cannot read the config to send", "err", err)
			}
			continue
		}
		if cat.Seq <= ss.devConfig.Load() || cat.Seq <= sent {
			continue
		}
		b, err := s.encodedConfig(cat)
		if err != nil {
			ss.log().Error("cannot encode the config", "seq", cat.Seq, "err", err)
			continue
		}
		if err := ss.sendEncoded(ctx, b); err != nil {
			return
		}
		sent = cat.Seq
		ss.log().Info("config sent", "seq", cat.Seq, "device_seq", ss.devConfig.Load())
	}
}

// encodedConfig returns cat as an encoded config frame, encoding each
// snapshot once however many sessions it goes to.
func (s *Server) encodedConfig(cat *catalog.Catalog) ([]byte, error) {
	s.frameMu.Lock()
	defer s.frameMu.Unlock()
	if s.configFrame != nil && s.frameSeq == cat.Seq {
		return s.configFrame, nil
	}
	if s.PublicURL != "" {
		cat.PublicURL = s.PublicURL
	}
	b, err := wire.Encode(&wire.Frame{Type: wire.TConfig, Config: &wire.Config{Catalog: *cat}})
	if err != nil {
		return nil, err
	}
	s.configFrame, s.frameSeq = b, cat.Seq
	return b, nil
}

type verifiedBatch struct {
	batch   uint64
	records []hub.Incoming
}

// aheadBatches is how many full batches may wait, verified, for the writer
// (see Server.ahead): enough that it always has the next one.
const aheadBatches = 4

func (ss *session) verify(ctx context.Context, pushes <-chan *wire.Push, out chan<- *verifiedBatch) error {
	s := ss.srv
	var v *hub.Verifier
	for p := range pushes {
		if v == nil { // pushes come only after hello has measured the offset
			v = &hub.Verifier{Device: ss.dev, Keys: s.Keys, OffsetMS: ss.offset, SkewBound: s.SkewBound, Now: s.Now}
		}
		n := int64(len(p.Records))
		if err := s.ahead.Acquire(ctx, n); err != nil {
			return nil // the session ends
		}
		recs := make([]hub.Incoming, n)
		parallel(len(recs), s.Workers, func(i int) { recs[i] = v.Verify(p.Records[i]) })
		select {
		case out <- &verifiedBatch{batch: p.Batch, records: recs}:
		case <-ctx.Done():
			s.ahead.Release(n)
			return nil
		}
	}
	return nil
}

// parallel runs fn for 0..n-1 on up to workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	if workers < 1 {
		workers = 1
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers && w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// commit is the session's one user of the store's writer. It records the
// device's updates (the hello, config acks) in the order they came, each
// before any batch read after it, so a device's figures never lag its
// records; then stores each verified batch and queues its ack. A session
// cut off (replaced, aborted, its collector gone) stops before the next
// batch: its ack could not go out, and the collector sends it again.
func (ss *session) commit(ctx context.Context, updates <-chan devUpdate, in <-chan *verifiedBatch) error {
	s := ss.srv
	if prev := ss.prev; prev != nil {
		ss.prev = nil
		select { // a replaced session's late hello must not land over ours
		case <-prev.committed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	bg := context.WithoutCancel(ctx) // a write begun is finished
	record := func(u devUpdate) error {
		if u.hello != nil {
			if err := s.Store.RecordHello(bg, *u.hello); err != nil {
				return fmt.Errorf("record hello: %w", err)
			}
			return nil
		}
		if err := s.Store.AckConfig(bg, ss.dev.ID, u.configAck); err != nil {
			return fmt.Errorf("record config ack: %w", err)
		}
		ss.log().Info("config applied", "seq", u.configAck)
		return nil
	}
	recordQueued := func() error {
		for {
			select {
			case u := <-updates:
				if err := record(u); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	for {
		var vb *verifiedBatch
		select {
		case u := <-updates:
			if err := record(u); err != nil {
				return err
			}
			continue
		case <-ctx.Done():
			if err := recordQueued(); err != nil {
				return err
			}
			return context.Cause(ctx)
		case b, ok := <-in:
			if !ok {
				return recordQueued()
			}
			vb = b
		}
		if err := recordQueued(); err != nil {
			s.ahead.Release(int64(len(vb.records)))
			return err
		}
		if ctx.Err() != nil {
			s.ahead.Release(int64(len(vb.records)))
			return context.Cause(ctx)
		}
		// A batch that reached the store is finished even if the session is
		// closing: its ack may still go out, and if not, the collector resends.
		res, err := s.Store.Ingest(bg, ss.dev.ID, vb.records)
		s.ahead.Release(int64(len(vb.records)))
		if err != nil {
			if apperr.Code(err) == apperr.EFORBIDDEN { // revoked during the session
				return ss.fail(ctx, apperr.EFORBIDDEN, apperr.Message(err))
			}
			ss.fail(ctx, apperr.EUNAVAILABLE, "the hub could not store this batch; it will be retried")
			return fmt.Errorf("ingest: %w", err)
		}
		s.Stats.Batches.Add(1)
		s.Stats.Accepted.Add(int64(res.Accepted))
		s.Stats.Duplicates.Add(int64(res.Duplicates))
		s.Stats.Conflicts.Add(int64(res.Conflicts))
		s.Stats.Forks.Add(int64(res.Forks))
		s.Stats.Rejected.Add(int64(len(res.Rejected)))
		s.figures.committed(ss.dev.ID, s.Now(), res.Rejected)
		for _, r := range res.Rejected {
			ss.log().Warn("record quarantined", "record", r.ID, "epoch", r.Epoch, "seq", r.Seq, "code", r.Code, "reason", r.Reason)
		}
		if res.Conflicts > 0 || res.Forks > 0 {
			ss.log().Warn("chain evidence kept", "conflicts", res.Conflicts, "forks", res.Forks)
		}
		if err := ss.send(ctx, &wire.Frame{Type: wire.TAck, Ack: &wire.Ack{Batch: vb.batch, Accepted: res.Accepted,
			Duplicates: res.Duplicates + res.Conflicts, Rejected: res.Rejected}}); err != nil {
			return nil
		}
	}
}
