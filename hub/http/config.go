package http

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

// maxConfigBody bounds a publish request: a notice's full text and its framing.
const maxConfigBody = catalog.MaxNoticeBytes + 64<<10

// config answers GET /api/v1/config: the newest catalog; its seq is its
// place in the config log, what devices report as config_seq.
func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	cat, err := s.Store.Catalog(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if s.PublicURL != "" {
		cat.PublicURL = s.PublicURL
	}
	writeJSON(w, http.StatusOK, cat)
}

// notices answers GET /api/v1/notices: every version ever published,
// without the texts (GET /n/{id}/{version} shows one).
func (s *Server) notices(w http.ResponseWriter, r *http.Request) {
	vs, err := s.Store.NoticeVersions(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	for i := range vs {
		vs[i].Text = ""
	}
	writeJSON(w, http.StatusOK, map[string]any{"notices": vs})
}

// NoticeRequest is the body of POST /api/v1/notices.
type NoticeRequest struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Language string `json:"language"`
	Title    string `json:"title"`
	Summary  string `json:"summary"`
	Text     string `json:"text"`
}

// DecodeConfigRequest reads a publish request body strictly into v.
func DecodeConfigRequest(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.Errorf(apperr.ETOOLARGE, "the request is larger than %d bytes", mbe.Limit)
		}
		return apperr.Errorf(apperr.EINVALID, "malformed JSON: %v", err)
	}
	if dec.More() {
		return apperr.Errorf(apperr.EINVALID, "malformed JSON: trailing data")
	}
	return nil
}

// publishNotice answers POST /api/v1/notices.
func (s *Server) publishNotice(w http.ResponseWriter, r *http.Request) {
	var req NoticeRequest
	if err := DecodeConfigRequest(http.MaxBytesReader(w, r.Body, maxConfigBody), &req); err != nil {
		configError(w, r, s, err)
		return
	}
	cat, err := s.Store.PublishNotice(r.Context(), catalog.Notice{ID: req.ID, Version: req.Version, Language: req.Language,
		Title: req.Title, Summary: req.Summary, Text: req.Text})
	if err != nil {
		configError(w, r, s, err)
		return
	}
	n, _ := cat.Notice(req.ID, req.Version)
	s.configChanged(cat, "notice published", "notice", n.ID, "version", n.Version)
	n.Text = ""
	writeJSON(w, http.StatusCreated, map[string]any{"seq": cat.Seq, "notice": n})
}

// putPurpose answers POST /api/v1/purposes (add) and PUT /api/v1/purposes/{code} (replace).
func (s *Server) putPurpose(w http.ResponseWriter, r *http.Request) {
	var p catalog.Purpose
	if err := DecodeConfigRequest(http.MaxBytesReader(w, r.Body, 256<<10), &p); err != nil {
		configError(w, r, s, err)
		return
	}
	create := r.Method == http.MethodPost
	if !create {
		if p.Code != "" && p.Code != r.PathValue("code") {
			configError(w, r, s, &catalog.FieldError{Field: "code", Message: "differs from the code in the path"})
			return
		}
		p.Code = r.PathValue("code")
	}
	cat, err := s.Store.PutPurpose(r.Context(), p, create)
	if err != nil {
		configError(w, r, s, err)
		return
	}
	s.configChanged(cat, "purpose saved", "purpose", p.Code)
	writeJSON(w, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[create], map[string]any{"seq": cat.Seq, "purpose": p})
}

// putTouchpoint answers POST /api/v1/touchpoints (add) and PUT /api/v1/touchpoints/{id} (replace).
func (s *Server) putTouchpoint(w http.ResponseWriter, r *http.Request) {
	var t catalog.Touchpoint
	if err := DecodeConfigRequest(http.MaxBytesReader(w, r.Body, 64<<10), &t); err != nil {
		configError(w, r, s, err)
		return
	}
	create := r.Method == http.MethodPost
	if !create {
		if t.ID != "" && t.ID != r.PathValue("id") {
			configError(w, r, s, &catalog.FieldError{Field: "id", Message: "differs from the id in the path"})
			return
		}
		t.ID = r.PathValue("id")
	}
	cat, err := s.Store.PutTouchpoint(r.Context(), t, create)
	if err != nil {
		configError(w, r, s, err)
		return
	}
	s.configChanged(cat, "touchpoint saved", "touchpoint", t.ID)
	writeJSON(w, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[create], map[string]any{"seq": cat.Seq, "touchpoint": t})
}

// configChanged logs a change and tells the sync server, which pushes it
// to connected collectors.
func (s *Server) configChanged(cat *catalog.Catalog, msg string, args ...any) {
	s.Logger.Info(msg, append(args, "config_seq", cat.Seq)...)
	if s.ConfigChanged != nil {
		s.ConfigChanged()
	}
}

// configError is Error with the field at fault, when there is one.
func configError(w http.ResponseWriter, r *http.Request, s *Server, err error) {
	var fe *catalog.FieldError
	if !errors.As(err, &fe) {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{
		"code": apperr.EINVALID, "field": fe.Field, "message": fe.Error()}})
}

var _ hub.ConfigStore = hub.Store(nil) // the API publishes through the store it has
