package hub

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// RequestKind is what a data subject asks for (GDPR Art. 15–21).
type RequestKind string

const (
	RequestAccess        RequestKind = "access"        // Art. 15: a copy of everything held
	RequestErasure       RequestKind = "erasure"       // Art. 17: delete, keep a pseudonymous tombstone
	RequestPortability   RequestKind = "portability"   // Art. 20: the machine-readable export
	RequestObjection     RequestKind = "objection"     // Art. 21: stop direct marketing
	RequestRectification RequestKind = "rectification" // Art. 16: correct what is held
)

// Valid reports whether k is a known kind.
func (k RequestKind) Valid() bool {
	switch k {
	case RequestAccess, RequestErasure, RequestPortability, RequestObjection, RequestRectification:
		return true
	}
	return false
}

// RequestState is where a rights request stands.
type RequestState string

const (
	RequestOpen       RequestState = "open"        // received, nobody has picked it up
	RequestInProgress RequestState = "in_progress" // someone is working on it
	RequestDone       RequestState = "done"        // answered; the outcome is in the trail
	RequestRefused    RequestState = "refused"     // refused with a reason (Art. 12(4))
)

// Closed reports whether s is final.
func (s RequestState) Closed() bool { return s == RequestDone || s == RequestRefused }

// Months a controller has to answer, and by how much it may extend
// (GDPR Art. 12(3)).
const (
	AnswerMonths = 1
	ExtendMonths = 2
)

// AddMonths returns the calendar date n months after day, clamped to the
// end of a shorter month: 31 January plus one month is 28 (or 29) February,
// not 3 March as time.AddDate would have it. Only the date of day counts.
func AddMonths(day time.Time, n int) time.Time {
	y, m, d := day.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	if last := first.AddDate(0, 1, -1).Day(); d > last {
		d = last
	}
	return time.Date(first.Year(), first.Month(), d, 0, 0, 0, 0, time.UTC)
}

// DueDate is the last day to answer a request received at t, as a date in
// loc (the controller's time zone): one month after the day of receipt.
func DueDate(received time.Time, loc *time.Location) time.Time {
	return AddMonths(received.In(loc), AnswerMonths)
}

// ExtendedDueDate is the last day once a request received at t is extended.
func ExtendedDueDate(received time.Time, loc *time.Location) time.Time {
	return AddMonths(received.In(loc), AnswerMonths+ExtendMonths)
}

// Overdue reports whether a request due on the date due is late at now.
func Overdue(due, now time.Time, loc *time.Location) bool {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).After(due)
}

// Request is a rights request and where it stands.
type Request struct {
	ID         string        `json:"id"`
	Kind       RequestKind   `json:"kind"`
	State      RequestState  `json:"state"`
	Identifier Identifier    `json:"identifier"`           // who asked, as given (normalised); gone after an erasure
	SubjectID  string        `json:"subject_id,omitempty"` // the subject it resolved to, when one is known
	Channel    string        `json:"channel"`              // dashboard, api, receipt
	Details    string        `json:"details,omitempty"`    // what the person asked, in their words (rectification: the correction)
	ReceivedAt time.Time     `json:"received_at"`
	DueOn      time.Time     `json:"due_on"`             // a date in the controller's time zone (see DueDate)
	Extended   string        `json:"extended,omitempty"` // the reason, once extended
	ClosedAt   *time.Time    `json:"closed_at,omitempty"`
	Outcome    string        `json:"outcome,omitempty"` // what was done, or why it was refused
	Trail      []RequestStep `json:"trail,omitempty"`   // in the detail only
}

// RequestStep is one entry of a request's audit trail.
type RequestStep struct {
	At     time.Time    `json:"at"`
	By     string       `json:"by"` // the admin user, token or "receipt page"
	Action string       `json:"action"`
	State  RequestState `json:"state"` // after the step
	Note   string       `json:"note,omitempty"`
}

// NewRequest is a request as received.
type NewRequest struct {
	Kind      RequestKind
	Email     string
	Phone     string
	SubjectID string
	Channel   string
	Details   string
	By        string
}

