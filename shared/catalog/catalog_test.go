package catalog_test

import (
	"strings"
	"testing"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/catalog"
)

func sample() *catalog.Catalog {
	return &catalog.Catalog{
		Controller:  catalog.Controller{Name: "Acme"},
		Touchpoints: []catalog.Touchpoint{{ID: "fair", Name: "Fair", Kind: catalog.Collect, Country: "IT", Language: "it"}},
		Purposes: []catalog.Purpose{{Code: "newsletter", DPV: "dpv:DirectMarketing", RetentionDays: 730,
			Text: map[string]catalog.Text{"en": {Title: "Newsletter"}}}},
		Notices: []catalog.Notice{
			{ID: "privacy-en", Version: 1, Language: "en", Title: "Privacy", Text: "v1", SHA256: catalog.Hash("v1")},
			{ID: "privacy-en", Version: 2, Language: "en", Title: "Privacy", Text: "v2", SHA256: catalog.Hash("v2")},
		},
	}
}

func TestValidate(t *testing.T) {
	if err := sample().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]struct {
		field  string
		mutate func(c *catalog.Catalog)
	}{
		"controller":      {"controller.name", func(c *catalog.Catalog) { c.Controller.Name = "" }},
		"tp kind":         {"kind", func(c *catalog.Catalog) { c.Touchpoints[0].Kind = "x" }},
		"tp name":         {"name", func(c *catalog.Catalog) { c.Touchpoints[0].Name = " " }},
		"tp language":     {"language", func(c *catalog.Catalog) { c.Touchpoints[0].Language = "xx" }},
		"tp country":      {"country", func(c *catalog.Catalog) { c.Touchpoints[0].Country = "Italy" }},
		"tp twice":        {"touchpoints", func(c *catalog.Catalog) { c.Touchpoints = append(c.Touchpoints, c.Touchpoints[0]) }},
		"retention 0":     {"retention_days", func(c *catalog.Catalog) { c.Purposes[0].RetentionDays = 0 }},
		"retention big":   {"retention_days", func(c *catalog.Catalog) { c.Purposes[0].RetentionDays = catalog.MaxRetentionDays + 1 }},
		"dpv":             {"dpv", func(c *catalog.Catalog) { c.Purposes[0].DPV = "" }},
		"purpose lang":    {"text", func(c *catalog.Catalog) { c.Purposes[0].Text["zz"] = catalog.Text{Title: "x"} }},
		"purpose title":   {"text", func(c *catalog.Catalog) { c.Purposes[0].Text["en"] = catalog.Text{} }},
		"purpose twice":   {"purposes", func(c *catalog.Catalog) { c.Purposes = append(c.Purposes, c.Purposes[0]) }},
		"purpose no text": {"text", func(c *catalog.Catalog) { c.Purposes[0].Text = nil }},
		"hash":            {"sha256", func(c *catalog.Catalog) { c.Notices[0].Text = "changed" }},
		"version twice":   {"notices", func(c *catalog.Catalog) { c.Notices[1].Version = 1 }},
		"version 0":       {"version", func(c *catalog.Catalog) { c.Notices[1].Version = 0 }},
		"empty text":      {"text", func(c *catalog.Catalog) { c.Notices[0].Text, c.Notices[0].SHA256 = " \n", catalog.Hash(" \n") }},
		"notice language": {"language", func(c *catalog.Catalog) { c.Notices[0].Language = "english" }},
		"mixed language":  {"language", func(c *catalog.Catalog) { c.Notices[1].Language = "it" }},
		"notice title":    {"title", func(c *catalog.Catalog) { c.Notices[0].Title = "" }},
		"notice id":       {"id", func(c *catalog.Catalog) { c.Notices[0].ID = "Privacy EN" }},
	}
	for name, tc := range bad {
		c := sample()
		tc.mutate(c)
		err := c.Validate()
		var fe *catalog.FieldError
		if !asField(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error on field %s", name, err, tc.field)
		}
		if apperr.Code(err) != apperr.EINVALID || !strings.HasPrefix(apperr.Message(err), tc.field+": ") {
			t.Errorf("%s: code %s message %q", name, apperr.Code(err), apperr.Message(err))
		}
	}
}

