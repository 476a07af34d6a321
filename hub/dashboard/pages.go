package dashboard

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/proof"
	"github.com/attesta/attesta/shared/record"
)

var recordIDRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// deviceRow is a device as the overview and the devices page show it.
type deviceRow struct {
	*hub.Device
	Online      bool
	ConfigState string // current, behind, none
	Place       string // the touchpoint's name
}

func (h *Handler) deviceRows(r *http.Request, cat *catalog.Catalog) ([]deviceRow, error) {
	ds, err := h.Store.Devices(r.Context())
	if err != nil {
		return nil, err
	}
	online := map[string]bool{}
	for _, id := range h.Online() {
		online[id] = true
	}
	names := touchpointNames(cat)
	out := make([]deviceRow, 0, len(ds))
	for _, d := range ds {
		row := deviceRow{Device: d, Online: online[d.ID] && d.RevokedAt == nil, ConfigState: "current", Place: names[d.Touchpoint]}
		switch {
		case d.ConfigSeq == 0:
			row.ConfigState = "none"
		case cat != nil && d.ConfigSeq < cat.Seq:
			row.ConfigState = "behind"
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b deviceRow) int {
		if a.Online != b.Online { // online first, then by name
			if a.Online {
				return -1
			}
			return 1
		}
		return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name))
	})
	return out, nil
}

// today is the start of today in the dashboard's time zone.
func (h *Handler) today() time.Time {
	y, m, d := h.Now().In(h.Location).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, h.Location)
}

func (h *Handler) offset(t time.Time) int { _, off := t.In(h.Location).Zone(); return off }

func touchpointNames(cat *catalog.Catalog) map[string]string {
	names := map[string]string{}
	if cat != nil {
		for _, t := range cat.Touchpoints {
			names[t.ID] = t.Name
		}
	}
	return names
}

type tpCount struct {
	Touchpoint, Name string
	Given, Refused   int
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	ctx := r.Context()
	cat, err := h.Store.Catalog(ctx)
	if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
		h.fail(w, r, s, err)
		return
	}
	devices, err := h.deviceRows(r, cat)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	today := h.today()
	counts, err := h.Store.ConsentsByDay(ctx, today, h.offset(today))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	names := touchpointNames(cat)
	var byTP []tpCount
	var given, refused int
	for _, c := range counts {
		if c.Day != today.Format(time.DateOnly) {
			continue
		}
		byTP = append(byTP, tpCount{Touchpoint: c.Touchpoint, Name: names[c.Touchpoint], Given: c.Given, Refused: c.Refused})
		given += c.Given
		refused += c.Refused
	}
	slices.SortFunc(byTP, func(a, b tpCount) int { return (b.Given + b.Refused) - (a.Given + a.Refused) })
	quarantine, err := h.Store.Quarantine(ctx, 1000)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	data := map[string]any{"Title": "Overview", "Devices": devices, "Today": byTP, "Given": given, "Refused": refused,
		"Quarantined": len(quarantine), "ConfigSeq": catSeq(cat), "HasRequests": h.Requests != nil}
	online, problems := 0, 0
	for _, d := range devices {
		if d.Online {
			online++
		}
		if d.Chain != hub.ChainOK {
			problems++
		}
	}
	data["Online"], data["ChainProblems"] = online, problems
	if h.Requests != nil {
		rs, err := h.Requests.Requests(ctx, hub.RequestFilter{Limit: 500})
		if err != nil {
			h.fail(w, r, s, err)
			return
		}
		var soon []requestRow
		for _, q := range h.requestRows(rs) {
			if q.Overdue || q.DueSoon {
				soon = append(soon, q)
			}
		}
		data["DueSoon"] = soon[:min(len(soon), 10)]
		data["DueSoonMore"] = max(len(soon)-10, 0)
	}
	h.render(w, r, http.StatusOK, "overview.html", s, data)
}

func catSeq(cat *catalog.Catalog) int64 {
	if cat == nil {
		return 0
	}
	return cat.Seq
}

func (h *Handler) devices(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	cat, err := h.Store.Catalog(r.Context())
	if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
		h.fail(w, r, s, err)
		return
	}
	devices, err := h.deviceRows(r, cat)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	h.render(w, r, http.StatusOK, "devices.html", s, map[string]any{"Title": "Devices", "Devices": devices,
		"ConfigSeq": catSeq(cat), "Names": touchpointNames(cat)})
}

