package collector

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
)

// Capture is a visitor's sign-up as the kiosk posts it.
type Capture struct {
	Subject   record.Subject  `json:"subject"`
	Purposes  map[string]bool `json:"purposes"`
	Notice    CaptureNotice   `json:"notice"`
	Language  string          `json:"language"`
	Operator  string          `json:"operator,omitempty"`
	Signature *CaptureInk     `json:"signature,omitempty"`
}

// CaptureNotice names the notice version shown and when it was shown.
type CaptureNotice struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	ViewedAt string `json:"viewed_at,omitempty"` // RFC 3339; defaults to the capture time
}

// CaptureInk is the handwritten signature: a base64 PNG and its strokes.
type CaptureInk struct {
	PNG    string           `json:"png"`
	Points [][]record.Point `json:"points"`
}

// FieldError is a validation failure naming the request field at fault.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Limits on what a capture may hold.
const (
	maxName         = 100
	maxEmail        = 254
	maxPNG          = 512 << 10
	maxPoints       = 20000
	maxInkSide      = 4096      // pixels of the signature image, either way
	maxInkCoord     = 100000    // |x| and |y| of a signature point, in pixels
	maxStrokeMS     = 10 * 60e3 // a point's time since its stroke began
	maxOperator     = 64
	MaxCaptureBytes = 1 << 20 // the HTTP body limit
)

