package http

import (
	"net/http"
	"regexp"
	"strconv"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/proof"
)

var recordIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// proof serves GET /api/v1/proofs/{id}: the proof bundle of an accepted
// record as a zip, signed by the hub. 'attesta-hub proof verify' checks it
// offline.
func (s *Server) proof(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !recordIDRE.MatchString(id) {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "%q is not a record id (a lowercase UUID such as those in GET /api/v1/events)", id))
		return
	}
	ctx := r.Context()
	b, err := s.Store.Proof(ctx, id)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	keys, err := s.Store.Keys(ctx)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	z, err := proof.Build(b, keys.SignPriv)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="attesta-proof-`+id+`.zip"`)
	h.Set("Content-Length", strconv.Itoa(len(z)))
	h.Set("Cache-Control", "no-store") // it holds personal data
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(z)
	s.Logger.Info("proof bundle served", "event", id, "bytes", len(z), "related", len(b.Related), "chain", len(b.Chain.Records), "conflicts", len(b.Conflicts))
}
