package http

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// identifier reads ?email= or ?phone= (exactly one) into a normalised identifier.
func (s *Server) identifier(r *http.Request, email, phone string) (hub.Identifier, error) {
	cat, err := s.Store.Catalog(r.Context())
	if err != nil {
		return hub.Identifier{}, err
	}
	return hub.ParseIdentifier(email, phone, cat.Jurisdiction)
}

// findSubject answers GET /api/v1/subjects?email=…|phone=….
func (s *Server) findSubject(w http.ResponseWriter, r *http.Request) {
	id, err := s.identifier(r, r.URL.Query().Get("email"), r.URL.Query().Get("phone"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	sid, err := s.Store.FindSubject(r.Context(), id)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.writeSubject(w, r, sid)
}

func (s *Server) subject(w http.ResponseWriter, r *http.Request) {
	s.writeSubject(w, r, r.PathValue("id"))
}

func (s *Server) writeSubject(w http.ResponseWriter, r *http.Request, id string) {
	sub, err := s.Store.Subject(r.Context(), id)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, sub)
}

// export answers GET /api/v1/subjects/{id}/export: everything held about
// the person, as a JSON file (GDPR Art. 15 and 20).
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	x, err := s.Store.Export(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="attesta-subject-`+x.Subject.ID+`.json"`)
	writeJSON(w, http.StatusOK, x)
}

type withdrawalRequest struct {
	Email     string   `json:"email,omitempty"`
	Phone     string   `json:"phone,omitempty"`
	SubjectID string   `json:"subject_id,omitempty"`
	Purposes  []string `json:"purposes"`
	Channel   string   `json:"channel"`
}

// withdraw answers POST /api/v1/withdrawals: a withdrawal made outside the
// kiosks (an unsubscribe link, a letter), recorded as hub-signed records.
func (s *Server) withdraw(w http.ResponseWriter, r *http.Request) {
	var req withdrawalRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "malformed withdrawal: %v (want {\"email\"|\"phone\"|\"subject_id\", \"purposes\": [...], \"channel\"})", err))
		return
	}
	sid := req.SubjectID
	if sid != "" && (req.Email != "" || req.Phone != "") {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "give one of email, phone or subject_id"))
		return
	}
	if sid == "" {
		id, err := s.identifier(r, req.Email, req.Phone)
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		if sid, err = s.Store.FindSubject(r.Context(), id); err != nil {
			Error(w, r, s.Logger, err)
			return
		}
	}
	if req.Channel == "" {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "channel is required: the touchpoint the withdrawal came through, e.g. newsletter-engine"))
		return
	}
	res, err := s.Store.WithdrawSubject(r.Context(), sid, req.Purposes, req.Channel)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.Logger.Info("withdrawal recorded", "subject", res.SubjectID, "channel", req.Channel, "records", len(res.Events))
	writeJSON(w, http.StatusCreated, res)
}

func (s *Server) suggestions(w http.ResponseWriter, r *http.Request) {
	sg, err := s.Store.Suggestions(r.Context(), 1000)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"suggestions": sg})
}

// resolveSuggestion answers POST /api/v1/suggestions/{id} {"action": "merge"|"reject", "by"}.
func (s *Server) resolveSuggestion(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "suggestion id must be a number"))
		return
	}
	var req struct {
		Action string `json:"action"`
		By     string `json:"by"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || (req.Action != "merge" && req.Action != "reject") || req.By == "" {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, `want {"action": "merge"|"reject", "by": "<who reviewed it>"}`))
		return
	}
	if err := s.Store.ResolveSuggestion(r.Context(), id, req.Action == "merge", req.By); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// undoMerge answers POST /api/v1/merges/{id}/undo {"by"}.
func (s *Server) undoMerge(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "merge id must be a number"))
		return
	}
	var req struct {
		By string `json:"by"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.By == "" {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, `want {"by": "<who undid it>"}`))
		return
	}
	if err := s.Store.Unmerge(r.Context(), id, req.By); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
