package ws

import (
	"context"
	"errors"
	"sync/atomic"
)

// Stats are the client's running totals since start.
type Stats struct {
	Sessions       atomic.Int64 // sessions that got a welcome
	Acked          atomic.Int64 // records the hub acknowledged (stored, duplicate or quarantined)
	ConfigsApplied atomic.Int64 // configuration snapshots applied
}

// errStopped ends a session that Stop drained.
var errStopped = errors.New("sync stopped")

// stopper is Stop's signal, as a context so a dial in progress can end too.
type stopper struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newStopper() stopper {
	ctx, cancel := context.WithCancel(context.Background())
	return stopper{ctx: ctx, cancel: cancel}
}

func (s stopper) requested() bool { return s.ctx.Err() != nil }

// Stop asks Run to finish gracefully: the session sends nothing more,
// waits for the acks of the batches in flight (so the hub's commits are
// recorded here and not resent), closes, and Run returns without
// reconnecting. Cancelling Run's context remains the hard stop.
func (c *Client) Stop() { c.stop.cancel() }

// SyncSessions is how many sessions the hub welcomed since start.
func (c *Client) SyncSessions() int64 { return c.Stats.Sessions.Load() }

// RecordsAcked is how many records the hub acknowledged since start.
func (c *Client) RecordsAcked() int64 { return c.Stats.Acked.Load() }
