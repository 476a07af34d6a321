package ws

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

var (
	// errDrained ends a session whose reads have stopped for a shutdown,
	// after what was read has been committed and acknowledged.
	errDrained = errors.New("hub shutting down; session drained")
	// errDraining is what a read returns once the session drains.
	errDraining = errors.New("session draining")
)

// Shutdown stops the server gracefully: new sessions are refused (429 with
// Retry-After), live sessions stop reading, commit the batches they have
// read, send those acks and close. When ctx ends first, the sessions left
// are cut off and start no further batch (one inside its transaction still
// commits; its ack is lost and the collector resends it, which the hub
// counts as duplicates).
// Shutdown returns when every session has ended.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, sess := range s.sessions {
		sess.drain()
	}
	stop, watchDone := s.watchStop, s.watchDone
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-watchDone
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.sessions)
	for _, sess := range s.sessions {
		sess.abort()
	}
	s.mu.Unlock()
	s.Logger.Warn("sync sessions cut off at the shutdown deadline", "sessions", n)
	<-done
	return ctx.Err()
}

// Close ends every session at once and waits for them; a batch inside its
// transaction still commits.
func (s *Server) Close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Shutdown(ctx)
}

// attach gives the session its connection once upgraded; a session told to
// drain before that stops reading at once.
func (ss *session) attach(conn *websocket.Conn) {
	ss.drainMu.Lock()
	defer ss.drainMu.Unlock()
	ss.conn = conn
	if ss.draining {
		conn.SetReadDeadline(time.Now())
	}
}

// drain stops the session's reads: the read in progress returns at once
// and no new one starts.
func (ss *session) drain() {
	ss.drainMu.Lock()
	defer ss.drainMu.Unlock()
	ss.draining = true
	if ss.conn != nil {
		ss.conn.SetReadDeadline(time.Now())
	}
}

func (ss *session) isDraining() bool {
	ss.drainMu.Lock()
	defer ss.drainMu.Unlock()
	return ss.draining
}

// extendRead moves the read deadline timeout ahead unless the session is
// draining; under the lock, so a drain's deadline is never overwritten.
func (ss *session) extendRead(timeout time.Duration) bool {
	ss.drainMu.Lock()
	defer ss.drainMu.Unlock()
	if ss.draining {
		return false
	}
	ss.conn.SetReadDeadline(time.Now().Add(timeout))
	return true
}

// abort cuts the session off: its context ends and its connection closes.
func (ss *session) abort() {
	ss.cancel(errClosed)
	ss.drainMu.Lock()
	defer ss.drainMu.Unlock()
	if ss.conn != nil {
		ss.conn.Close()
	}
}

// lingerTimeout bounds how long a drained session waits for the collector
// to close its end.
const lingerTimeout = 2 * time.Second

// linger, for a drained session whose acks and close frame are written,
// reads and discards until the collector closes its end. Closing with the
// collector's unread pushes still in the receive buffer would send a TCP
// reset, and a reset can destroy the acks before the collector reads them.
func (ss *session) linger() {
	if !ss.isDraining() {
		return
	}
	nc := ss.conn.NetConn()
	nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.Copy(io.Discard, nc)
}
