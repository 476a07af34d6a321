// Package http serves the hub's HTTP surface: health, enrollment, the sync
// websocket (mounted from package ws) and the bearer-token API.
package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/wire"
)

// Server is the hub's HTTP server.
type Server struct {
	Addr      string
	Store     hub.Store
	Sync      http.Handler // the websocket endpoint
	Logger    *slog.Logger
	PublicURL string // base URL visitors' phones reach; "" means the URL a request came in on
	// ConfigChanged, when set, is called after the API changed the
	// configuration (the sync server pushes it to live sessions).
	ConfigChanged func()

	ln         net.Listener
	srv        *http.Server
	mux        *http.ServeMux
	instrument func(http.Handler) http.Handler // set by ServeMetrics
}

// NewServer returns a server with its routes.
func NewServer(store hub.Store, sync http.Handler) *Server {
	s := &Server{Addr: ":8700", Store: store, Sync: sync, Logger: slog.Default(), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("POST "+wire.EnrollPath, s.enroll)
	s.mux.Handle("GET "+wire.SyncPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.Sync.ServeHTTP(w, r) }))
	s.mux.HandleFunc("GET /api/v1/devices", s.scoped(hub.ScopeRead, s.devices))
	s.mux.HandleFunc("GET /api/v1/devices/{id}", s.scoped(hub.ScopeRead, s.device))
	s.mux.HandleFunc("GET /api/v1/events", s.scoped(hub.ScopeRead, s.events))
	s.mux.HandleFunc("GET /api/v1/check", s.scoped(hub.ScopeCheck, s.checkOne))
	s.mux.HandleFunc("POST /api/v1/check", s.scoped(hub.ScopeCheck, s.checkBulk))
	s.mux.HandleFunc("GET /api/v1/subjects", s.scoped(hub.ScopeRead, s.findSubject))
	s.mux.HandleFunc("GET /api/v1/subjects/{id}", s.scoped(hub.ScopeRead, s.subject))
	s.mux.HandleFunc("GET /api/v1/subjects/{id}/export", s.scoped(hub.ScopeRead, s.export))
	s.mux.HandleFunc("POST /api/v1/withdrawals", s.scoped(hub.ScopeCheck, s.withdraw))
	s.mux.HandleFunc("GET /api/v1/suggestions", s.scoped(hub.ScopeRead, s.suggestions))
	s.mux.HandleFunc("POST /api/v1/suggestions/{id}", s.scoped(hub.ScopeAdmin, s.resolveSuggestion))
	s.mux.HandleFunc("POST /api/v1/merges/{id}/undo", s.scoped(hub.ScopeAdmin, s.undoMerge))
	s.mux.HandleFunc("GET /api/v1/proofs/{id}", s.scoped(hub.ScopeRead, s.proof))
	s.mux.HandleFunc("GET /api/v1/config", s.scoped(hub.ScopeRead, s.config))
	s.mux.HandleFunc("GET /api/v1/notices", s.scoped(hub.ScopeRead, s.notices))
	s.mux.HandleFunc("POST /api/v1/notices", s.scoped(hub.ScopeAdmin, s.publishNotice))
	s.mux.HandleFunc("POST /api/v1/purposes", s.scoped(hub.ScopeAdmin, s.putPurpose))
	s.mux.HandleFunc("PUT /api/v1/purposes/{code}", s.scoped(hub.ScopeAdmin, s.putPurpose))
	s.mux.HandleFunc("POST /api/v1/touchpoints", s.scoped(hub.ScopeAdmin, s.putTouchpoint))
	s.mux.HandleFunc("PUT /api/v1/touchpoints/{id}", s.scoped(hub.ScopeAdmin, s.putTouchpoint))
	s.mux.HandleFunc("POST /api/v1/requests", s.scoped(hub.ScopeAdmin, s.createRequest))
	s.mux.HandleFunc("GET /api/v1/requests", s.scoped(hub.ScopeRead, s.requests))
	s.mux.HandleFunc("GET /api/v1/requests/{id}", s.scoped(hub.ScopeRead, s.request))
	s.mux.HandleFunc("GET /api/v1/requests/{id}/export", s.scoped(hub.ScopeRead, s.requestExport))
	s.mux.HandleFunc("POST /api/v1/requests/actions", s.scoped(hub.ScopeAdmin, s.actOnRequests))
	s.mux.HandleFunc("GET /api/v1/retention", s.scoped(hub.ScopeRead, s.retention))
	s.mux.HandleFunc("GET /api/v1/webhooks", s.scoped(hub.ScopeAdmin, s.webhooks))
	s.mux.HandleFunc("POST /api/v1/webhooks", s.scoped(hub.ScopeAdmin, s.createWebhook))
	s.mux.HandleFunc("GET /api/v1/webhooks/{id}", s.scoped(hub.ScopeAdmin, s.webhook))
	s.mux.HandleFunc("PATCH /api/v1/webhooks/{id}", s.scoped(hub.ScopeAdmin, s.updateWebhook))
	s.mux.HandleFunc("DELETE /api/v1/webhooks/{id}", s.scoped(hub.ScopeAdmin, s.deleteWebhook))
	s.mux.HandleFunc("POST /api/v1/webhooks/{id}/rotate-secret", s.scoped(hub.ScopeAdmin, s.rotateWebhookSecret))
	s.mux.HandleFunc("GET /api/v1/webhooks/{id}/deliveries", s.scoped(hub.ScopeAdmin, s.deliveries))
	s.mux.HandleFunc("POST /api/v1/webhooks/{id}/resume", s.scoped(hub.ScopeAdmin, s.resumeWebhook))
	s.mux.HandleFunc("GET /n/{id}/{version}", s.noticePage)
	s.mux.HandleFunc("GET /r/{token}", s.receiptPage)
	s.mux.HandleFunc("POST /r/{token}", s.receiptPage)
	return s
}

