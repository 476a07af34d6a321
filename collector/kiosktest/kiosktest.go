// Package kiosktest makes enrolled kiosk outboxes for tests: a collector
// database on disk with a fresh identity and the fixtures' catalog, and
// consents captured into it as the kiosk would.
package kiosktest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"image"
	"image/png"
	"path/filepath"
	"testing"
	"time"

	"github.com/attesta/attesta/collector"
	"github.com/attesta/attesta/collector/sqlite"
	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
)

// Kiosk is an enrolled outbox.
type Kiosk struct {
	Outbox   *sqlite.Outbox
	Path     string // the database file
	Identity *collector.Identity
	Recorder *collector.Recorder
	HubOpen  *seal.PrivateKey // the hub's key, which opens what the kiosk seals
}

// Enroll opens a collector database under tb.TempDir(), enrolled as
// collector c1 at touchpoint fair-milano-b12 to the hub at hubURL, with
// operator PIN hash pinHash ("" for none). It closes with the test.
func Enroll(tb testing.TB, hubURL, pinHash string) *Kiosk {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "collector.db")
	o, err := sqlite.Open(ctx, path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { o.Close() })
	hubPub, hubPriv, err := seal.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	hubSign, _, _ := ed25519.GenerateKey(rand.Reader)
	id := &collector.Identity{CollectorID: "c1", Name: "Booth", Touchpoint: "fair-milano-b12", SignKey: sk, Token: "atd_x",
		HubURL: hubURL, HubSealKey: *hubPub, HubSignKey: hubSign, PINHash: pinHash, EnrolledAt: time.Now()}
	cat, err := fixtures.Catalog()
	if err != nil {
		tb.Fatal(err)
	}
	cat.Seq = 1
	if err := o.SaveIdentity(ctx, id, cat); err != nil {
		tb.Fatal(err)
	}
	return &Kiosk{Outbox: o, Path: path, Identity: id, HubOpen: hubPriv,
		Recorder: &collector.Recorder{Identity: id, Clock: hlc.NewClock(), Now: time.Now}}
}

// Capture stores one consent of the visitor with this email (newsletter
// granted, on privacy-it version 1, signed), two records, as the kiosk does.
func (k *Kiosk) Capture(tb testing.TB, email string) {
	tb.Helper()
	var ink bytes.Buffer
	png.Encode(&ink, image.NewGray(image.Rect(0, 0, 3, 3)))
	c := &collector.Capture{Subject: record.Subject{GivenName: "Giulietta", FamilyName: "Capuleti", Email: email},
		Purposes: map[string]bool{"newsletter": true}, Notice: collector.CaptureNotice{ID: "privacy-it", Version: 1}, Language: "it",
		Signature: &collector.CaptureInk{PNG: base64.StdEncoding.EncodeToString(ink.Bytes()), Points: [][]record.Point{{{X: 1, Y: 2}}}}}
	ctx := context.Background()
	cat, err := k.Outbox.Catalog(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	sealed, err := k.Recorder.Seal(c, k.Identity.HubURL)
	if err != nil {
		tb.Fatal(err)
	}
	err = k.Outbox.Append(ctx, func(h collector.Head) ([]record.Signed, error) {
		recs, _, err := k.Recorder.Records(h, c, sealed, cat, "", k.Identity.HubURL)
		return recs, err
	})
	if err != nil {
		tb.Fatal(err)
	}
}
