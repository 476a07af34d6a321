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

// SetSuggestBetween makes Suggest call fn between its read and its write
// and returns a function that restores it.
func SetSuggestBetween(fn func()) (restore func()) {
	suggestBetween = fn
	return func() { suggestBetween = nil }
}

// SetRetentionBetween makes SweepRetention call fn between its read and
// its writes and returns a function that restores it.
func SetRetentionBetween(fn func()) (restore func()) {
	retentionBetween = fn
	return func() { retentionBetween = nil }
}

// PretendIngesting makes the store act as if an ingest were under way
// until stop is called.
func (s *Store) PretendIngesting() (stop func()) {
	s.ingesting.Add(1)
	return func() { s.ingesting.Add(-1) }
}

// SuggestionsWaiting says whether a batch of suggestions waits for an
// ingest transaction to write it.
func (s *Store) SuggestionsWaiting() bool {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	return s.ready != nil
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
