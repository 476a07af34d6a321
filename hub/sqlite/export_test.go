package sqlite

// SetProofChainMax lowers the chain limit of proof bundles for a test and
// returns a function that restores it.
func SetProofChainMax(n int) (restore func()) {
	old := proofChainMax
	proofChainMax = n
	return func() { proofChainMax = old }
}
