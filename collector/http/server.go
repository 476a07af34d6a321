// Package http serves the collector's local API and kiosk UI on localhost.
package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/attesta/attesta/collector"
	"github.com/attesta/attesta/collector/ui"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/qr"
	"github.com/attesta/attesta/shared/record"
)

// Syncer is the sync client as the API sees it.
type Syncer interface {
	State() (connected bool, lastSync time.Time, lastErr string)
	SyncNow()
}

// Server is the collector's local HTTP server.
type Server struct {
	Addr        string
	Outbox      collector.Outbox
	Recorder    *collector.Recorder
	Sync        Syncer
	Logger      *slog.Logger
	Rules       collector.Rules
	IdleSeconds int
	Now         func() time.Time

	mu       sync.Mutex
	operator string    // staff id stamped on records, set from the operator screen
	pinFails int       // wrong PINs since the last lock or right PIN
	pinLocks int       // locks since the last right PIN
	pinLock  time.Time // no PIN is tried before then

	// DBSize reports the outbox's size on disk for the status and /metrics.
	DBSize func() int64

	figures figures // running totals for the status and /metrics

	ln         net.Listener
	srv        *http.Server
	mux        *http.ServeMux
	instrument func(http.Handler) http.Handler // set by ServeMetrics
}

// NewServer returns a server with its routes.
func NewServer(o collector.Outbox, rec *collector.Recorder, sync Syncer) *Server {
	s := &Server{Addr: "127.0.0.1:8701", Outbox: o, Recorder: rec, Sync: sync, Logger: slog.Default(),
		Rules: collector.Rules{SignatureRequired: true, NoticeGrace: collector.DefaultNoticeGrace}, IdleSeconds: 60, Now: time.Now, mux: http.NewServeMux(),
		figures: figures{started: time.Now()}}
	s.mux.HandleFunc("GET /api/v1/config", s.config)
	s.mux.HandleFunc("POST /api/v1/consents", s.capture)
	s.mux.HandleFunc("GET /api/v1/status", s.status)
	s.mux.HandleFunc("POST /api/v1/sync", s.syncNow)
	s.mux.HandleFunc("POST /api/v1/operator/session", s.operatorSession)
	s.mux.HandleFunc("GET /api/v1/notices/{id}/{version}/qr.png", s.noticeQR)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": collector.Version})
	})
	s.mux.Handle("GET /", ui.Handler())
	return s
}

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
	s.srv = &http.Server{Handler: s.guard(h), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)}
	go s.srv.Serve(ln)
	return nil
}

// URL is the address the server listens on.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops accepting and waits for requests in progress (a capture in
// its transaction finishes and answers) until ctx ends, then cuts off
// those left.
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

// guard adds the headers every response needs and refuses cross-site writes:
// the API is for the kiosk page on this origin only.
func (s *Server) guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		if !localHost(r.Host) {
			writeError(w, s.Logger, r, apperr.Errorf(apperr.EFORBIDDEN,
				"the kiosk answers only to its address (such as http://127.0.0.1:8701), not to host %q", r.Host))
			return
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			w.Header().Set("Cache-Control", "no-store")
			if origin := r.Header.Get("Origin"); r.Method != http.MethodGet && origin != "" && origin != "http://"+r.Host {
				writeError(w, s.Logger, r, apperr.Errorf(apperr.EFORBIDDEN, "cross-origin request refused"))
				return
			}
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("panic in handler", "path", r.URL.Path, "panic", v)
				writeError(w, s.Logger, r, errors.New("panic"))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// localHost reports whether a request's Host names the machine by an IP
// address or as localhost. Any other name may have been pointed at
// 127.0.0.1 by a web page (DNS rebinding), which would then be same-origin
// with the kiosk and could sign consents with the device's key.
func localHost(host string) bool {
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.EqualFold(h, "localhost") || net.ParseIP(h) != nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	code := apperr.Code(err)
	body := map[string]string{"code": code, "message": apperr.Message(err)}
	var fe *collector.FieldError
	if errors.As(err, &fe) {
		code = apperr.EINVALID
		body = map[string]string{"code": code, "field": fe.Field, "message": fe.Field + " " + fe.Message}
	}
	if code == apperr.EINTERNAL {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, apperr.HTTPStatus(code), map[string]any{"error": body})
}

// current reads the enrolled identity and the applied catalog.
func (s *Server) current(ctx context.Context) (*collector.Identity, *catalog.Catalog, error) {
	id, err := s.Outbox.Identity(ctx)
	if err != nil {
		return nil, nil, err
	}
	cat, err := s.Outbox.Catalog(ctx)
	return id, cat, err
}

// publicURL is where visitors' phones reach the hub's public pages.
func (s *Server) publicURL(id *collector.Identity, cat *catalog.Catalog) string {
	if cat.PublicURL != "" {
		return strings.TrimRight(cat.PublicURL, "/")
	}
	return strings.TrimRight(id.HubURL, "/")
}

// NoticeURL is the hub's public page for a notice version, with its hash.
func NoticeURL(base string, n catalog.Notice) string {
	return fmt.Sprintf("%s/n/%s/%d?sha256=%s", base, n.ID, n.Version, n.SHA256)
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, cat, err := s.current(ctx)
	if err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	tp, _ := cat.Touchpoint(id.Touchpoint)
	type purpose struct {
		Code          string                  `json:"code"`
		Title         string                  `json:"title"`
		Description   string                  `json:"description"`
		RetentionDays int                     `json:"retention_days"`
		DPV           string                  `json:"dpv"`
		Category      string                  `json:"category"`
		LegalBasis    string                  `json:"legal_basis"`
		Text          map[string]catalog.Text `json:"text"`
	}
	type notice struct {
		catalog.Notice
		URL string `json:"url"`
	}
	lang := tp.Language
	ps := make([]purpose, 0, len(cat.Purposes))
	for _, p := range cat.Purposes {
		t := p.Text[lang]
		ps = append(ps, purpose{p.Code, t.Title, t.Description, p.RetentionDays, p.DPV, p.Category, p.LegalBasis, p.Text})
	}
	base := s.publicURL(id, cat)
	ns := []notice{}
	for _, n := range cat.Active() {
		ns = append(ns, notice{n, NoticeURL(base, n)})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"collector_id": id.CollectorID, "name": id.Name, "touchpoint": tp, "controller": cat.Controller,
		"jurisdiction": cat.Jurisdiction, "config_seq": cat.Seq, "idle_seconds": s.IdleSeconds,
		"signature_required": s.Rules.SignatureRequired, "purposes": ps, "notices": ns, "public_url": base,
	})
}

