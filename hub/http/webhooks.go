package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// CreatedWebhook is a new webhook with its signing secret, shown only once.
type CreatedWebhook struct {
	hub.Webhook
	Secret string `json:"secret"`
}

func (s *Server) webhooks(w http.ResponseWriter, r *http.Request) {
	hs, err := s.Store.Webhooks(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": hs})
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request) {
	var n hub.NewWebhook
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, `malformed webhook: %v; send {"url": "https://…", "events": ["consent.changed", …], "description": "…"}`, err))
		return
	}
	h, err := s.Store.CreateWebhook(r.Context(), n)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.Logger.Info("webhook added", "webhook", h.ID, "url", h.URL, "events", h.Events)
	writeJSON(w, http.StatusCreated, CreatedWebhook{Webhook: *h, Secret: h.Secret})
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	h, err := s.Store.Webhook(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	if err := s.Store.DeleteWebhook(r.Context(), r.PathValue("id")); err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.Logger.Info("webhook removed", "webhook", r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

// deliveries answers GET /api/v1/webhooks/{id}/deliveries?failed=true&limit=N,
// newest first.
func (s *Server) deliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "limit must be between 1 and 10000"))
			return
		}
		limit = n
	}
	failed := false
	if v := q.Get("failed"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "failed must be true or false"))
			return
		}
		failed = b
	}
	ds, err := s.Store.Deliveries(r.Context(), r.PathValue("id"), failed, limit)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": ds})
}

// resumeWebhook answers POST /api/v1/webhooks/{id}/resume with an optional
// {"skip": true} to pass over the refused notification.
func (s *Server) resumeWebhook(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Skip bool `json:"skip"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, `malformed resume request: %v; send {"skip": true|false} or nothing`, err))
			return
		}
	}
	h, err := s.Store.ResumeWebhook(r.Context(), r.PathValue("id"), body.Skip)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.Logger.Info("webhook resumed", "webhook", h.ID, "skipped", body.Skip)
	writeJSON(w, http.StatusOK, h)
}

// updateWebhook answers PATCH /api/v1/webhooks/{id} with any of
// {"url","events","description"}.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request) {
	var u hub.WebhookUpdate
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, `malformed webhook update: %v; send any of {"url", "events", "description"}`, err))
		return
	}
	h, err := s.Store.UpdateWebhook(r.Context(), r.PathValue("id"), u)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.Logger.Info("webhook updated", "webhook", h.ID, "url", h.URL, "events", h.Events)
	writeJSON(w, http.StatusOK, h)
}

// rotateWebhookSecret answers POST /api/v1/webhooks/{id}/rotate-secret with
// an optional {"grace": "24h"} (how long the old secret keeps signing too).
func (s *Server) rotateWebhookSecret(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Grace string `json:"grace"`
	}
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, `malformed rotation request: %v; send {"grace": "24h"} or nothing`, err))
			return
		}
	}
	grace := 24 * time.Hour
	if body.Grace != "" {
		d, err := time.ParseDuration(body.Grace)
		if err != nil {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "grace %q is not a duration such as 24h", body.Grace))
			return
		}
		grace = d
	}
	h, err := s.Store.RotateWebhookSecret(r.Context(), r.PathValue("id"), grace)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	s.Logger.Info("webhook secret rotated", "webhook", h.ID, "old_secret_until", h.OldUntil)
	writeJSON(w, http.StatusOK, CreatedWebhook{Webhook: *h, Secret: h.Secret})
}
