// Package dashboard serves the head-office dashboard under /dashboard/:
// server-rendered pages behind a sign-in, for the DPO and head-office staff.
// It is English only (the hub's public pages for visitors are Italian and
// English).
//
// Security: sessions are random secrets in an HttpOnly, SameSite=Strict
// cookie (Secure whenever the hub is reached over https), kept hashed in
// the store with idle and absolute expiry; sign-in is throttled per login
// and per address; every state-changing request must come from the
// dashboard's own origin (Sec-Fetch-Site/Origin) and carry the session's
// CSRF token; pages carry a strict Content-Security-Policy (no inline
// script or style), and every value is escaped by html/template.
package dashboard

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// Prefix is where the dashboard is mounted.
const Prefix = "/dashboard/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the dashboard needs from storage.
type Store interface {
	hub.Store
	hub.UserStore
	hub.DashboardStore
}

// Handler serves the dashboard.
type Handler struct {
	Store Store
	// Requests keeps rights requests (the Store, by default); nil means
	// this hub has none and the request pages say so.
	Requests hub.RequestStore
	// Online lists the devices with a live sync session.
	Online    func() []string
	Logger    *slog.Logger
	Now       func() time.Time
	Location  *time.Location // the controller's time zone: due dates and days; default UTC, as the request store
	PublicURL string         // an https URL makes cookies Secure even behind a TLS-terminating proxy
	// ConfigChanged, when set, is called after a publish so connected
	// collectors get the new configuration at once.
	ConfigChanged func()

	mux   *http.ServeMux
	pages map[string]*template.Template
	cop   *http.CrossOriginProtection
	// argon2id takes 19 MiB per check: a handful at once is plenty and
	// bounds what a flood of sign-ins can allocate.
	checks chan struct{}
}

// New returns a dashboard handler with defaults.
func New(store Store) *Handler {
	h := &Handler{Store: store, Requests: store, Logger: slog.Default(), Now: time.Now, Location: time.UTC,
		Online: func() []string { return nil }, checks: make(chan struct{}, 4), cop: http.NewCrossOriginProtection()}
	h.pages = parsePages(funcs(func() *time.Location { return h.Location }))
	h.mux = http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	h.mux.Handle("GET "+Prefix+"static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}))
	h.mux.HandleFunc("GET "+Prefix+"login", h.loginPage)
	h.mux.HandleFunc("POST "+Prefix+"login", h.login)
	h.mux.HandleFunc("POST "+Prefix+"logout", h.auth(h.logout))
	h.mux.HandleFunc("GET "+Prefix+"{$}", h.auth(h.overview))
	h.mux.HandleFunc("GET "+Prefix+"devices", h.auth(h.devices))
	h.mux.HandleFunc("GET "+Prefix+"consents", h.auth(h.consents))
	h.mux.HandleFunc("GET "+Prefix+"subjects", h.auth(h.subjects))
	h.mux.HandleFunc("GET "+Prefix+"subjects/{id}", h.auth(h.subject))
	h.mux.HandleFunc("GET "+Prefix+"proofs/{id}", h.auth(h.proofZip))
	h.mux.HandleFunc("GET "+Prefix+"proofs/{id}/verify", h.auth(h.proofVerify))
	h.mux.HandleFunc("GET "+Prefix+"quarantine", h.auth(h.quarantine))
	h.mux.HandleFunc("GET "+Prefix+"requests", h.auth(h.requests))
	h.mux.HandleFunc("GET "+Prefix+"requests/new", h.auth(h.newRequest))
	h.mux.HandleFunc("POST "+Prefix+"requests", h.auth(h.createRequest))
	h.mux.HandleFunc("POST "+Prefix+"requests/act", h.auth(h.actOnRequests))
	h.mux.HandleFunc("GET "+Prefix+"requests/{id}", h.auth(h.request))
	h.mux.HandleFunc("GET "+Prefix+"requests/{id}/export", h.auth(h.requestExport))
	h.mux.HandleFunc("GET "+Prefix+"notices", h.auth(h.notices))
	h.mux.HandleFunc("POST "+Prefix+"notices", h.auth(h.publishNotice))
	h.mux.HandleFunc("GET "+Prefix+"api/live", h.auth(h.live))
	return h
}

// ServeHTTP adds the security headers every response carries and routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	if h.secure(r) {
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
	h.mux.ServeHTTP(w, r)
}

// secure reports whether the browser reaches the hub over https.
func (h *Handler) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(h.PublicURL), "https://")
}

// isAPI reports whether a path is a fetch endpoint (JSON, 401 instead of
// a redirect to sign-in).
func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, Prefix+"api/") }

// auth serves h only with a live session; state-changing requests must
// also come from this origin and carry the session's CSRF token.
func (h *Handler) auth(next func(http.ResponseWriter, *http.Request, *hub.Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		post := r.Method != http.MethodGet && r.Method != http.MethodHead
		if post {
			if err := h.cop.Check(r); err != nil {
				h.fail(w, r, nil, apperr.Errorf(apperr.EFORBIDDEN, "refused: this request came from another site (%v)", err))
				return
			}
		}
		s, err := h.session(w, r)
		if err != nil {
			h.fail(w, r, nil, err)
			return
		}
		if s == nil {
			if isAPI(r) {
				writeJSONError(w, http.StatusUnauthorized, apperr.EUNAUTHORIZED, "sign in first")
				return
			}
			target := Prefix + "login"
			if !post {
				target += "?next=" + urlQueryEscape(r.URL.RequestURI())
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		if post {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				h.fail(w, r, s, apperr.Errorf(apperr.EINVALID, "malformed form"))
				return
			}
			if !hub.SameSecret(r.PostForm.Get("csrf"), s.CSRF) {
				h.fail(w, r, s, apperr.Errorf(apperr.EFORBIDDEN, "refused: the form's security token is missing or out of date; reload the page and try again"))
				return
			}
		}
		next(w, r, s)
	}
}

// fail shows an error: JSON for fetch endpoints, a page otherwise.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s *hub.Session, err error) {
	code := apperr.Code(err)
	if code == apperr.EINTERNAL {
		h.Logger.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	status := apperr.HTTPStatus(code)
	if isAPI(r) {
		writeJSONError(w, status, code, apperr.Message(err))
		return
	}
	h.render(w, r, status, "error.html", s, map[string]any{"Title": http.StatusText(status), "Status": status, "Message": apperr.Message(err)})
}

// render writes a page in the layout.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, s *hub.Session, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	data["Session"] = s
	data["Path"] = r.URL.Path
	data["Prefix"] = Prefix
	data["Version"] = hub.Version
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store") // pages show personal data
	w.WriteHeader(status)
	t, ok := h.pages[name]
	if !ok {
		h.Logger.Error("no such dashboard template", "page", name)
		return
	}
	if err := t.ExecuteTemplate(w, "layout", data); err != nil {
		h.Logger.Error("render dashboard page", "page", name, "err", err)
	}
}
