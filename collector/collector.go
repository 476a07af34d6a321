// Package collector is the kiosk side of Attesta: it validates a visitor's
// capture against the catalog, turns it into signed, sealed records, keeps
// them in a local outbox and syncs them to the hub.
//
// The root package holds the domain types and pure rules; each dependency
// has its own subpackage: sqlite (the outbox), ws (the hub connection) and
// http (the local API and kiosk UI).
package collector

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
	"github.com/attesta/attesta/shared/wire"
)

// Version is the application version stamped on every record.
var Version = "0.1.0"

// Identity is what enrollment gives a device.
type Identity struct {
	CollectorID string
	Name        string
	Touchpoint  string
	SignKey     ed25519.PrivateKey // device key; records are signed with it
	Token       string             // bearer token for the sync connection
	HubURL      string             // where the collector enrolled
	HubSealKey  seal.PublicKey     // personal payloads are sealed to this key
	HubSignKey  ed25519.PublicKey  // the hub's countersigning key
	PINHash     string             // operator screen PIN (salted hash), "" if none
	EnrolledAt  time.Time
}

// Head is the tail of the outbox's current epoch: where the next record goes.
type Head struct {
	Epoch string
	Seq   uint64 // last seq written in Epoch (0 if none)
	Hash  string // hash of that record's envelope ("" if none; the previous epoch's last hash carries over)
}

// Pending is an outbox record not yet acknowledged by the hub.
type Pending struct {
	Epoch  string
	Seq    uint64
	Signed record.Signed
}

// Status is the collector's state at a glance.
type Status struct {
	CollectorID   string    `json:"collector_id"`
	Name          string    `json:"name"`
	Touchpoint    string    `json:"touchpoint"`
	Epoch         string    `json:"epoch"`
	Pending       int64     `json:"pending"`
	AckedThrough  uint64    `json:"acked_through"`
	Head          uint64    `json:"head"`
	Connected     bool      `json:"connected"`
	LastSyncAt    time.Time `json:"last_sync_at,omitzero"`
	LastError     string    `json:"last_error,omitempty"`
	Rejected      int64     `json:"rejected"`
	ConfigSeq     int64     `json:"config_seq"`
	CapturesToday int64     `json:"captures_today"`
	Notices       []string  `json:"notices"` // active notice versions, "id/version"
	AppVersion    string    `json:"app_version"`
}

// Outbox is the local, durable store of records and configuration.
type Outbox interface {
	// Append builds records for the current head inside one immediate
	// transaction and commits them; the records are durable when it returns.
	Append(ctx context.Context, build func(Head) ([]record.Signed, error)) error
	// Pending returns up to limit unacknowledged records after seq in epoch
	// order; epoch "" starts at the oldest.
	Pending(ctx context.Context, epoch string, after uint64, limit int) ([]Pending, error)
	// Ack marks every record of epoch up to through as committed at the hub.
	Ack(ctx context.Context, epoch string, through uint64, rejected []wire.Rejection) error
	// Streams describes every epoch that still matters to the hub.
	Streams(ctx context.Context) ([]wire.Stream, error)
	// HashAt returns the envelope hash at (epoch, seq), "" if there is none.
	HashAt(ctx context.Context, epoch string, seq uint64) (string, error)
	// Rewind forgets acks above through in epoch, so those records are sent again.
	Rewind(ctx context.Context, epoch string, through uint64) error
	// NewEpoch starts a new epoch: seq restarts, the chain continues.
	NewEpoch(ctx context.Context) (string, error)
	// Catalog returns the applied configuration.
	Catalog(ctx context.Context) (*catalog.Catalog, error)
	// ApplyCatalog replaces the configuration atomically; a catalog older
	// than the applied one is ignored.
	ApplyCatalog(ctx context.Context, c *catalog.Catalog) error
	// NoticeActiveSince is when the current version of notice id arrived;
	// apperr ENOTFOUND for an id the configuration does not hold.
	NoticeActiveSince(ctx context.Context, id string) (time.Time, error)
	// Identity returns the enrolled identity; apperr ENOTFOUND before enrollment.
	Identity(ctx context.Context) (*Identity, error)
	// Status fills the outbox part of Status.
	Status(ctx context.Context, since time.Time) (Status, error)
}
