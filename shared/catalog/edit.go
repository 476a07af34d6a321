package catalog

import (
	"maps"
	"slices"

	"github.com/attesta/attesta/shared/apperr"
)

// The edits below are how head office changes the configuration. Each
// returns a new catalog (the receiver is not modified) that is valid and
// may follow the receiver in the config log, or an error naming what is
// wrong.

// Clone returns a deep copy of c.
func (c *Catalog) Clone() *Catalog {
	cc := *c
	cc.Touchpoints = slices.Clone(c.Touchpoints)
	cc.Notices = slices.Clone(c.Notices)
	cc.Purposes = slices.Clone(c.Purposes)
	for i, p := range cc.Purposes {
		if p.Text != nil {
			cc.Purposes[i].Text = maps.Clone(p.Text)
		}
	}
	return &cc
}

// Latest returns the highest version of notice id, or false.
func (c *Catalog) Latest(id string) (Notice, bool) {
	var out Notice
	found := false
	for _, n := range c.Notices {
		if n.ID == id && (!found || n.Version > out.Version) {
			out, found = n, true
		}
	}
	return out, found
}

// AddNotice publishes a new notice version; its SHA-256 is computed here.
// The version must be newer than every earlier version of the id, and an
// id keeps one language.
func (c *Catalog) AddNotice(n Notice) (*Catalog, error) {
	n.SHA256 = Hash(n.Text)
	if err := n.validate(); err != nil {
		return nil, err
	}
	if last, ok := c.Latest(n.ID); ok {
		if n.Version <= last.Version {
			return nil, fieldErr("version", "notice %s version %d is not newer than the last published version %d", n.ID, n.Version, last.Version)
		}
		if n.Language != last.Language {
			return nil, fieldErr("language", "notice %s is published in %q; publish %q under its own id (e.g. %s-%s)", n.ID, last.Language, n.Language, trimLang(n.ID), n.Language)
		}
	}
	cc := c.Clone()
	cc.Notices = append(cc.Notices, n)
	return cc, cc.checkFollows(c)
}

func trimLang(id string) string {
	if len(id) > 3 && id[len(id)-3] == '-' && KnownLanguage(id[len(id)-2:]) {
		return id[:len(id)-3]
	}
	return id
}

// PutPurpose adds a purpose (create) or replaces an existing one.
func (c *Catalog) PutPurpose(p Purpose, create bool) (*Catalog, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(c.Purposes, func(x Purpose) bool { return x.Code == p.Code })
	cc := c.Clone()
	switch {
	case create && i >= 0:
		return nil, apperr.Errorf(apperr.ECONFLICT, "purpose %q already exists; use set to change it", p.Code)
	case !create && i < 0:
		return nil, apperr.Errorf(apperr.ENOTFOUND, "purpose %q does not exist; use add to create it", p.Code)
	case create:
		cc.Purposes = append(cc.Purposes, p)
	default:
		cc.Purposes[i] = p
	}
	return cc, cc.checkFollows(c)
}

// PutTouchpoint adds a touchpoint (create) or replaces an existing one. A
// touchpoint keeps its kind: collectors are enrolled at collect touchpoints.
func (c *Catalog) PutTouchpoint(t Touchpoint, create bool) (*Catalog, error) {
	if err := t.validate(); err != nil {
		return nil, err
	}
	i := slices.IndexFunc(c.Touchpoints, func(x Touchpoint) bool { return x.ID == t.ID })
	cc := c.Clone()
	switch {
	case create && i >= 0:
		return nil, apperr.Errorf(apperr.ECONFLICT, "touchpoint %q already exists; use set to change it", t.ID)
	case !create && i < 0:
		return nil, apperr.Errorf(apperr.ENOTFOUND, "touchpoint %q does not exist; use add to create it", t.ID)
	case !create && c.Touchpoints[i].Kind != t.Kind:
		return nil, fieldErr("kind", "touchpoint %q is a %s touchpoint and stays one; add a new touchpoint instead", t.ID, c.Touchpoints[i].Kind)
	case create:
		cc.Touchpoints = append(cc.Touchpoints, t)
	default:
		cc.Touchpoints[i] = t
	}
	return cc, cc.checkFollows(c)
}

// Follows checks that c may follow prev in the config log: c is valid,
// every notice version prev published is still there with the same text
// (proofs and the public notice pages cite them forever), and no purpose
// or touchpoint disappeared (records and devices name them).
func (c *Catalog) Follows(prev *Catalog) error { return c.checkFollows(prev) }

func (c *Catalog) checkFollows(prev *Catalog) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if prev == nil {
		return nil
	}
	for _, old := range prev.Notices {
		n, ok := c.Notice(old.ID, old.Version)
		if !ok {
			return fieldErr("notices", "notice %s/%d was published and cannot be removed", old.ID, old.Version)
		}
		if n.SHA256 != old.SHA256 {
			return fieldErr("notices", "notice %s/%d was published with other text; publish a new version instead", old.ID, old.Version)
		}
	}
	for _, p := range prev.Purposes {
		if _, ok := c.Purpose(p.Code); !ok {
			return fieldErr("purposes", "purpose %q cannot be removed; consents cite it", p.Code)
		}
	}
	for _, t := range prev.Touchpoints {
		if _, ok := c.Touchpoint(t.ID); !ok {
			return fieldErr("touchpoints", "touchpoint %q cannot be removed; devices and records cite it", t.ID)
		}
	}
	return nil
}
