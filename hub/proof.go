package hub

import (
	"context"

	"github.com/attesta/attesta/shared/proof"
)

// ProofStore gathers what a proof bundle holds about one accepted record:
// the record, its related records, its chain to the stream's head, the
// enrollment records of the devices that signed them, the notice texts and
// the hub's public key. The HTTP layer signs and writes it with proof.Build.
type ProofStore interface {
	Proof(ctx context.Context, eventID string) (*proof.Bundle, error)
}