// Handle adds a route, for packages that serve more pages.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Open listens synchronously and serves in the background.
func (s *Server) Open() error {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr, err)
	}
	s.ln = ln
	var h http.Handler = s.mux
	if s.instrument != nil {
		h = s.instrument(h)
	}
	s.srv = &http.Server{Handler: s.recoverer(h), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)}
	go s.srv.Serve(ln)
	return nil
}

// URL is the address the server listens on, as http://host:port.
func (s *Server) URL() string {
	addr := s.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, strconv.Itoa(addr.Port)))
}

// Close stops accepting requests and waits up to the context's deadline for
// running ones, then cuts off those left. Hijacked websocket sessions are
// closed by their own server.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	return err
}

func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic in handler", "path", r.URL.Path, "panic", v)
				Error(w, r, s.Logger, errors.New("panic"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// Error writes err as JSON; internal errors are logged in full and shown as "internal error".
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := apperr.Code(err)
	if code == apperr.EINTERNAL {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if code == apperr.EUNAUTHORIZED {
		w.Header().Set("WWW-Authenticate", `Bearer realm="attesta"`)
	}
	writeJSON(w, apperr.HTTPStatus(code), map[string]any{"error": map[string]string{"code": code, "message": apperr.Message(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// scoped requires a bearer token allowing scope.
func (s *Server) scoped(scope hub.Scope, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || strings.TrimSpace(token) == "" {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EUNAUTHORIZED, "missing bearer token (Authorization: Bearer ...); create one with 'attesta-hub token create --scope %s'", scope))
			return
		}
		have, err := s.Store.Authenticate(r.Context(), strings.TrimSpace(token))
		if err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		if !have.Allows(scope) {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EFORBIDDEN, "this token has scope %q; this endpoint needs %q", have, scope))
			return
		}
		h(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": hub.Version})
}

func (s *Server) enroll(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "malformed enrollment request: %v", err))
		return
	}
	key, err := record.ParsePublicKey(req.SignKey)
	if err != nil {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "sign_key: %v", err))
		return
	}
	if req.Code == "" {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "code is required"))
		return
	}
	ctx := r.Context()
	en, err := s.Store.Enroll(ctx, req.Code, key, req.AppVersion, req.Host)
	if err != nil {
		s.Logger.Warn("enrollment refused", "remote", r.RemoteAddr, "reason", apperr.Message(err))
		Error(w, r, s.Logger, err)
		return
	}
	keys, err := s.Store.Keys(ctx)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	cat, err := s.Store.Catalog(ctx)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if s.PublicURL != "" {
		cat.PublicURL = s.PublicURL
	}
	s.Logger.Info("collector enrolled", "device", en.Device.ID, "touchpoint", en.Device.Touchpoint)
	writeJSON(w, http.StatusCreated, wire.EnrollResponse{
		CollectorID: en.Device.ID, Name: en.Device.Name, Touchpoint: en.Device.Touchpoint, Token: en.Token,
		HubSealKey: keys.SealPub.String(), HubSignKey: record.PublicKeyString(keys.SignPub), Catalog: *cat,
	})
}

func (s *Server) devices(w http.ResponseWriter, r *http.Request) {
	ds, err := s.Store.Devices(r.Context())
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	if ds == nil {
		ds = []*hub.Device{}
	}
	for _, d := range ds {
		d.Streams = nil // the summary; /devices/{id} has the detail
	}
	writeJSON(w, http.StatusOK, map[string]any{"devices": ds})
}

func (s *Server) device(w http.ResponseWriter, r *http.Request) {
	d, err := s.Store.Device(r.Context(), r.PathValue("id"))
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// events streams NDJSON; each line carries its cursor, and the
// X-Attesta-Next-Cursor header says where to continue.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	after, limit := int64(0), 1000
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "after must be a cursor from a previous response (a non-negative integer)"))
			return
		}
		after = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "limit must be between 1 and 10000"))
			return
		}
		limit = n
	}
	format := q.Get("format")
	if format != "" && format != "ndjson" && format != "csv" && format != "receipt" {
		Error(w, r, s.Logger, apperr.Errorf(apperr.EINVALID, "format must be ndjson, csv or receipt"))
		return
	}
	evs, err := s.Store.Events(r.Context(), after, limit)
	if err != nil {
		Error(w, r, s.Logger, err)
		return
	}
	next := after
	if len(evs) > 0 {
		next = evs[len(evs)-1].Cursor
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Attesta-Next-Cursor", strconv.FormatInt(next, 10))
	switch format {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		err = writeCSV(w, evs)
	case "receipt":
		var cat *catalog.Catalog
		if cat, err = s.Store.Catalog(r.Context()); err != nil {
			Error(w, r, s.Logger, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		err = writeReceipts(w, evs, cat, s.baseURL(r, cat))
	default:
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, ev := range evs {
			if err = enc.Encode(ev); err != nil {
				break
			}
		}
	}
	if err != nil {
		s.Logger.Warn("events export ended early", "err", err)
	}
}

// baseURL is where visitors reach the hub's public pages.
func (s *Server) baseURL(r *http.Request, cat *catalog.Catalog) string {
	switch {
	case s.PublicURL != "":
		return strings.TrimSuffix(s.PublicURL, "/")
	case cat.PublicURL != "":
		return strings.TrimSuffix(cat.PublicURL, "/")
	}
	return "http://" + r.Host
}