func asField(err error, fe **catalog.FieldError) bool {
	f, ok := err.(*catalog.FieldError)
	*fe = f
	return ok
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

func TestAddNotice(t *testing.T) {
	c := sample()
	next, err := c.AddNotice(catalog.Notice{ID: "privacy-en", Version: 3, Language: "en", Title: "Privacy", Text: "v3"})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := next.Latest("privacy-en"); n.Version != 3 || n.SHA256 != catalog.Hash("v3") {
		t.Fatalf("latest %+v", n)
	}
	if len(c.Notices) != 2 {
		t.Fatal("AddNotice modified its receiver")
	}
	if _, ok := next.Notice("privacy-en", 1); !ok {
		t.Fatal("an old version was dropped")
	}
	for name, tc := range map[string]struct {
		n    catalog.Notice
		want string
	}{
		"same version":  {catalog.Notice{ID: "privacy-en", Version: 2, Language: "en", Title: "P", Text: "x"}, "version: notice privacy-en version 2 is not newer than the last published version 2"},
		"older version": {catalog.Notice{ID: "privacy-en", Version: 1, Language: "en", Title: "P", Text: "x"}, "version: notice privacy-en version 1 is not newer"},
		"other lang":    {catalog.Notice{ID: "privacy-en", Version: 3, Language: "it", Title: "P", Text: "x"}, "language: notice privacy-en is published in \"en\""},
		"unknown lang":  {catalog.Notice{ID: "privacy-xx", Version: 1, Language: "qq", Title: "P", Text: "x"}, "language: notice privacy-xx/1: language \"qq\" is not"},
		"empty text":    {catalog.Notice{ID: "privacy-en", Version: 3, Language: "en", Title: "P", Text: ""}, "text: notice privacy-en/3: text is empty"},
		"no title":      {catalog.Notice{ID: "privacy-en", Version: 3, Language: "en", Text: "x"}, "title: "},
	} {
		if _, err := c.AddNotice(tc.n); err == nil || !strings.HasPrefix(apperr.Message(err), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestPutPurposeAndTouchpoint(t *testing.T) {
	c := sample()
	p := catalog.Purpose{Code: "sms", DPV: "dpv:DirectMarketing", RetentionDays: 365, Text: map[string]catalog.Text{"it": {Title: "SMS"}}}
	next, err := c.PutPurpose(p, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := next.PutPurpose(p, true); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("add twice: %v", err)
	}
	p.RetentionDays = 100
	if next, err = next.PutPurpose(p, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := next.Purpose("sms"); got.RetentionDays != 100 {
		t.Errorf("set: %+v", got)
	}
	if _, err := c.PutPurpose(catalog.Purpose{Code: "nope", DPV: "x", RetentionDays: 1, Text: map[string]catalog.Text{"en": {Title: "N"}}}, false); apperr.Code(err) != apperr.ENOTFOUND {
		t.Errorf("set unknown: %v", err)
	}
	p.RetentionDays = 99999
	if _, err := next.PutPurpose(p, false); err == nil || !strings.HasPrefix(apperr.Message(err), "retention_days: ") {
		t.Errorf("retention: %v", err)
	}

	tp := catalog.Touchpoint{ID: "store-2", Name: "Store 2", Kind: catalog.Collect, Country: "IT", Language: "it"}
	if next, err = c.PutTouchpoint(tp, true); err != nil {
		t.Fatal(err)
	}
	if _, err := next.PutTouchpoint(tp, true); apperr.Code(err) != apperr.ECONFLICT {
		t.Errorf("add twice: %v", err)
	}
	tp.Kind = catalog.Engage
	if _, err := next.PutTouchpoint(tp, false); err == nil || !strings.HasPrefix(apperr.Message(err), "kind: ") {
		t.Errorf("kind change: %v", err)
	}
}

func TestFollows(t *testing.T) {
	prev := sample()
	for name, mutate := range map[string]func(c *catalog.Catalog){
		"notice removed":     func(c *catalog.Catalog) { c.Notices = c.Notices[1:] },
		"notice rewritten":   func(c *catalog.Catalog) { c.Notices[0].Text, c.Notices[0].SHA256 = "new", catalog.Hash("new") },
		"purpose removed":    func(c *catalog.Catalog) { c.Purposes = nil },
		"touchpoint removed": func(c *catalog.Catalog) { c.Touchpoints = nil },
	} {
		c := prev.Clone()
		mutate(c)
		if err := c.Follows(prev); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := prev.Clone().Follows(prev); err != nil {
		t.Fatal(err)
	}
}

func TestDecode(t *testing.T) {
	if _, err := catalog.Decode([]byte(`{"controller":{"name":"A"},"extra":1}`)); apperr.Code(err) != apperr.EINVALID {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := catalog.Decode([]byte(`{"controller":{"name":""}}`)); apperr.Code(err) != apperr.EINVALID {
		t.Errorf("invalid: %v", err)
	}
	if _, err := catalog.Decode([]byte(`{"controller":{"name":"A"}} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}
