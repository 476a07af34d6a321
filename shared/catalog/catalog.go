// Package catalog holds the configuration a collector renders and validates
// captures against: the controller, touchpoints, purposes and notices. The
// hub owns it and sends it down as a sequenced snapshot.
package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
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

// Validate checks internal consistency; it fills nothing in.
func (c *Catalog) Validate() error {
	if c.Controller.Name == "" {
		return fmt.Errorf("controller.name is missing")
	}
	tps := map[string]bool{}
	for _, t := range c.Touchpoints {
		if !idRE.MatchString(t.ID) {
			return fmt.Errorf("touchpoint id %q is malformed", t.ID)
		}
		if tps[t.ID] {
			return fmt.Errorf("touchpoint %q appears twice", t.ID)
		}
		tps[t.ID] = true
		if t.Kind != Collect && t.Kind != Engage && t.Kind != Right {
			return fmt.Errorf("touchpoint %q: kind %q is not ctp, etp or rtp", t.ID, t.Kind)
		}
	}
	ps := map[string]bool{}
	for _, p := range c.Purposes {
		if !idRE.MatchString(p.Code) {
			return fmt.Errorf("purpose code %q is malformed", p.Code)
		}
		if ps[p.Code] {
			return fmt.Errorf("purpose %q appears twice", p.Code)
		}
		ps[p.Code] = true
		if p.RetentionDays <= 0 {
			return fmt.Errorf("purpose %q: retention_days must be positive", p.Code)
		}
		if p.DPV == "" {
			return fmt.Errorf("purpose %q: dpv term is missing", p.Code)
		}
	}
	ns := map[string]bool{}
	for _, n := range c.Notices {
		key := fmt.Sprintf("%s/%d", n.ID, n.Version)
		if !idRE.MatchString(n.ID) || n.Version < 1 {
			return fmt.Errorf("notice %q is malformed", key)
		}
		if ns[key] {
			return fmt.Errorf("notice %s appears twice", key)
		}
		ns[key] = true
		if n.SHA256 != Hash(n.Text) {
			return fmt.Errorf("notice %s: sha256 does not match its text", key)
		}
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