// live is the overview's fetch endpoint: which devices are online now and
// what each reported, refreshed by app.js without reloading the page.
func (h *Handler) live(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	devices, err := h.deviceRows(r, nil)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	type dev struct {
		ID       string     `json:"id"`
		Online   bool       `json:"online"`
		Pending  int64      `json:"pending"`
		LastSeen *time.Time `json:"last_seen"`
		Chain    string     `json:"chain"`
	}
	out := make([]dev, 0, len(devices))
	for _, d := range devices {
		out = append(out, dev{d.ID, d.Online, d.PendingReported, d.LastSeen, d.Chain})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"devices": out})
}

var chartDays = []int{7, 14, 30, 90}

func (h *Handler) consents(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	days := 14
	if v := r.URL.Query().Get("days"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains(chartDays, n) {
			h.fail(w, r, s, apperr.Errorf(apperr.EINVALID, "days must be one of 7, 14, 30 or 90"))
			return
		}
		days = n
	}
	ctx := r.Context()
	first := h.today().AddDate(0, 0, -(days - 1))
	counts, err := h.Store.ConsentsByDay(ctx, first, h.offset(first))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	cat, err := h.Store.Catalog(ctx)
	if err != nil && apperr.Code(err) != apperr.ENOTFOUND {
		h.fail(w, r, s, err)
		return
	}
	names := touchpointNames(cat)
	c := buildChart(counts, first, days, names)
	// The table under the chart: one row per day and touchpoint, newest first.
	rows := slices.Clone(counts)
	slices.Reverse(rows)
	type row struct {
		hub.DayCount
		Name string
	}
	var table []row
	for _, n := range rows {
		table = append(table, row{n, names[n.Touchpoint]})
	}
	h.render(w, r, http.StatusOK, "consents.html", s, map[string]any{"Title": "Consents per day", "Chart": c,
		"Days": days, "Choices": chartDays, "Table": table})
}

// subjects searches people by email or phone: exact after normalisation,
// or by the start of an address or number.
func (h *Handler) subjects(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := map[string]any{"Title": "Subjects", "Q": q}
	if q == "" {
		h.render(w, r, http.StatusOK, "subjects.html", s, data)
		return
	}
	if len(q) > 320 {
		h.fail(w, r, s, apperr.Errorf(apperr.EINVALID, "the search is too long"))
		return
	}
	ctx := r.Context()
	kind, prefix := hub.IdentEmail, strings.ToLower(q)
	if !strings.Contains(q, "@") {
		digits := strings.Map(func(c rune) rune {
			if c >= '0' && c <= '9' {
				return c
			}
			return -1
		}, q)
		if digits == "" || strings.ContainsFunc(q, func(c rune) bool { return !strings.ContainsRune("+0123456789 ()-./", c) }) {
			data["Hint"] = "Search by email (or its beginning) or by phone number (international format, e.g. +39 333 …)."
			h.render(w, r, http.StatusOK, "subjects.html", s, data)
			return
		}
		kind, prefix = hub.IdentPhone, "+"+strings.TrimPrefix(digits, "00")
		if !strings.HasPrefix(strings.TrimSpace(q), "+") && !strings.HasPrefix(digits, "00") {
			// A national number: try it as the hub would have stored it for
			// each touchpoint country, exactly.
			if id, err := hub.ParseIdentifier("", q, h.region(r)); err == nil {
				prefix = id.Value
			}
		}
	} else if id, err := hub.ParseIdentifier(q, "", ""); err == nil {
		prefix = id.Value
	}
	matches, err := h.Store.SearchIdentifiers(ctx, kind, prefix, 50)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	if len(matches) == 0 {
		// An erased person's identifiers are gone; the hub can still tell
		// that an exact address belonged to someone erased.
		var id hub.Identifier
		var err error
		if kind == hub.IdentEmail {
			id, err = hub.ParseIdentifier(q, "", "")
		} else {
			id, err = hub.ParseIdentifier("", q, h.region(r))
		}
		if err == nil {
			if _, err := h.Store.FindSubject(ctx, id); apperr.Code(err) == apperr.EGONE {
				data["Gone"] = apperr.Message(err)
			}
		}
	}
	if len(matches) == 1 {
		http.Redirect(w, r, Prefix+"subjects/"+matches[0].SubjectID, http.StatusSeeOther)
		return
	}
	data["Matches"] = matches
	data["Searched"] = true
	h.render(w, r, http.StatusOK, "subjects.html", s, data)
}

