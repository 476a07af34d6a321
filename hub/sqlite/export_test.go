package sqlite

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
