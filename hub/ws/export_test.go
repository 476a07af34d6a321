package ws

// AheadFree reports whether no verified record holds a place among those
// that may wait for the writer.
func (s *Server) AheadFree() bool {
	n := int64(aheadBatches * s.MaxBatch)
	if !s.ahead.TryAcquire(n) {
		return false
	}
	s.ahead.Release(n)
	return true
}