// region is the default country for phone numbers typed without one: the
// controller's jurisdiction (as the request store reads them), else the
// first touchpoint's.
func (h *Handler) region(r *http.Request) string {
	if cat, err := h.Store.Catalog(r.Context()); err == nil {
		if cat.Jurisdiction != "" {
			return cat.Jurisdiction
		}
		for _, t := range cat.Touchpoints {
			if t.Country != "" {
				return t.Country
			}
		}
	}
	return "IT"
}

type eventRow struct {
	hub.Event
	Provable bool // a consent record a proof bundle can be made for
	Device   string
}

func (h *Handler) subject(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	ctx := r.Context()
	sub, err := h.Store.Subject(ctx, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	cat, err := h.Store.Catalog(ctx)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	titles := map[string]string{}
	for _, p := range cat.Purposes {
		if t, ok := p.Text["en"]; ok {
			titles[p.Code] = t.Title
		}
	}
	devices := map[string]string{}
	if ds, err := h.Store.Devices(ctx); err == nil {
		for _, d := range ds {
			devices[d.ID] = d.Name
		}
	}
	var name record.Subject
	events := make([]eventRow, 0, len(sub.Events))
	for _, ev := range sub.Events {
		if ev.Subject != nil && (ev.Subject.GivenName != "" || ev.Subject.FamilyName != "") {
			name = *ev.Subject
		}
		events = append(events, eventRow{Event: ev, Device: devices[ev.Collector],
			Provable: ev.Kind == record.Given || ev.Kind == record.Refused || ev.Kind == record.Withdrawn})
	}
	slices.Reverse(events) // newest first
	h.render(w, r, http.StatusOK, "subject.html", s, map[string]any{"Title": "Subject", "S": sub, "Name": name,
		"Events": events, "Purposes": titles, "Names": touchpointNames(cat), "HasRequests": h.Requests != nil})
}

// bundle builds the signed proof bundle of a record.
func (h *Handler) bundle(r *http.Request) (string, []byte, error) {
	id := r.PathValue("id")
	if !recordIDRE.MatchString(id) {
		return "", nil, apperr.Errorf(apperr.EINVALID, "%q is not a record id", id)
	}
	ctx := r.Context()
	b, err := h.Store.Proof(ctx, id)
	if err != nil {
		return "", nil, err
	}
	keys, err := h.Store.Keys(ctx)
	if err != nil {
		return "", nil, err
	}
	z, err := proof.Build(b, keys.SignPriv)
	return id, z, err
}

func (h *Handler) proofZip(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	id, z, err := h.bundle(r)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/zip")
	hd.Set("Content-Disposition", `attachment; filename="attesta-proof-`+id+`.zip"`)
	hd.Set("Content-Length", strconv.Itoa(len(z)))
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(z)
	h.Logger.Info("proof bundle downloaded from the dashboard", "event", id, "user", s.Login, "bytes", len(z))
}

// proofVerify builds the bundle an inspector would get and runs the same
// offline verifier on it that 'attesta-hub proof verify' runs.
func (h *Handler) proofVerify(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	id, z, err := h.bundle(r)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	rep := proof.Verify(z)
	passed := 0
	for _, c := range rep.Checks {
		if c.OK() {
			passed++
		}
	}
	h.render(w, r, http.StatusOK, "verify.html", s, map[string]any{"Title": "Proof check", "ID": id, "R": rep,
		"Passed": passed, "Bytes": len(z), "Subject": r.URL.Query().Get("subject")})
}

func (h *Handler) quarantine(w http.ResponseWriter, r *http.Request, s *hub.Session) {
	qs, err := h.Store.Quarantine(r.Context(), 500)
	if err != nil {
		h.fail(w, r, s, err)
		return
	}
	devices := map[string]string{}
	if ds, err := h.Store.Devices(r.Context()); err == nil {
		for _, d := range ds {
			devices[d.ID] = d.Name
		}
	}
	byCode := map[string]int{}
	for _, q := range qs {
		byCode[q.Code]++
	}
	h.render(w, r, http.StatusOK, "quarantine.html", s, map[string]any{"Title": "Quarantine", "Q": qs, "Devices": devices, "ByCode": byCode})
}
