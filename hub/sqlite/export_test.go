package sqlite

import (
	"context"
	"time"

	"github.com/attesta/attesta/hub"
)

// SetProofChainMax lowers the chain limit of proof bundles for a test and
// returns a function that restores it.
func SetProofChainMax(n int) (restore func()) {
	old := proofChainMax
	proofChainMax = n
	return func() { proofChainMax = old }
}

// CheckFromDatabase answers checks from SQLite, whatever the in-memory
// index holds.
func CheckFromDatabase(ctx context.Context, st *Store, qs []hub.CheckQuery) ([]hub.Decision, error) {
	return st.checkSQL(ctx, qs)
}

// TrimCheckChanges trims the check log as the running hub does.
func TrimCheckChanges(ctx context.Context, st *Store) error {
	x := st.checks.Load()
	x.mu.RLock()
	applied := x.applied
	x.mu.RUnlock()
	return st.trimCheckChanges(ctx, applied)
}

// SetCheckTrim shortens how often the running hub trims check_changes.
func SetCheckTrim(d time.Duration) (restore func()) {
	old := checkIndexTrim
	checkIndexTrim = d
	return func() { checkIndexTrim = old }
}