func (s *Server) capture(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var c collector.Capture
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, collector.MaxCaptureBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, s.Logger, r, apperr.Errorf(apperr.ETOOLARGE, "the request is larger than %d bytes", collector.MaxCaptureBytes))
			return
		}
		writeError(w, s.Logger, r, apperr.Errorf(apperr.EINVALID, "malformed JSON: %v", err))
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, s.Logger, r, apperr.Errorf(apperr.EINVALID, "malformed JSON: data after the capture object"))
		return
	}
	if c.Operator != "" {
		// Who collected a consent is part of its proof: naming them takes
		// the PIN, as signing in on the operator screen does.
		if err := s.checkPIN(ctx, r.Header.Get("X-Operator-PIN")); err != nil {
			writeError(w, s.Logger, r, apperr.Errorf(apperr.Code(err), "operator: %s (X-Operator-PIN)", apperr.Message(err)))
			return
		}
	}
	id, cat, err := s.current(ctx)
	if err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	rules := s.Rules
	rules.Now = s.Now()
	since, err := s.Outbox.NoticeActiveSince(ctx, c.Notice.ID)
	switch {
	case apperr.Code(err) == apperr.ENOTFOUND:
		rules.NoticeAge = math.MaxInt64 // no grace: Validate names the unknown notice
	case err != nil:
		writeError(w, s.Logger, r, err)
		return
	default:
		rules.NoticeAge = rules.Now.Sub(since)
	}
	if fe := c.Validate(cat, rules); fe != nil {
		s.figures.refused.Add(1)
		s.Logger.Info("capture refused", "field", fe.Field)
		writeError(w, s.Logger, r, fe)
		return
	}
	operator := c.Operator
	if operator == "" {
		s.mu.Lock()
		operator = s.operator
		s.mu.Unlock()
	}
	base := s.publicURL(id, cat)
	sealed, err := s.Recorder.Seal(&c, base)
	if err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	// The receipt's QR code is drawn while the outbox commits: a kiosk's
	// disk wait and drawing the code each took about a millisecond.
	type drawn struct {
		png []byte
		err error
	}
	receiptQR := make(chan drawn, 1)
	go func() {
		png, err := qr.PNG(sealed.ReceiptURL, 320)
		receiptQR <- drawn{png, err}
	}()
	var consentID string
	var seq uint64
	err = s.Outbox.Append(ctx, func(h collector.Head) ([]record.Signed, error) {
		recs, cid, err := s.Recorder.Records(h, &c, sealed, cat, operator, base)
		consentID, seq = cid, h.Seq+uint64(len(recs))
		return recs, err
	})
	code := <-receiptQR
	if err != nil {
		writeError(w, s.Logger, r, fmt.Errorf("store capture: %w", err))
		return
	}
	s.figures.captured(s.Now())
	s.Logger.Info("consent captured", "record", consentID, "seq", seq)
	s.Sync.SyncNow()
	resp := map[string]any{"id": consentID, "seq": seq, "receipt_url": sealed.ReceiptURL}
	if code.err != nil {
		// The consent is saved: say so (an error would invite the visitor to
		// sign again), with the receipt's link but no picture of it.
		s.Logger.Error("receipt QR code not drawn", "record", consentID, "err", code.err)
	} else {
		resp["receipt_qr"] = "data:image/png;base64," + base64.StdEncoding.EncodeToString(code.png)
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.Now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	st, err := s.Outbox.Status(ctx, midnight)
	if err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	if id, err := s.Outbox.Identity(ctx); err == nil {
		st.CollectorID, st.Name, st.Touchpoint = id.CollectorID, id.Name, id.Touchpoint
	}
	if cat, err := s.Outbox.Catalog(ctx); err == nil {
		for _, n := range cat.Active() {
			st.Notices = append(st.Notices, n.ID+"/"+strconv.Itoa(n.Version))
		}
	}
	st.Connected, st.LastSyncAt, st.LastError = s.Sync.State()
	st.AppVersion = collector.Version
	s.mu.Lock()
	op := s.operator
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		collector.Status
		Operator string `json:"operator,omitempty"`
		figuresJSON
	}{st, op, s.figuresJSON()})
}

