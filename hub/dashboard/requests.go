package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// DueSoonDays is how close a due date must be for the queue to highlight it.
const DueSoonDays = 7

// maxBulk bounds one bulk action: a wave is handled a page at a time.
const maxBulk = 1000

type requestRow struct {
	hub.Request
	Overdue  bool
	DueSoon  bool
	DaysLeft int
}

func (h *Handler) requestRows(rs []hub.Request) []requestRow {
	now := h.Now()
	y, m, d := now.In(h.Location).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	out := make([]requestRow, 0, len(rs))
	for _, q := range rs {
		row := requestRow{Request: q}
		if !q.State.Closed() {
			due := time.Date(q.DueOn.Year(), q.DueOn.Month(), q.DueOn.Day(), 0, 0, 0, 0, time.UTC)
			row.DaysLeft = int(due.Sub(today).Hours() / 24)
			row.Overdue = hub.Overdue(due, now, h.Location)
			row.DueSoon = !row.Overdue && row.DaysLeft <= DueSoonDays
		}
		out = append(out, row)
	}
	return out
}

func (h *Handler) noRequests(w http.ResponseWriter, r *http.Request, s *hub.Session) bool {
	if h.Requests != nil {
		return false
	}
	h.fail(w, r, s, apperr.Errorf(apperr.EUNAVAILABLE, "rights requests are not available on this hub"))
	return true
}

var (
	requestKinds  = []hub.RequestKind{hub.RequestAccess, hub.RequestErasure, hub.RequestPortability, hub.RequestObjection, hub.RequestRectification}
	requestStates = []hub.RequestState{hub.RequestOpen, hub.RequestInProgress, hub.RequestDone, hub.RequestRefused}
)

// requests is the queue, sorted by due date, with filters and bulk actions.
func (h *Handler) requests(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	if h.noRequests(w, r, s) {
		return
	}
	q := r.URL.Query()
	// A page is as many as one bulk action takes: in a wave, "select all"
	// then an action handles a thousand at a time.
	f := hub.RequestFilter{Limit: maxBulk, After: q.Get("after")}
	state := q.Get("state")
	switch state {
	case "", "active":
		state = "active"
	case "all":
		f.States = requestStates
	default:
		if !slices.Contains(requestStates, hub.RequestState(state)) {
			h.fail(w, r, s, apperr.Errorf(apperr.EINVALID, "unknown state %q", state))
			return
		}
		f.States = []hub.RequestState{hub.RequestState(state)}
	}
	if k := q.Get("kind"); k != "" {
		if !hub.RequestKind(k).Valid() {
			h.fail(w, r, s, apperr.Errorf(apperr.EINVALID, "unknown kind %q", k))
			return
		}
		f.Kind = hub.RequestKind(k)
	}
	rs, err := h.Requests.Requests(r.Context(), f)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	rows := h.requestRows(rs)
	var overdue, soon int
	for _, q := range rows {
		if q.Overdue {
			overdue++
		} else if q.DueSoon {
			soon++
		}
	}
	data := map[string]any{"Title": "Rights requests", "Rows": rows, "State": state, "Kind": string(f.Kind),
		"Kinds": requestKinds, "States": requestStates, "Overdue": overdue, "Soon": soon, "CSRF": s.CSRF,
		"Done": q.Get("done"), "Failed": q["failed"]}
	if len(rs) == f.Limit {
		next := url.Values{"state": {state}, "after": {rs[len(rs)-1].Place().String()}}
		if f.Kind != "" {
			next.Set("kind", string(f.Kind))
		}
		data["Next"] = Prefix + "requests?" + next.Encode()
	}
	h.render(w, r, http.StatusOK, "requests.html", s, data)
}

func (h *Handler) newRequest(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	if h.noRequests(w, r, s) {
		return
	}
	q := r.URL.Query()
	h.render(w, r, http.StatusOK, "request_new.html", s, map[string]any{"Title": "New rights request", "Kinds": requestKinds,
		"CSRF": s.CSRF, "Form": map[string]string{"kind": q.Get("kind"), "email": q.Get("email"), "phone": q.Get("phone"),
			"subject_id": q.Get("subject_id")}})
}

