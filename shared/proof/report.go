package proof

import (
	"fmt"
	"io"
	"strings"
)

// Check names, one per kind of evidence; a report may hold several checks
// of one name (one per record folder).
const (
	CheckZip         = "zip"
	CheckManifest    = "manifest"
	CheckManifestSig = "manifest signature"
	CheckHubKey      = "hub key"
	CheckDeviceKey   = "device key"
	CheckEnvelope    = "envelope"
	CheckPayload     = "payload"
	CheckNotice      = "notice text"
	CheckImage       = "signature image"
	CheckSVG         = "signature svg"
	CheckCountersig  = "countersignature"
	CheckRelated     = "related"
	CheckChain       = "chain"
	CheckSummary     = "summary"
)

const (
	statusOK          = "ok"
	statusFail        = "FAIL"
	statusSkip        = "skip" // not checkable because something it needs failed
	maxChainFailLines = 5      // a broken chain is reported by its first few breaks
)

// Check is one verdict.
type Check struct {
	Name   string `json:"name"`
	File   string `json:"file,omitempty"` // the file or folder it concerns
	Status string `json:"status"`         // ok, FAIL, or skip (not checkable because something it needs failed)
	Detail string `json:"detail"`
}

// OK reports whether the check passed.
func (c Check) OK() bool { return c.Status == statusOK }

func (c Check) String() string {
	name := c.Name
	if c.File != "" {
		name += " (" + c.File + ")"
	}
	return fmt.Sprintf("%-4s  %s: %s", c.Status, name, c.Detail)
}

// Report is what Verify found.
type Report struct {
	EventID     string  `json:"event_id,omitempty"`
	HubKey      string  `json:"hub_key,omitempty"`        // base64, from hub/public-key.txt
	Fingerprint string  `json:"hub_key_sha256,omitempty"` // Fingerprint of HubKey
	Checks      []Check `json:"checks"`
	Valid       bool    `json:"valid"`
}

// Failed returns the checks of the given name that did not pass.
func (r *Report) Failed(name string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Name == name && !c.OK() {
			out = append(out, c)
		}
	}
	return out
}

// WriteText writes one line per check, the hub key fingerprint to compare
// out of band, and VALID or INVALID.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.EventID != "" {
		fmt.Fprintf(&b, "proof bundle for record %s\n", r.EventID)
	}
	failed := 0
	for _, c := range r.Checks {
		b.WriteString(c.String() + "\n")
		if !c.OK() {
			failed++
		}
	}
	if r.Fingerprint != "" {
		fmt.Fprintf(&b, "hub key SHA-256: %s\n  compare it with the hub key fingerprint the controller publishes\n", r.Fingerprint)
	}
	if r.Valid {
		b.WriteString("VALID\n")
	} else {
		fmt.Fprintf(&b, "INVALID (%d of %d checks did not pass)\n", failed, len(r.Checks))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