func (s *Server) syncNow(w http.ResponseWriter, r *http.Request) {
	if err := s.checkPIN(r.Context(), r.Header.Get("X-Operator-PIN")); err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	s.Sync.SyncNow()
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "sync requested"})
}

func (s *Server) operatorSession(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Operator string `json:"operator"`
		PIN      string `json:"pin"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, s.Logger, r, apperr.Errorf(apperr.EINVALID, "malformed JSON: %v", err))
		return
	}
	if err := s.checkPIN(r.Context(), req.PIN); err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	op := strings.TrimSpace(req.Operator)
	if !collector.ValidOperator(op) {
		writeError(w, s.Logger, r, &collector.FieldError{Field: "operator", Message: "must be a staff id of letters, digits and . _ @ - (at most 64)"})
		return
	}
	s.mu.Lock()
	s.operator = op
	s.mu.Unlock()
	s.Logger.Info("operator signed in", "operator", op)
	writeJSON(w, http.StatusOK, map[string]string{"operator": op})
}

// checkPIN verifies the operator PIN, locking out guessing for a while after
// five failures.
func (s *Server) checkPIN(ctx context.Context, pin string) error {
	id, err := s.Outbox.Identity(ctx)
	if err != nil {
		return err
	}
	if id.PINHash == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.Now()
	if now.Before(s.pinLock) {
		return apperr.Errorf(apperr.EFORBIDDEN, "too many wrong PINs; try again in %s", s.pinLock.Sub(now).Round(time.Second))
	}
	if !CheckPIN(id.PINHash, pin) {
		s.pinFails++
		if s.pinFails >= pinTries {
			// Each lock is twice the last, up to pinLockMax: five guesses a
			// minute would find a four-digit PIN within a day or two.
			s.pinFails, s.pinLocks = 0, s.pinLocks+1
			s.pinLock = now.Add(min(time.Minute<<min(s.pinLocks-1, 10), pinLockMax))
		}
		return apperr.Errorf(apperr.EFORBIDDEN, "wrong operator PIN")
	}
	s.pinFails, s.pinLocks = 0, 0
	return nil
}

const (
	pinTries   = 5         // wrong PINs in a row before a lock
	pinLockMax = time.Hour // the longest lock
)

// HashPIN makes the stored form of an operator PIN: salt$sha256(salt|pin).
func HashPIN(pin string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	h := sha256.Sum256(append(salt, pin...))
	return hex.EncodeToString(salt) + "$" + hex.EncodeToString(h[:])
}

// CheckPIN compares a PIN with HashPIN's output in constant time.
func CheckPIN(stored, pin string) bool {
	saltHex, sum, ok := strings.Cut(stored, "$")
	salt, err := hex.DecodeString(saltHex)
	if !ok || err != nil {
		return false
	}
	h := sha256.Sum256(append(salt, pin...))
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(h[:])), []byte(sum)) == 1
}

func (s *Server) noticeQR(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil {
		writeError(w, s.Logger, r, apperr.Errorf(apperr.EINVALID, "version must be a number"))
		return
	}
	id, cat, err := s.current(ctx)
	if err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	n, ok := cat.Notice(r.PathValue("id"), version)
	if !ok {
		writeError(w, s.Logger, r, apperr.Errorf(apperr.ENOTFOUND, "notice %s version %d is unknown", r.PathValue("id"), version))
		return
	}
	png, err := qr.PNG(NoticeURL(s.publicURL(id, cat), n), 320)
	if err != nil {
		writeError(w, s.Logger, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "qr.png", time.Time{}, bytes.NewReader(png))
}
