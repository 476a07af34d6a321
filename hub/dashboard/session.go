package dashboard

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// Cookie names: over https the __Host- prefix makes the browser refuse the
// cookie unless it is Secure, host-only and for path /, so no subdomain or
// plain-http page can plant or shadow it. Plain http (loopback, the demo)
// cannot use the prefix.
const (
	cookieSecure = "__Host-attesta_session"
	cookiePlain  = "attesta_session"
)

func (h *Handler) cookieName(r *http.Request) string {
	if h.secure(r) {
		return cookieSecure
	}
	return cookiePlain
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	c := &http.Cookie{Name: h.cookieName(r), Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secure(r)}
	if c.Secure {
		c.Path = "/" // __Host- demands it
	}
	http.SetCookie(w, c)
}

// cookieSecret returns the session secret a request presents, or "" when it
// presents none that could be one.
func cookieSecret(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || !hub.ValidSecret(c.Value) {
		return ""
	}
	return c.Value
}

// session returns the request's live session, nil when it has none. An
// expired one is deleted and its cookie cleared.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*hub.Session, error) {
	secret := cookieSecret(r, h.cookieName(r))
	if secret == "" {
		return nil, nil
	}
	ctx := r.Context()
	s, err := h.Store.Session(ctx, hub.SessionID(secret))
	if apperr.Code(err) == apperr.ENOTFOUND {
		h.setCookie(w, r, "", -1)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	now := h.Now()
	if !s.Live(now) {
		h.setCookie(w, r, "", -1)
		return nil, h.Store.EndSession(ctx, s.ID)
	}
	if now.Sub(s.SeenAt) >= hub.SessionTouch {
		if err := h.Store.TouchSession(ctx, s.ID, now); err != nil {
			return nil, err
		}
		s.SeenAt = now
	}
	return s, nil
}

// safeNext is where to go after signing in: a path inside the dashboard,
// never another site (an open redirect would make the sign-in page a
// phishing aid).
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, Prefix) || strings.Contains(u.Path, "..") || strings.ContainsAny(next, "\\\r\n\t") ||
		strings.HasPrefix(next, "//") || u.Path == Prefix+"login" || u.Path == Prefix+"logout" {
		return Prefix
	}
	return u.RequestURI()
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// clientAddr is the address sign-ins are throttled by: the TCP peer.
// (Behind a reverse proxy every client shares the proxy's address; the
// per-login limit still holds.)
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, _ := h.session(w, r); s != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.render(w, r, http.StatusOK, "login.html", nil, map[string]any{"Title": "Sign in", "Next": safeNext(r.URL.Query().Get("next"))})
}

// login checks a sign-in. Cross-site posts are refused (Sec-Fetch-Site and
// Origin), so no other site can sign a browser into an account of its
// choosing; there is no session yet whose token could protect the form.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if err := h.cop.Check(r); err != nil {
		h.fail(w, r, nil, apperr.Errorf(apperr.EFORBIDDEN, "refused: this request came from another site (%v)", err))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, nil, apperr.Errorf(apperr.EINVALID, "malformed form"))
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	again := func(status int, msg string) {
		h.render(w, r, status, "login.html", nil, map[string]any{"Title": "Sign in", "Next": next,
			"Login": r.PostForm.Get("login"), "Error": msg})
	}
	ctx := r.Context()
	login, err := hub.NormalizeLogin(r.PostForm.Get("login"))
	password := r.PostForm.Get("password")
	if err != nil || password == "" {
		again(http.StatusUnauthorized, "Wrong login or password.")
		return
	}
	now := h.Now()
	addrKey := "addr:" + clientAddr(r)
	var addrBefore hub.Throttle
	for _, k := range []struct {
		key  string
		free int
	}{{"login:" + login, hub.ThrottleFreeLogin}, {addrKey, hub.ThrottleFreeAddr}} {
		wait, before, err := h.Store.AttemptLogin(ctx, k.key, k.free, now)
		if err != nil {
			h.fail(w, r, nil, err)
			return
		}
		if wait > 0 {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			h.Logger.Warn("dashboard sign-in throttled", "key", strings.SplitN(k.key, ":", 2)[0], "remote", clientAddr(r), "wait", wait)
			again(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Try again in %d seconds.", secs))
			return
		}
		if k.key == addrKey {
			addrBefore = before
		}
	}
	hash, err := h.Store.PasswordHash(ctx, login)
	if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
		h.fail(w, r, nil, err)
		return
	}
	h.checks <- struct{}{}
	ok := hub.CheckLogin(hash, password)
	<-h.checks
	if !ok {
		h.Logger.Warn("dashboard sign-in failed", "remote", clientAddr(r))
		again(http.StatusUnauthorized, "Wrong login or password.")
		return
	}
	// The address keeps only its failures: the people behind one NAT or
	// proxy sign in all day, but a guesser's count there must stand.
	if err := h.Store.ForgetFailures(ctx, "login:"+login); err != nil {
		h.fail(w, r, nil, err)
		return
	}
	if err := h.Store.ForgiveAttempt(ctx, addrKey, now, addrBefore); err != nil {
		h.fail(w, r, nil, err)
		return
	}
	secret, err := hub.NewSecret()
	if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	csrf, err := hub.NewSecret()
	if err != nil {
		h.fail(w, r, nil, err)
		return
	}
	s := hub.Session{ID: hub.SessionID(secret), Login: login, CSRF: csrf, CreatedAt: now, SeenAt: now}
	if err := h.Store.CreateSession(ctx, s); err != nil {
		h.fail(w, r, nil, err)
		return
	}
	h.setCookie(w, r, secret, int(hub.SessionMax/time.Second))
	h.Logger.Info("dashboard sign-in", "user", login)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	if err := h.Store.EndSession(r.Context(), s.ID); err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.setCookie(w, r, "", -1)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}
