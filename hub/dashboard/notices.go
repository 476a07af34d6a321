package dashboard

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

// noticeRow is a published notice version and the kiosks showing it.
type noticeRow struct {
	hub.NoticeVersion
	Kiosks []string
}

// notices lists every notice version with the kiosks that show it, and the
// form that publishes a new version.
func (h *Handler) notices(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	h.renderNotices(w, r, s, http.StatusOK, nil, "")
}

func (h *Handler) renderNotices(w http.ResponseWriter, r *http.Request, s *hub.Session, status int, form map[string]string, msg string) {
	ctx := r.Context()
	vs, err := h.Store.NoticeVersions(ctx)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	ds, err := h.Store.Devices(ctx)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	showing := map[string][]string{}
	for _, d := range ds {
		if d.RevokedAt != nil {
			continue
		}
		for _, n := range d.Notices {
			showing[n] = append(showing[n], d.Name)
		}
	}
	rows := make([]noticeRow, 0, len(vs))
	for _, v := range vs {
		rows = append(rows, noticeRow{NoticeVersion: v, Kiosks: showing[v.ID+"/"+strconv.Itoa(v.Version)]})
	}
	// Newest first within each id; active ids first.
	slices.SortStableFunc(rows, func(a, b noticeRow) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return b.Version - a.Version
	})
	if form == nil {
		form = map[string]string{}
	}
	h.render(w, r, status, "notices.html", s, map[string]any{"Title": "Notices", "Rows": rows, "CSRF": s.CSRF,
		"Form": form, "Error": msg, "Done": r.URL.Query().Get("done")})
}

// publishNotice adds a notice version; collectors get it at their next
// sync (connected ones at once, through ConfigChanged).
func (h *Handler) publishNotice(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	f := r.PostForm
	form := map[string]string{}
	for _, k := range []string{"id", "version", "language", "title", "summary", "text"} {
		form[k] = f.Get(k)
	}
	version, err := strconv.Atoi(strings.TrimSpace(form["version"]))
	if err != nil {
		h.renderNotices(w, r, s, http.StatusBadRequest, form, "version: a whole number, newer than the last of this notice")
		return
	}
	text := strings.ReplaceAll(form["text"], "\r\n", "\n") // browsers send CRLF; the kiosk shows (and hashes) LF
	n := catalog.Notice{ID: strings.TrimSpace(form["id"]), Version: version, Language: strings.TrimSpace(form["language"]),
		Title: strings.TrimSpace(form["title"]), Summary: strings.TrimSpace(form["summary"]), Text: text}
	// As 'attesta-hub notice publish': the title defaults to the first
	// "# " heading, the summary to the previous version's.
	for line := range strings.SplitSeq(text, "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok && n.Title == "" {
			n.Title = strings.TrimSpace(t)
		}
	}
	if n.Summary == "" {
		if cur, err := h.Store.Catalog(r.Context()); err == nil {
			if last, ok := cur.Latest(n.ID); ok {
				n.Summary = last.Summary
			}
		}
	}
	cat, err := h.Store.PublishNotice(r.Context(), n)
	if err != nil {
		if apperr.Code(err) == apperr.EINTERNAL {
			h.fail(w, r, s, err)
			return
		}
		h.renderNotices(w, r, s, apperr.HTTPStatus(apperr.Code(err)), form, apperr.Message(err))
		return
	}
	if h.ConfigChanged != nil {
		h.ConfigChanged()
	}
	h.Logger.Info("notice published from the dashboard", "notice", form["id"], "version", version, "seq", cat.Seq, "user", s.Login)
	http.Redirect(w, r, Prefix+"notices?done="+strings.TrimSpace(form["id"])+"+v"+strconv.Itoa(version), http.StatusSeeOther)
}
