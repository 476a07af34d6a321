package collector_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/collector"
	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/shared/catalog"
	"github.com/attesta/attesta/shared/record"
)

func pngB64() string {
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 4)))
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

func validCapture() *collector.Capture {
	return &collector.Capture{
		Subject:   record.Subject{GivenName: "Anna", FamilyName: "Rossi", Email: "anna@example.com", Phone: "+39 333 123 4567"},
		Purposes:  map[string]bool{"newsletter": true, "sms": false},
		Notice:    collector.CaptureNotice{ID: "privacy-it", Version: 1},
		Language:  "it",
		Signature: &collector.CaptureInk{PNG: pngB64(), Points: [][]record.Point{{{X: 1, Y: 1}}}},
	}
}

// hugePNGHeader is a PNG signature and header claiming 60000×60000 pixels,
// with no image data: tiny, and a bomb for whatever tries to show it.
func hugePNGHeader() string {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := []byte("IHDR\x00\x00\xea\x60\x00\x00\xea\x60\x08\x00\x00\x00\x00")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)-4))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

func TestValidate(t *testing.T) {
	cat, err := fixtures.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	rules := collector.Rules{SignatureRequired: true, Now: time.Now()}
	if fe := validCapture().Validate(cat, rules); fe != nil {
		t.Fatalf("valid capture refused: %v", fe)
	}
	cases := []struct {
		field  string
		mutate func(c *collector.Capture)
	}{
		{"subject.given_name", func(c *collector.Capture) { c.Subject.GivenName = "  " }},
		{"subject.family_name", func(c *collector.Capture) { c.Subject.FamilyName = strings.Repeat("x", 101) }},
		{"subject.given_name", func(c *collector.Capture) { c.Subject.GivenName = "<script>" }},
		{"subject.given_name", func(c *collector.Capture) { c.Subject.GivenName = "\u200b" }},         // invisible
		{"subject.family_name", func(c *collector.Capture) { c.Subject.FamilyName = "\u202eissoR" }},  // reads backwards
		{"subject.family_name", func(c *collector.Capture) { c.Subject.FamilyName = "Rossi\x1b[2J" }}, // a terminal control
		{"subject.given_name", func(c *collector.Capture) { c.Subject.GivenName = "..." }},
		{"subject.email", func(c *collector.Capture) { c.Subject.Email = "anna@" }},
		{"subject.email", func(c *collector.Capture) { c.Subject.Email = "Anna <anna@example.com>" }},
		{"subject.email", func(c *collector.Capture) { c.Subject.Email = "anna@localhost" }},
		{"subject.phone", func(c *collector.Capture) { c.Subject.Phone = "call me" }},
		{"subject.phone", func(c *collector.Capture) { c.Subject.Phone = "+1234567890123456789" }},
		{"language", func(c *collector.Capture) { c.Language = "italian" }},
		{"notice", func(c *collector.Capture) { c.Notice.Version = 9 }},
		{"notice.id", func(c *collector.Capture) { c.Notice.ID = "" }},
		{"notice.viewed_at", func(c *collector.Capture) { c.Notice.ViewedAt = "yesterday" }},
		{"notice.viewed_at", func(c *collector.Capture) { c.Notice.ViewedAt = "0000-01-01T00:00:00Z" }},
		{"notice.viewed_at", func(c *collector.Capture) { c.Notice.ViewedAt = "9999-12-31T23:59:59.999999999-23:59" }},
		{"purposes", func(c *collector.Capture) { c.Purposes = nil }},
		{"purposes", func(c *collector.Capture) { c.Purposes = map[string]bool{"newsletter": false} }},
		{"purposes.lottery", func(c *collector.Capture) { c.Purposes["lottery"] = true }},
		{"signature", func(c *collector.Capture) { c.Signature = nil }},
		{"signature.png", func(c *collector.Capture) { c.Signature.PNG = "not base64!" }},
		{"signature.png", func(c *collector.Capture) { c.Signature.PNG = base64.StdEncoding.EncodeToString([]byte("GIF89a")) }},
		{"signature.points", func(c *collector.Capture) { c.Signature.Points = nil }},
		{"signature.png", func(c *collector.Capture) { c.Signature.PNG = hugePNGHeader() }},
		{"signature.points", func(c *collector.Capture) { c.Signature.Points[0][0].X = 1e308 }},
		{"signature.points", func(c *collector.Capture) { c.Signature.Points[0][0].Y = math.NaN() }},
		{"signature.points", func(c *collector.Capture) { c.Signature.Points[0][0].T = -5 }},
		{"signature.points", func(c *collector.Capture) { c.Signature.Points[0][0].P = 2 }},
		{"operator", func(c *collector.Capture) { c.Operator = "staff 1" }},
	}
	for _, tc := range cases {
		c := validCapture()
		tc.mutate(c)
		fe := c.Validate(cat, rules)
		if fe == nil {
			t.Errorf("%s: accepted", tc.field)
			continue
		}
		if fe.Field != tc.field || fe.Message == "" {
			t.Errorf("%s: got field %q message %q", tc.field, fe.Field, fe.Message)
		}
	}
	c := validCapture()
	c.Signature = nil
	if fe := c.Validate(cat, collector.Rules{SignatureRequired: false}); fe != nil {
		t.Errorf("optional signature refused: %v", fe)
	}
}

func FuzzCapture(f *testing.F) {
	cat, err := fixtures.Catalog()
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(validCapture())
	f.Add(b)
	f.Add([]byte(`{"subject":{"email":"x@y.z"},"purposes":{"newsletter":true}}`))
	f.Add([]byte(`{"signature":{"png":"iVBORw0KGgo=","points":[[{"x":1e308,"y":-1,"t":-5}]]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c collector.Capture
		if json.Unmarshal(b, &c) != nil {
			return
		}
		if fe := c.Validate(cat, collector.Rules{SignatureRequired: true}); fe != nil && fe.Field == "" {
			t.Fatal("refusal without a field")
		}
	})
}

// A visitor who started on a notice version that a new configuration then
// replaced may finish on it for a grace period; older versions, versions
// the kiosk never had and replaced ones after the grace are refused.
func TestValidateReplacedNotice(t *testing.T) {
	fx, err := fixtures.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cat := fx
	for v := 2; v <= 3; v++ {
		if cat, err = cat.AddNotice(catalog.Notice{ID: "privacy-it", Version: v, Language: "it", Title: "Informativa", Text: fmt.Sprint("v", v)}); err != nil {
			t.Fatal(err)
		}
	}
	grace := collector.DefaultNoticeGrace
	for _, tc := range []struct {
		version int
		age     time.Duration
		ok      bool
	}{
		{3, 0, true},
		{3, 24 * time.Hour, true},
		{2, time.Minute, true},          // in flight when version 3 arrived
		{2, grace + time.Second, false}, // too late
		{1, time.Minute, false},         // replaced long before
		{4, 0, false},                   // the kiosk does not have it
	} {
		c := validCapture()
		c.Notice.Version = tc.version
		fe := c.Validate(cat, collector.Rules{SignatureRequired: true, NoticeGrace: grace, NoticeAge: tc.age})
		if (fe == nil) != tc.ok || (fe != nil && fe.Field != "notice") {
			t.Errorf("version %d, version 3 arrived %s ago: %v, want ok=%v", tc.version, tc.age, fe, tc.ok)
		}
	}
}