var (
	phoneRE    = regexp.MustCompile(`^\+?[0-9 ()./-]{6,24}$`)
	languageRE = regexp.MustCompile(`^[a-z]{2}$`)
	operatorRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,64}$`)
)

// ValidOperator reports whether s is an acceptable staff id.
func ValidOperator(s string) bool { return operatorRE.MatchString(s) }

// Rules are the settings validation depends on.
type Rules struct {
	SignatureRequired bool
	// NoticeGrace is how long after a notice's new version arrives a
	// visitor who started on the version it replaced may still finish on
	// it (the record names the version shown). Zero refuses replaced versions.
	NoticeGrace time.Duration
	// NoticeAge is how long ago the current version of the capture's
	// notice arrived; the server sets it for each capture.
	NoticeAge time.Duration
	// Now is the kiosk's time, which notice.viewed_at (from the kiosk
	// page, on the same clock) must be shortly before; zero skips that check.
	Now time.Time
}

// maxViewedAgo bounds how long before a capture its notice was viewed: a
// kiosk session lasts minutes.
const maxViewedAgo = 24 * time.Hour

// DefaultNoticeGrace outlasts any kiosk session: the kiosk resets after a
// minute without a touch.
const DefaultNoticeGrace = 15 * time.Minute

// Validate checks a capture against the catalog. The error is a *FieldError
// (wrapped as an apperr EINVALID by callers) naming the first bad field.
func (c *Capture) Validate(cat *catalog.Catalog, rules Rules) *FieldError {
	name := func(field, v string) *FieldError {
		v = strings.TrimSpace(v)
		switch {
		case v == "":
			return &FieldError{field, "is required"}
		case utf8.RuneCountInString(v) > maxName:
			return &FieldError{field, fmt.Sprintf("is longer than %d characters", maxName)}
		case strings.ContainsAny(v, "<>") || strings.IndexFunc(v, invisible) >= 0:
			return &FieldError{field, "contains characters a name cannot have"}
		case strings.IndexFunc(v, unicode.IsLetter) < 0:
			return &FieldError{field, "must contain a letter"}
		}
		return nil
	}
	if err := name("subject.given_name", c.Subject.GivenName); err != nil {
		return err
	}
	if err := name("subject.family_name", c.Subject.FamilyName); err != nil {
		return err
	}
	if err := validEmail(c.Subject.Email); err != "" {
		return &FieldError{"subject.email", err}
	}
	if p := strings.TrimSpace(c.Subject.Phone); p != "" && (!phoneRE.MatchString(p) || digits(p) < 6 || digits(p) > 15) {
		return &FieldError{"subject.phone", "is not a phone number (6 to 15 digits, optionally starting with +)"}
	}
	if !languageRE.MatchString(c.Language) {
		return &FieldError{"language", "must be a two-letter language code such as it or en"}
	}
	if c.Operator != "" && !operatorRE.MatchString(c.Operator) {
		return &FieldError{"operator", "must be a staff id of letters, digits and . _ @ - (at most 64)"}
	}
	n, ok := cat.Notice(c.Notice.ID, c.Notice.Version)
	switch {
	case c.Notice.ID == "":
		return &FieldError{"notice.id", "is required"}
	case !ok:
		return &FieldError{"notice", fmt.Sprintf("notice %s version %d is unknown to this kiosk", c.Notice.ID, c.Notice.Version)}
	case !cat.IsActive(n.ID, n.Version) && !(isPrevious(cat, n) && rules.NoticeAge <= rules.NoticeGrace):
		return &FieldError{"notice", fmt.Sprintf("notice %s version %d has been replaced; start again to see the current version", n.ID, n.Version)}
	}
	if c.Notice.ViewedAt != "" {
		viewed, err := time.Parse(time.RFC3339Nano, c.Notice.ViewedAt)
		if err != nil {
			return &FieldError{"notice.viewed_at", "is not an RFC 3339 time"}
		}
		if !rules.Now.IsZero() && (viewed.After(rules.Now.Add(time.Minute)) || viewed.Before(rules.Now.Add(-maxViewedAgo))) {
			return &FieldError{"notice.viewed_at", fmt.Sprintf("must be within the %s before the capture", maxViewedAgo)}
		}
	}
	if len(c.Purposes) == 0 {
		return &FieldError{"purposes", "are required: send a choice for each purpose"}
	}
	granted := 0
	for code, g := range c.Purposes {
		if _, ok := cat.Purpose(code); !ok {
			return &FieldError{"purposes." + code, fmt.Sprintf("purpose %q is unknown", code)}
		}
		if g {
			granted++
		}
	}
	if granted == 0 {
		return &FieldError{"purposes", "choose at least one purpose to sign up; nothing was saved"}
	}
	if c.Signature == nil || c.Signature.PNG == "" {
		if rules.SignatureRequired {
			return &FieldError{"signature", "is required: please sign in the box"}
		}
		return nil
	}
	return c.Signature.validate()
}

// isPrevious reports whether n is the version just before the active one
// of its id: the one a visitor may have been reading when the new arrived.
func isPrevious(cat *catalog.Catalog, n catalog.Notice) bool {
	prev := 0
	latest, _ := cat.Latest(n.ID)
	for _, o := range cat.Notices {
		if o.ID == n.ID && o.Version < latest.Version && o.Version > prev {
			prev = o.Version
		}
	}
	return n.Version == prev
}

func (s *CaptureInk) validate() *FieldError {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.PNG, "data:image/png;base64,"))
	if err != nil {
		return &FieldError{"signature.png", "is not base64"}
	}
	if len(raw) > maxPNG {
		return &FieldError{"signature.png", fmt.Sprintf("is larger than %d KiB", maxPNG>>10)}
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return &FieldError{"signature.png", "is not a PNG image"}
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxInkSide || cfg.Height > maxInkSide {
		// The proof summary shows this image: a header claiming a huge one
		// would be a bomb for whoever opens it.
		return &FieldError{"signature.png", fmt.Sprintf("is %d×%d pixels; at most %d either way", cfg.Width, cfg.Height, maxInkSide)}
	}
	total := 0
	for _, stroke := range s.Points {
		total += len(stroke)
		for _, p := range stroke {
			if !(math.Abs(p.X) <= maxInkCoord && math.Abs(p.Y) <= maxInkCoord) || p.T < 0 || p.T > maxStrokeMS || !(p.P >= 0 && p.P <= 1) {
				return &FieldError{"signature.points", fmt.Sprintf("hold a point outside the pad (x and y within ±%d, t 0 to %d ms, p 0 to 1)", maxInkCoord, int(maxStrokeMS))}
			}
		}
	}
	switch {
	case total == 0:
		return &FieldError{"signature.points", "are empty: please sign in the box"}
	case total > maxPoints:
		return &FieldError{"signature.points", fmt.Sprintf("has more than %d points", maxPoints)}
	}
	return nil
}

// invisible reports whether r is a control or formatting character (zero
// width, direction overrides): a name holding one may read as another, or
// as nothing, wherever it is shown.
func invisible(r rune) bool { return unicode.In(r, unicode.Cc, unicode.Cf) }

func (s *CaptureInk) pngBytes() []byte {
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(s.PNG, "data:image/png;base64,"))
	return raw
}

func validEmail(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return "is required"
	}
	if len(v) > maxEmail {
		return "is too long"
	}
	a, err := mail.ParseAddress(v)
	if err != nil || a.Address != v || a.Name != "" {
		return "is not an email address like name@example.com"
	}
	_, domain, _ := strings.Cut(v, "@")
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "needs a full domain, like name@example.com"
	}
	return ""
}

func digits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// Recorder turns validated captures into signed, sealed records.
type Recorder struct {
	Identity *Identity
	Clock    *hlc.Clock
	Now      func() time.Time
}

// Sealed is a capture's personal part, sealed before the outbox transaction
// starts, and the receipt the visitor takes home.
type Sealed struct {
	Blob        []byte
	PayloadHash string
	SigHash     string
	ReceiptURL  string
}

// Seal seals the personal payload to the hub key and mints the receipt token.
func (r *Recorder) Seal(c *Capture, publicURL string) (*Sealed, error) {
	token := make([]byte, 18)
	salt := make([]byte, 16)
	if _, err := rand.Read(token); err != nil {
		return nil, err
	}
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	p := record.Payload{
		Subject: record.Subject{
			GivenName:  strings.TrimSpace(c.Subject.GivenName),
			FamilyName: strings.TrimSpace(c.Subject.FamilyName),
			Email:      strings.TrimSpace(c.Subject.Email),
			Phone:      strings.TrimSpace(c.Subject.Phone),
		},
		Receipt: base64.RawURLEncoding.EncodeToString(token),
		Salt:    salt,
	}
	var sigHash string
	if c.Signature != nil && c.Signature.PNG != "" {
		p.Signature = &record.Handwriting{PNG: c.Signature.pngBytes(), Points: c.Signature.Points}
		sigHash = record.SHA256Hex(p.Signature.PNG)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	blob, err := seal.Seal(&r.Identity.HubSealKey, b)
	if err != nil {
		return nil, err
	}
	return &Sealed{Blob: blob, PayloadHash: record.PayloadHash(b), SigHash: sigHash,
		ReceiptURL: ReceiptBase(publicURL) + p.Receipt}, nil
}

// ReceiptBase is the receipt page prefix under the hub's public URL.
func ReceiptBase(publicURL string) string { return strings.TrimRight(publicURL, "/") + "/r/" }

// Records builds the notice-viewed record and the consent record for head,
// chained and signed. They are the only records of one capture.
func (r *Recorder) Records(head Head, c *Capture, s *Sealed, cat *catalog.Catalog, operator, publicURL string) ([]record.Signed, string, error) {
	now := r.Now()
	n, _ := cat.Notice(c.Notice.ID, c.Notice.Version)
	base := record.Envelope{
		Schema: record.Schema, Collector: r.Identity.CollectorID, Epoch: head.Epoch,
		Controller:   record.Controller(cat.Controller),
		Jurisdiction: cat.Jurisdiction, Language: c.Language,
		Touchpoint: r.Identity.Touchpoint, Operator: operator, AppVersion: Version,
		Notice: record.NoticeRef{ID: n.ID, Version: n.Version, SHA256: n.SHA256, ViewedAt: c.Notice.ViewedAt},
	}
	if base.Notice.ViewedAt == "" {
		base.Notice.ViewedAt = now.Format(time.RFC3339Nano)
	}
	consentID, err := uuid.NewV7()
	if err != nil {
		return nil, "", err
	}
	viewID, err := uuid.NewV7()
	if err != nil {
		return nil, "", err
	}

	view := base
	view.ID, view.Kind, view.Ref = viewID.String(), record.NoticeViewed, consentID.String()
	view.CapturedAt = base.Notice.ViewedAt

	consent := base
	consent.ID, consent.Kind = consentID.String(), record.Given
	consent.CapturedAt = now.Format(time.RFC3339Nano)
	consent.Withdraw = ReceiptBase(publicURL)
	consent.PayloadSHA256, consent.SignatureSHA256, consent.Sealed = s.PayloadHash, s.SigHash, s.Blob
	for _, p := range cat.Purposes { // catalog order, so records read the same way everywhere
		granted, asked := c.Purposes[p.Code]
		if !asked {
			continue
		}
		consent.Purposes = append(consent.Purposes, record.Choice{
			Purpose: p.Code, DPV: p.DPV, Granted: granted, LegalBasis: p.LegalBasis, RetentionDays: p.RetentionDays})
	}

	out := make([]record.Signed, 0, 2)
	prev, seq := head.Hash, head.Seq
	for _, env := range []*record.Envelope{&view, &consent} {
		seq++
		env.Seq, env.Prev, env.HLC = seq, prev, r.Clock.Tick()
		signed, err := record.Sign(env, r.Identity.SignKey)
		if err != nil {
			return nil, "", err
		}
		prev = signed.HashHex()
		out = append(out, signed)
	}
	return out, consent.ID, nil
}

// NewSignKey makes a device key.
func NewSignKey() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}
