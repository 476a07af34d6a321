// Package hub is the head-office side of Attesta: it enrolls collectors,
// verifies and ingests their records exactly once, and serves what head
// office asks of them.
//
// The root package holds domain types, service interfaces and pure rules
// (verification, clock correction); sqlite, ws and http implement and serve
// them.
package hub

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
	"github.com/attesta/attesta/shared/wire"
)

// Version is the hub's application version.
var Version = "0.1.0"

// Keys are the hub's own keys: personal payloads are sealed to Seal, and
// Sign countersigns every record received.
type Keys struct {
	SealPub  seal.PublicKey
	SealPriv seal.PrivateKey
	SignPub  ed25519.PublicKey
	SignPriv ed25519.PrivateKey
	Opener   *seal.Opener // opens payloads sealed to SealPub
}

// Scope is what an API token may do.
type Scope string

const (
	ScopeAdmin Scope = "admin" // everything
	ScopeRead  Scope = "read"  // read events, devices, subjects; includes check
	ScopeCheck Scope = "check" // only the consent-check gate
)

// Valid reports whether s is a known scope.
func (s Scope) Valid() bool { return s == ScopeAdmin || s == ScopeRead || s == ScopeCheck }

// Allows reports whether a token of scope s may do what needs scope need.
func (s Scope) Allows(need Scope) bool {
	switch s {
	case ScopeAdmin:
		return true
	case ScopeRead:
		return need == ScopeRead || need == ScopeCheck
	case ScopeCheck:
		return need == ScopeCheck
	}
	return false
}

// Chain states of a device.
const (
	ChainOK   = "ok"
	ChainGap  = "gap"
	ChainFork = "fork"
)

// Range is an inclusive range of missing sequence numbers.
type Range struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Gap is a range of missing sequence numbers in one epoch of a device.
type Gap struct {
	Epoch string `json:"epoch"`
	From  uint64 `json:"from"`
	To    uint64 `json:"to"`
}

// Fork is a second record claiming a chain position already taken: the
// device was restored from an old copy of its database. Both are kept.
type Fork struct {
	Epoch      string    `json:"epoch"`
	Seq        uint64    `json:"seq"`
	EventID    string    `json:"event_id"` // the later record
	FirstID    string    `json:"first_id"` // the record that held the position first
	DetectedAt time.Time `json:"detected_at"`
}

// Conflict is a record id that arrived again with different content; the
// first content stands and the second is kept as evidence.
type Conflict struct {
	EventID    string    `json:"event_id"`
	Hash       string    `json:"hash"`
	ReceivedAt time.Time `json:"received_at"`
}

// Stream is the hub's state of one epoch of one collector.
type Stream struct {
	Epoch    string  `json:"epoch"`
	Through  uint64  `json:"through"`
	Hash     string  `json:"-"`
	Received int64   `json:"received"`
	Gaps     []Range `json:"gaps"`
	Forks    int64   `json:"forks"`
}

// Device is an enrolled collector.
type Device struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Touchpoint      string            `json:"touchpoint"`
	SignKey         ed25519.PublicKey `json:"-"`
	EnrolledAt      time.Time         `json:"enrolled_at"`
	RevokedAt       *time.Time        `json:"revoked_at,omitempty"`
	LastSeen        *time.Time        `json:"last_seen"`
	ClockOffsetMS   int64             `json:"clock_offset_ms"`
	PendingReported int64             `json:"pending_reported"`
	ConfigSeq       int64             `json:"config_seq"`
	ConfigCurrent   bool              `json:"config_current"` // ConfigSeq is the newest in the config log
	Notices         []string          `json:"notices"`        // notice versions ("id/version") the device shows at ConfigSeq
	AppVersion      string            `json:"app_version"`
	Received        int64             `json:"received"`
	AckedThrough    uint64            `json:"acked_through"`
	Chain           string            `json:"chain"`
	Gaps            []Gap             `json:"gaps"`
	Forks           int64             `json:"forks"`
	Conflicts       int64             `json:"conflicts"`
	Quarantined     int64             `json:"quarantined"`
	Streams         []Stream          `json:"streams,omitempty"`       // per epoch; in the detail only
	ForkList        []Fork            `json:"fork_list,omitempty"`     // in the detail only
	ConflictList    []Conflict        `json:"conflict_list,omitempty"` // in the detail only
	Enrollment      map[string]any    `json:"-"`
}

// Hello is what the hub learns when a collector connects.
type Hello struct {
	DeviceID      string
	ClockOffsetMS int64
	Pending       int64
	ConfigSeq     int64
	AppVersion    string
	At            time.Time
}

// Rejection is why a record was quarantined.
type Rejection struct {
	Code   string
	Reason string
}

