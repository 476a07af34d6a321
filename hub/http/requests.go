package http

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// maxActionBody bounds a bulk action: 1000 ids of 36 characters and a note.
const maxActionBody = 128 << 10

type newRequestBody struct {
	Kind      string `json:"kind"`
	Email     string `json:"email,omitempty"`
	Phone     string `json:"phone,omitempty"`
	SubjectID string `json:"subject_id,omitempty"`
	Details   string `json:"details,omitempty"`
	Channel   string `json:"channel,omitempty"`
	By        string `json:"by,omitempty"`
}

// DecodeNewRequest reads the body of POST /api/v1/requests.
func DecodeNewRequest(b []byte) (hub.NewRequest, error) {
	var req newRequestBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return hub.NewRequest{}, apperr.Errorf(apperr.EINVALID, `malformed request: want {"kind", "email"|"phone"|"subject_id", "details", "channel"}`)
	}
	if req.Kind == "" {
		return hub.NewRequest{}, apperr.Errorf(apperr.EINVALID, "kind is required: access, erasure, portability, objection or rectification")
	}
	return hub.NewRequest{Kind: hub.RequestKind(req.Kind), Email: req.Email, Phone: req.Phone, SubjectID: req.SubjectID,
		Details: req.Details, Channel: req.Channel, By: req.By}, nil
}

type actionBody struct {
	IDs    []string `json:"ids"`
	Action string   `json:"action"`
	Note   string   `json:"note,omitempty"`
	By     string   `json:"by,omitempty"`
}

// DecodeRequestAction reads the body of POST /api/v1/requests/actions.
func DecodeRequestAction(b []byte) ([]string, hub.RequestAct, error) {
	var req actionBody
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		return nil, hub.RequestAct{}, apperr.Errorf(apperr.EINVALID, `malformed action: want {"ids": [...], "action": "start"|"extend"|"complete"|"refuse"|"note", "note"}`)
	}
	if len(req.IDs) == 0 {
		return nil, hub.RequestAct{}, apperr.Errorf(apperr.EINVALID, "ids: name at least one request")
	}
	by := strings.TrimSpace(req.By)
	if len(by) > 100 {
		return nil, hub.RequestAct{}, apperr.Errorf(apperr.EINVALID, "by: at most 100 characters")
	}
	if by == "" {
		by = "api"
	}
	return req.IDs, hub.RequestAct{Action: req.Action, Note: req.Note, By: by}, nil
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, apperr.Errorf(apperr.EINVALID, "body: %v (at most %d bytes)", err, limit)
	}
	return b, nil
}

// createRequest answers POST /api/v1/requests.
func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, 64<<10)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	nr, err := DecodeNewRequest(b)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if nr.Channel == "" {
		nr.Channel = "api"
	}
	if nr.By == "" {
		nr.By = "api"
	}
	req, err := s.Store.CreateRequest(r.Context(), nr)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.Logger.Info("rights request received", "request", req.ID, "kind", req.Kind, "channel", req.Channel, "due_on", req.DueOn.Format("2006-01-02"))
	w.Header().Set("Location", "/api/v1/requests/"+req.ID)
	writeJSON(w, http.StatusCreated, req)
}

// requests answers GET /api/v1/requests?state=…&kind=…&limit=&after=.
func (s *Server) requests(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := hub.RequestFilter{Kind: hub.RequestKind(q.Get("kind")), After: q.Get("after"), Limit: 100}
	for _, v := range q["state"] {
		for _, st := range strings.Split(v, ",") {
			if st = strings.TrimSpace(st); st != "" {
				f.States = append(f.States, hub.RequestState(st))
			}
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "limit must be between 1 and 1000"))
			return
		}
		f.Limit = n
	}
	rs, err := s.Store.Requests(r.Context(), f)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	out := map[string]any{"requests": rs}
	if len(rs) == f.Limit {
		out["next_after"] = rs[len(rs)-1].Place().String()
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) request(w http.ResponseWriter, r *http.Request) {
	req, err := s.Store.Request(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, req)
}

// requestExport answers GET /api/v1/requests/{id}/export: the answer to a
// completed access or portability request, as a JSON file.
func (s *Server) requestExport(w http.ResponseWriter, r *http.Request) {
	x, err := s.Store.RequestExport(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="attesta-request-`+r.PathValue("id")+`.json"`)
	writeJSON(w, http.StatusOK, x)
}

// actOnRequests answers POST /api/v1/requests/actions: one action on many
// requests, each succeeding or failing on its own.
func (s *Server) actOnRequests(w http.ResponseWriter, r *http.Request) {
	b, err := readBody(w, r, maxActionBody)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	ids, act, err := DecodeRequestAction(b)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	out, err := s.Store.ActOnRequests(r.Context(), ids, act)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	failed := 0
	for _, o := range out {
		if o.Error != "" {
			failed++
		}
	}
	s.Logger.Info("rights requests acted on", "action", act.Action, "requests", len(ids), "failed", failed)
	writeJSON(w, http.StatusOK, map[string]any{"outcomes": out, "succeeded": len(out) - failed, "failed": failed})
}

// retention answers GET /api/v1/retention: the recorded sweeps, newest first.
func (s *Server) retention(w http.ResponseWriter, r *http.Request) {
	runs, err := s.Store.RetentionRuns(r.Context(), 100)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}
