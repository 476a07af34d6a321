// Package catalog holds the configuration a collector renders and validates
// captures against: the controller, touchpoints, purposes and notices. The
// hub owns it and sends it down as a sequenced snapshot.
package catalog

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/attesta/attesta/shared/apperr"
)

// Catalog is one version of the configuration.
type Catalog struct {
	Seq          int64        `json:"seq"` // position in the hub's config log
	Controller   Controller   `json:"controller"`
	Jurisdiction string       `json:"jurisdiction"`
	PublicURL    string       `json:"public_url"` // base URL a visitor's phone can reach (notice and receipt pages)
	Touchpoints  []Touchpoint `json:"touchpoints"`
	Purposes     []Purpose    `json:"purposes"`
	Notices      []Notice     `json:"notices"`
}

// Controller is the titolare.
type Controller struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

// Touchpoint kinds.
const (
	Collect = "ctp" // where consents are captured
	Engage  = "etp" // where people are contacted
	Right   = "rtp" // where people exercise rights
)

// Touchpoint is a point of contact.
type Touchpoint struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Country  string `json:"country"` // ISO 3166-1 alpha-2, default region for phone numbers
	Location string `json:"location,omitempty"`
	Language string `json:"language"` // default language of the kiosk
}

// Text is a translated title and one-line description.
type Text struct {
	Title       string `json:"title"`
	Description string `json:"description"`
}

// Purpose is a finalità: one reason for processing, with its own consent and expiry.
type Purpose struct {
	Code          string          `json:"code"`
	DPV           string          `json:"dpv"`
	Category      string          `json:"category"` // marketing, profiling, ...
	LegalBasis    string          `json:"legal_basis"`
	RetentionDays int             `json:"retention_days"`
	Text          map[string]Text `json:"text"` // by language
}

// Notice is one version of an informativa in one language.
type Notice struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Language string `json:"language"`
	Title    string `json:"title"`
	Summary  string `json:"summary"` // the short first layer
	Text     string `json:"text"`    // the full text, exactly as shown
	SHA256   string `json:"sha256"`  // of Text
}

// Hash is the SHA-256 of a notice text, hex.
func Hash(text string) string { h := sha256.Sum256([]byte(text)); return hex.EncodeToString(h[:]) }

var idRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Limits on what a catalog may hold.
const (
	MaxRetentionDays = 3650      // ten years: longer needs the Garante's approval anyway
	MaxNoticeBytes   = 256 << 10 // the full text of one notice version
	maxTitle         = 200
	maxSummary       = 2000
)

var (
	langRE    = regexp.MustCompile(`^[a-z]{2}$`)
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
)

// KnownLanguage reports whether code is a two-letter ISO 639-1 language code.
func KnownLanguage(code string) bool {
	if !langRE.MatchString(code) {
		return false
	}
	_, err := language.ParseBase(code)
	return err == nil
}

// FieldError is a catalog that cannot be published, naming the field at
// fault. It is an apperr EINVALID to callers that ask for a code.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Unwrap lets apperr.Code and apperr.Message see an EINVALID.
func (e *FieldError) Unwrap() error { return apperr.Errorf(apperr.EINVALID, "%s", e.Error()) }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Validate checks internal consistency; it fills nothing in. The error is
// a *FieldError.
func (c *Catalog) Validate() error {
	if c.Controller.Name == "" {
		return fieldErr("controller.name", "is missing")
	}
	tps := map[string]bool{}
	for _, t := range c.Touchpoints {
		if err := t.validate(); err != nil {
			return err
		}
		if tps[t.ID] {
			return fieldErr("touchpoints", "touchpoint %q appears twice", t.ID)
		}
		tps[t.ID] = true
	}
	ps := map[string]bool{}
	for _, p := range c.Purposes {
		if err := p.validate(); err != nil {
			return err
		}
		if ps[p.Code] {
			return fieldErr("purposes", "purpose %q appears twice", p.Code)
		}
		ps[p.Code] = true
	}
	ns := map[string]bool{}
	langs := map[string]string{}
	for _, n := range c.Notices {
		if err := n.validate(); err != nil {
			return err
		}
		key := fmt.Sprintf("%s/%d", n.ID, n.Version)
		if ns[key] {
			return fieldErr("notices", "notice %s appears twice", key)
		}
		ns[key] = true
		if l, ok := langs[n.ID]; ok && l != n.Language {
			return fieldErr("language", "notice %s is in %q but earlier versions of %s are in %q; publish another language under its own id", key, n.Language, n.ID, l)
		}
		langs[n.ID] = n.Language
	}
	return nil
}

