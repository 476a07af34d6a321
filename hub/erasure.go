package hub

import (
	"context"
	"time"
)

// Erasure is the pseudonymous tombstone left where a subject's personal
// data was erased (GDPR Art. 17): enough to show processing was lawful until
// then (event ids, envelope hashes, times, purposes and decisions, the
// countersignatures), nothing that names or reaches the person.
type Erasure struct {
	SubjectID string    `json:"subject_id"`
	ErasedAt  time.Time `json:"erased_at"`
	Reason    string    `json:"reason"`               // ErasedByRequest or ErasedByRetention
	RequestID string    `json:"request_id,omitempty"` // the erasure request, when one asked for it
	Events    int       `json:"events"`               // records whose personal payload went
	// IdentifierHashes are keyed hashes (HMAC-SHA256 with a hub secret) of
	// the identifiers the subject had: the hub can tell that an address
	// asked about again belongs to an erased subject, nobody else can.
	IdentifierHashes []string `json:"identifier_hashes"`
}

// Why a subject was erased.
const (
	ErasedByRequest   = "request"
	ErasedByRetention = "retention"
)

// Correction is what a rectification request recorded about a subject: an
// overlay with its provenance. Signed records are never rewritten.
type Correction struct {
	RequestID  string    `json:"request_id"`
	Correction string    `json:"correction"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
}

// Expiry is a consent found past its purpose's retention by a sweep.
type Expiry struct {
	SubjectID string    `json:"subject_id"`
	Purpose   string    `json:"purpose"`
	EventID   string    `json:"event_id"` // the grant that expired
	ExpiredAt time.Time `json:"expired_at"`
}

// RetentionRun is what one retention sweep did (or, dry, would do).
type RetentionRun struct {
	ID         int64     `json:"id,omitempty"` // 0 for a dry run: nothing is recorded
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	By         string    `json:"by"` // "schedule" or "cli"
	DryRun     bool      `json:"dry_run,omitempty"`
	Expired    int       `json:"expired"`    // consents whose expiry was recorded
	Anonymised int       `json:"anonymised"` // subjects erased because nothing justified their data
	Expiries   []Expiry  `json:"expiries,omitempty"`
	Subjects   []string  `json:"subjects,omitempty"` // the subjects anonymised
}

// RetentionStore runs and lists retention sweeps.
type RetentionStore interface {
	// SweepRetention records the expiries of consents past their purpose's
	// retention and anonymises subjects no purpose justifies any more (see
	// the README, "Retention"). A dry run changes nothing.
	SweepRetention(ctx context.Context, dryRun bool, by string) (*RetentionRun, error)
	RetentionRuns(ctx context.Context, limit int) ([]RetentionRun, error)
}