// Actions on requests; each is refused with a reason where it does not apply
// (extending after the first month, closing a closed request, …).
const (
	ActStart    = "start"    // open → in_progress
	ActExtend   = "extend"   // once, before the first month ends, with a reason
	ActComplete = "complete" // carry out the request (export, erase, withdraw, rectify) and close it
	ActRefuse   = "refuse"   // close with a reason
	ActNote     = "note"     // add to the trail only
)

// RequestAct is one action applied to one or many requests.
type RequestAct struct {
	Action string
	Note   string // the reason for extend and refuse; free text otherwise
	By     string
}

// RequestOutcome is what one request in a bulk action came to: each
// request succeeds or fails on its own.
type RequestOutcome struct {
	ID      string   `json:"id"`
	Request *Request `json:"request,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// RequestFilter selects the queue.
type RequestFilter struct {
	States []RequestState // none: the open and in-progress ones
	Kind   RequestKind    // empty: every kind
	Limit  int
	// After continues the queue: the QueuePlace of the previous page's last
	// request, as text, or (the older form) its id, which continues from
	// wherever that request is now.
	After string
}

// QueuePlace is a request's place in the queue order: due date, then
// receipt time, then id. A page's cursor carries its last request's place
// as the page was read, not the id to look up again, because working a
// page moves its requests: an extension puts a due date months later, and
// the next page, read from there, would skip everything in between.
type QueuePlace struct {
	DueOn      time.Time // a date
	ReceivedAt time.Time
	ID         string
}

// Place is r's place in the queue.
func (r Request) Place() QueuePlace {
	return QueuePlace{DueOn: r.DueOn, ReceivedAt: r.ReceivedAt, ID: r.ID}
}

// String is the cursor form, safe in a URL query unescaped:
// 2026-03-02_2026-02-02T09:30:00.000000000Z_<id>.
func (p QueuePlace) String() string {
	return p.DueOn.Format(time.DateOnly) + "_" + FormatTime(p.ReceivedAt) + "_" + p.ID
}

// ParseQueuePlace reads the cursor form of a QueuePlace; ok is false for
// anything else, such as a bare request id.
func ParseQueuePlace(s string) (p QueuePlace, ok bool) {
	due, rest, _ := strings.Cut(s, "_")
	received, id, _ := strings.Cut(rest, "_")
	var err1, err2 error
	p.DueOn, err1 = time.Parse(time.DateOnly, due)
	p.ReceivedAt, err2 = time.Parse(TimeFormat, received)
	p.ID = id
	// Only the exact form: the store compares the text with its own.
	if err1 != nil || err2 != nil || id == "" || p.String() != s {
		return QueuePlace{}, false
	}
	return p, true
}

// RequestStore keeps rights requests and carries them out.
type RequestStore interface {
	CreateRequest(ctx context.Context, r NewRequest) (*Request, error)
	Request(ctx context.Context, id string) (*Request, error) // with its trail
	// Requests returns the queue sorted by due date, then received time.
	Requests(ctx context.Context, f RequestFilter) ([]Request, error)
	ActOnRequests(ctx context.Context, ids []string, act RequestAct) ([]RequestOutcome, error)
}

// Notification is one change head office systems hear about (through
// webhooks), written in the same transaction as the change itself so none
// is lost or invented. Data holds no personal data beyond the subject id:
// receivers that need more ask the subjects API.
type Notification struct {
	Seq       int64           `json:"seq"`
	Type      string          `json:"type"` // e.g. consent.changed, request.created
	SubjectID string          `json:"subject_id,omitempty"`
	At        time.Time       `json:"at"`
	Data      json.RawMessage `json:"data"`
}

// Notification types.
const (
	NotifyConsentChanged = "consent.changed"
	NotifyRequestCreated = "request.created"
	NotifyRequestUpdated = "request.updated"
	NotifySubjectErased  = "subject.erased"
	NotifyConfigChanged  = "config.changed"
)

// Notifications reads the change feed webhooks deliver from.
type Notifications interface {
	// Notifications returns up to limit notifications after seq, in order.
	Notifications(ctx context.Context, after int64, limit int) ([]Notification, error)
}
