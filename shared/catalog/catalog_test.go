package catalog_test

import (
	"testing"

	"github.com/attesta/attesta/shared/catalog"
)

func sample() *catalog.Catalog {
	return &catalog.Catalog{
		Controller:  catalog.Controller{Name: "Acme"},
		Touchpoints: []catalog.Touchpoint{{ID: "fair", Kind: catalog.Collect}},
		Purposes:    []catalog.Purpose{{Code: "newsletter", DPV: "dpv:DirectMarketing", RetentionDays: 730}},
		Notices: []catalog.Notice{
			{ID: "privacy-en", Version: 1, Text: "v1", SHA256: catalog.Hash("v1")},
			{ID: "privacy-en", Version: 2, Text: "v2", SHA256: catalog.Hash("v2")},
		},
	}
}

func TestValidate(t *testing.T) {
	if err := sample().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(c *catalog.Catalog){
		"controller": func(c *catalog.Catalog) { c.Controller.Name = "" },
		"tp kind":    func(c *catalog.Catalog) { c.Touchpoints[0].Kind = "x" },
		"tp twice":   func(c *catalog.Catalog) { c.Touchpoints = append(c.Touchpoints, c.Touchpoints[0]) },
		"retention":  func(c *catalog.Catalog) { c.Purposes[0].RetentionDays = 0 },
		"dpv":        func(c *catalog.Catalog) { c.Purposes[0].DPV = "" },
		"hash":       func(c *catalog.Catalog) { c.Notices[0].Text = "changed" },
		"version":    func(c *catalog.Catalog) { c.Notices[1].Version = 1 },
	}
	for name, mutate := range bad {
		c := sample()
		mutate(c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestActive(t *testing.T) {
	c := sample()
	if !c.IsActive("privacy-en", 2) || c.IsActive("privacy-en", 1) || c.IsActive("other", 1) {
		t.Fatal("wrong active version")
	}
	if a := c.Active(); len(a) != 1 || a[0].Version != 2 {
		t.Fatalf("active: %+v", a)
	}
}