func (h *Handler) createRequest(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	if h.noRequests(w, r, s) {
		return
	}
	f := r.PostForm
	nr := hub.NewRequest{Kind: hub.RequestKind(f.Get("kind")), Email: strings.TrimSpace(f.Get("email")),
		Phone: strings.TrimSpace(f.Get("phone")), SubjectID: strings.TrimSpace(f.Get("subject_id")),
		Channel: "dashboard", Details: strings.TrimSpace(f.Get("details")), By: s.Login}
	var err error
	switch {
	case !nr.Kind.Valid():
		err = apperr.Errorf(apperr.EINVALID, "choose what the person asks for")
	case nr.Email == "" && nr.Phone == "" && nr.SubjectID == "":
		err = apperr.Errorf(apperr.EINVALID, "give the person's email or phone")
	case len(nr.Details) > 10000:
		err = apperr.Errorf(apperr.EINVALID, "the details are longer than 10000 characters")
	}
	var req *hub.Request
	if err == nil {
		req, err = h.Requests.CreateRequest(r.Context(), nr)
	}
	if err != nil {
		if apperr.Code(err) == apperr.EINTERNAL {
			h.fail(w, r, s, err)
			return
		}
		form := map[string]string{}
		for k := range f {
			form[k] = f.Get(k)
		}
		h.render(w, r, apperr.HTTPStatus(apperr.Code(err)), "request_new.html", s, map[string]any{"Title": "New rights request",
			"Kinds": requestKinds, "CSRF": s.CSRF, "Form": form, "Error": apperr.Message(err)})
		return
	}
	h.Logger.Info("rights request created from the dashboard", "request", req.ID, "kind", req.Kind, "user", s.Login)
	http.Redirect(w, r, Prefix+"requests/"+url.PathEscape(req.ID), http.StatusSeeOther)
}

func (h *Handler) request(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	if h.noRequests(w, r, s) {
		return
	}
	req, err := h.Requests.Request(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	row := h.requestRows([]hub.Request{*req})[0]
	h.render(w, r, http.StatusOK, "request.html", s, map[string]any{"Title": "Rights request", "R": row, "CSRF": s.CSRF,
		"Done": r.URL.Query().Get("done"), "Failed": r.URL.Query()["failed"], "Self": Prefix + "requests/" + url.PathEscape(req.ID)})
}

var requestActs = []string{hub.ActStart, hub.ActExtend, hub.ActComplete, hub.ActRefuse, hub.ActNote}

// actOnRequests applies one action to the selected requests; each succeeds
// or fails on its own, and the queue (or the one request) shows what
// happened.
func (h *Handler) actOnRequests(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	if h.noRequests(w, r, s) {
		return
	}
	f := r.PostForm
	ids := f["id"]
	act := hub.RequestAct{Action: f.Get("action"), Note: strings.TrimSpace(f.Get("note")), By: s.Login}
	back := safeNext(f.Get("back"))
	var err error
	switch {
	case !slices.Contains(requestActs, act.Action):
		err = apperr.Errorf(apperr.EINVALID, "choose an action")
	case len(ids) == 0:
		err = apperr.Errorf(apperr.EINVALID, "select at least one request")
	case len(ids) > maxBulk:
		err = apperr.Errorf(apperr.EINVALID, "select at most %d requests at once", maxBulk)
	case (act.Action == hub.ActExtend || act.Action == hub.ActRefuse || act.Action == hub.ActNote) && act.Note == "":
		err = apperr.Errorf(apperr.EINVALID, "%s needs a reason: it is recorded and, for extend and refuse, told to the person", act.Action)
	case len(act.Note) > 10000:
		err = apperr.Errorf(apperr.EINVALID, "the note is longer than 10000 characters")
	}
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	outs, err := h.Requests.ActOnRequests(r.Context(), ids, act)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	done := 0
	v := url.Values{}
	for _, o := range outs {
		if o.Error == "" {
			done++
		} else if len(v["failed"]) < 20 {
			v.Add("failed", fmt.Sprintf("%s: %s", o.ID, o.Error))
		}
	}
	h.Logger.Info("rights requests acted on from the dashboard", "action", act.Action, "user", s.Login, "done", done, "failed", len(outs)-done)
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	v.Set("done", fmt.Sprintf("%s: %d of %d", act.Action, done, len(outs)))
	http.Redirect(w, r, back+sep+v.Encode(), http.StatusSeeOther)
}

// requestExport downloads the machine-readable export a completed access
// or portability request answered with.
func (h *Handler) requestExport(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	if h.noRequests(w, r, s) {
		return
	}
	id := r.PathValue("id")
	e, err := h.Store.RequestExport(r.Context(), id)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Content-Disposition", `attachment; filename="attesta-request-`+url.PathEscape(id)+`.json"`)
	hd.Set("Cache-Control", "no-store")
	w.Write(b)
	h.Logger.Info("request export downloaded from the dashboard", "request", id, "user", s.Login)
}