func (t *Touchpoint) validate() error {
	switch {
	case !idRE.MatchString(t.ID):
		return fieldErr("id", "touchpoint id %q is malformed (lowercase letters, digits, . _ -, at most 64)", t.ID)
	case strings.TrimSpace(t.Name) == "" || len(t.Name) > maxTitle:
		return fieldErr("name", "touchpoint %q: name is required (at most %d characters)", t.ID, maxTitle)
	case t.Kind != Collect && t.Kind != Engage && t.Kind != Right:
		return fieldErr("kind", "touchpoint %q: kind %q is not ctp, etp or rtp", t.ID, t.Kind)
	case t.Country != "" && !countryRE.MatchString(t.Country):
		return fieldErr("country", "touchpoint %q: country %q is not a two-letter ISO 3166 code such as IT", t.ID, t.Country)
	case t.Language != "" && !KnownLanguage(t.Language):
		return fieldErr("language", "touchpoint %q: language %q is not a two-letter ISO 639-1 code such as it or en", t.ID, t.Language)
	}
	return nil
}

func (p *Purpose) validate() error {
	switch {
	case !idRE.MatchString(p.Code):
		return fieldErr("code", "purpose code %q is malformed (lowercase letters, digits, . _ -, at most 64)", p.Code)
	case p.RetentionDays < 1 || p.RetentionDays > MaxRetentionDays:
		return fieldErr("retention_days", "purpose %q: retention_days %d is out of range (1 to %d)", p.Code, p.RetentionDays, MaxRetentionDays)
	case p.DPV == "":
		return fieldErr("dpv", "purpose %q: dpv term is missing", p.Code)
	case len(p.Text) == 0:
		return fieldErr("text", "purpose %q: a title in at least one language is required (kiosks show it)", p.Code)
	}
	for l, t := range p.Text {
		if !KnownLanguage(l) {
			return fieldErr("text", "purpose %q: language %q is not a two-letter ISO 639-1 code", p.Code, l)
		}
		if strings.TrimSpace(t.Title) == "" || len(t.Title) > maxTitle {
			return fieldErr("text", "purpose %q: the %s title is required (at most %d characters)", p.Code, l, maxTitle)
		}
	}
	return nil
}

func (n *Notice) validate() error {
	key := fmt.Sprintf("%s/%d", n.ID, n.Version)
	switch {
	case !idRE.MatchString(n.ID):
		return fieldErr("id", "notice id %q is malformed (lowercase letters, digits, . _ -, at most 64)", n.ID)
	case n.Version < 1:
		return fieldErr("version", "notice %s: version must be 1 or more", key)
	case !KnownLanguage(n.Language):
		return fieldErr("language", "notice %s: language %q is not a two-letter ISO 639-1 code such as it or en", key, n.Language)
	case strings.TrimSpace(n.Title) == "" || len(n.Title) > maxTitle:
		return fieldErr("title", "notice %s: title is required (at most %d characters)", key, maxTitle)
	case len(n.Summary) > maxSummary:
		return fieldErr("summary", "notice %s: summary is longer than %d bytes", key, maxSummary)
	case strings.TrimSpace(n.Text) == "":
		return fieldErr("text", "notice %s: text is empty", key)
	case len(n.Text) > MaxNoticeBytes:
		return fieldErr("text", "notice %s: text is larger than %d bytes", key, MaxNoticeBytes)
	case !utf8.ValidString(n.Text):
		return fieldErr("text", "notice %s: text is not UTF-8", key)
	case n.SHA256 != Hash(n.Text):
		return fieldErr("sha256", "notice %s: sha256 does not match its text", key)
	}
	return nil
}

// Touchpoint returns the touchpoint with the given id.
func (c *Catalog) Touchpoint(id string) (Touchpoint, bool) {
	for _, t := range c.Touchpoints {
		if t.ID == id {
			return t, true
		}
	}
	return Touchpoint{}, false
}

// Purpose returns the purpose with the given code.
func (c *Catalog) Purpose(code string) (Purpose, bool) {
	for _, p := range c.Purposes {
		if p.Code == code {
			return p, true
		}
	}
	return Purpose{}, false
}

// Notice returns a notice version.
func (c *Catalog) Notice(id string, version int) (Notice, bool) {
	for _, n := range c.Notices {
		if n.ID == id && n.Version == version {
			return n, true
		}
	}
	return Notice{}, false
}

// Active returns the newest version of every notice id, sorted by id: the
// versions a kiosk may show.
func (c *Catalog) Active() []Notice {
	latest := map[string]Notice{}
	for _, n := range c.Notices {
		if cur, ok := latest[n.ID]; !ok || n.Version > cur.Version {
			latest[n.ID] = n
		}
	}
	out := make([]Notice, 0, len(latest))
	for _, n := range latest {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// IsActive reports whether id/version is the newest version of that notice.
func (c *Catalog) IsActive(id string, version int) bool {
	for _, n := range c.Active() {
		if n.ID == id {
			return n.Version == version
		}
	}
	return false
}

// Decode parses a catalog strictly (no unknown fields, no trailing data)
// and validates it: what a collector does with a config the hub sends.
func Decode(b []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, apperr.Errorf(apperr.EINVALID, "malformed catalog: %v", err)
	}
	if dec.More() {
		return nil, apperr.Errorf(apperr.EINVALID, "malformed catalog: trailing data")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