// Incoming is one received record after verification, ready to commit.
type Incoming struct {
	Signed      record.Signed
	Env         *record.Envelope // nil when the envelope could not be decoded
	Hash        string           // hex SHA-256 of the envelope bytes
	Payload     []byte           // the opened personal payload (JSON)
	Subject     *record.Subject  // the person in Payload; for a rejected record, the one its payload names (unverified) if it opens
	Reject      *Rejection       // set when the record goes to quarantine
	ReceivedAt  time.Time
	CorrectedAt time.Time // device time minus the measured clock offset
	OffsetMS    int64
	Flags       []string
	Countersig  []byte
	ReceiptHash string // SHA-256 of the visitor's receipt token, from the payload
}

// IngestResult is what one committed batch amounted to.
type IngestResult struct {
	Accepted   int
	Duplicates int
	Conflicts  int
	Forks      int
	Rejected   []wire.Rejection
	Positions  map[string]wire.Position // per epoch after the batch
}

// Event is a stored record as head office reads it.
type Event struct {
	Cursor        int64            `json:"cursor"`
	ID            string           `json:"id"`
	Kind          record.Kind      `json:"kind"`
	Collector     string           `json:"collector"`
	Epoch         string           `json:"epoch"`
	Seq           uint64           `json:"seq"`
	Touchpoint    string           `json:"touchpoint"`
	Operator      string           `json:"operator,omitempty"`
	Language      string           `json:"language"`
	CapturedAt    string           `json:"captured_at"`
	HLC           string           `json:"hlc"`
	ReceivedAt    time.Time        `json:"received_at"`
	CorrectedAt   time.Time        `json:"corrected_at"`
	ClockOffsetMS int64            `json:"clock_offset_ms"`
	Flags         []string         `json:"flags"`
	Notice        record.NoticeRef `json:"notice"`
	Purposes      []record.Choice  `json:"purposes"`
	Ref           string           `json:"ref,omitempty"`
	Subject       *record.Subject  `json:"subject,omitempty"`
	SignatureHash string           `json:"signature_sha256,omitempty"`
	Hash          string           `json:"hash"`
}

// SyncStore is what a sync session needs from storage.
type SyncStore interface {
	DeviceByToken(ctx context.Context, token string) (*Device, error)
	RecordHello(ctx context.Context, h Hello) error
	Positions(ctx context.Context, deviceID string, epochs []string) ([]wire.Position, error)
	Ingest(ctx context.Context, deviceID string, batch []Incoming) (*IngestResult, error)
	Catalog(ctx context.Context) (*catalog.Catalog, error)
	AckConfig(ctx context.Context, deviceID string, seq int64) error
}

// Enrolled is what a collector receives when it enrolls.
type Enrolled struct {
	Device *Device
	Token  string
}

// Store is what the hub's HTTP API needs from storage.
type Store interface {
	SyncStore
	NoticeStore
	ConfigStore
	SubjectStore
	ProofStore
	Notifications
	RequestStore
	RetentionStore
	// RequestExport is the export answering a completed access or
	// portability request.
	RequestExport(ctx context.Context, id string) (*Export, error)
	// RequestFromReceipt records an access or erasure request made on the
	// receipt page of token.
	RequestFromReceipt(ctx context.Context, token string, kind RequestKind) (*Request, error)
	WebhookStore
	Keys(ctx context.Context) (*Keys, error)
	Authenticate(ctx context.Context, token string) (Scope, error)
	Enroll(ctx context.Context, code string, signKey ed25519.PublicKey, appVersion, host string) (*Enrolled, error)
	Device(ctx context.Context, id string) (*Device, error)
	Devices(ctx context.Context) ([]*Device, error)
	Events(ctx context.Context, after int64, limit int) ([]Event, error)
	Receipt(ctx context.Context, token string) (*Receipt, error)
	Withdraw(ctx context.Context, token string, purposes []string, channel string) (*Receipt, error)
}

// Receipt is what a visitor's receipt page shows: one consent and what has
// become of each purpose since.
type Receipt struct {
	ConsentID  string
	Language   string
	GivenName  string
	Email      string // masked
	CapturedAt time.Time
	ReceivedAt time.Time
	Touchpoint catalog.Touchpoint
	Controller catalog.Controller
	Notice     catalog.Notice
	Purposes   []ReceiptPurpose
}

// ReceiptPurpose is one purpose on a receipt.
type ReceiptPurpose struct {
	Code          string
	Title         string
	Description   string
	Granted       bool
	RetentionDays int
	WithdrawnAt   *time.Time
}

// NoticeStore finds notice versions, including replaced ones.
type NoticeStore interface {
	Notice(ctx context.Context, id string, version int) (catalog.Notice, error)
}
