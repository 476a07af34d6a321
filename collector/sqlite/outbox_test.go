package sqlite_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"image"
	"image/png"
	"os"
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

type rig struct {
	o    *sqlite.Outbox
	rec  *collector.Recorder
	path string
	priv *seal.PrivateKey
}

func mustOpen(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "collector.db")
	o, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	hubPub, hubPriv, _ := seal.GenerateKey()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	signPub, _, _ := ed25519.GenerateKey(rand.Reader)
	id := &collector.Identity{CollectorID: "c1", Name: "Booth", Touchpoint: "fair-milano-b12", SignKey: sk, Token: "atd_x",
		HubURL: "http://hub", HubSealKey: *hubPub, HubSignKey: signPub, EnrolledAt: time.Now()}
	cat, _ := fixtures.Catalog()
	cat.Seq = 1
	if err := o.SaveIdentity(ctx, id, cat); err != nil {
		t.Fatal(err)
	}
	return &rig{o: o, rec: &collector.Recorder{Identity: id, Clock: hlc.NewClock(), Now: time.Now}, path: path, priv: hubPriv}
}

func (r *rig) capture(t *testing.T, email string) {
	t.Helper()
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 3, 3)))
	c := &collector.Capture{Subject: record.Subject{GivenName: "Giulietta", FamilyName: "Capuleti", Email: email},
		Purposes: map[string]bool{"newsletter": true}, Notice: collector.CaptureNotice{ID: "privacy-it", Version: 1}, Language: "it",
		Signature: &collector.CaptureInk{PNG: base64.StdEncoding.EncodeToString(buf.Bytes()), Points: [][]record.Point{{{X: 1, Y: 2}}}}}
	cat, _ := r.o.Catalog(context.Background())
	s, err := r.rec.Seal(c, "http://hub")
	if err != nil {
		t.Fatal(err)
	}
	err = r.o.Append(context.Background(), func(h collector.Head) ([]record.Signed, error) {
		recs, _, err := r.rec.Records(h, c, s, cat, "", "http://hub")
		return recs, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOutboxChainAndAcks(t *testing.T) {
	ctx := context.Background()
	r := mustOpen(t)
	for i := 0; i < 3; i++ {
		r.capture(t, "giulietta@verona.it")
	}
	pend, err := r.o.Pending(ctx, "", 0, 100)
	if err != nil || len(pend) != 6 {
		t.Fatalf("%d pending, %v", len(pend), err)
	}
	prev := ""
	for i, p := range pend {
		env, err := p.Signed.Decode()
		if err != nil {
			t.Fatal(err)
		}
		if env.Seq != uint64(i+1) || env.Prev != prev {
			t.Fatalf("record %d: seq %d prev %q, want prev %q", i, env.Seq, env.Prev, prev)
		}
		if err := p.Signed.Verify(r.rec.Identity.SignKey.Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
		prev = p.Signed.HashHex()
	}
	epoch := pend[0].Epoch
	if err := r.o.Ack(ctx, epoch, 4, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := r.o.Status(ctx, time.Time{})
	if st.Pending != 2 || st.AckedThrough != 4 || st.Head != 6 || st.CapturesToday != 3 {
		t.Fatalf("status %+v", st)
	}
	if rest, _ := r.o.Pending(ctx, epoch, 4, 100); len(rest) != 2 {
		t.Fatalf("after ack: %d", len(rest))
	}
	if err := r.o.Rewind(ctx, epoch, 2); err != nil {
		t.Fatal(err)
	}
	if rest, _ := r.o.Pending(ctx, "", 0, 100); len(rest) != 4 || rest[0].Seq != 3 {
		t.Fatalf("after rewind: %d", len(rest))
	}
	// A new epoch restarts seq and continues the chain.
	newEpoch, err := r.o.NewEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r.capture(t, "romeo@verona.it")
	all, _ := r.o.Pending(ctx, "", 0, 100)
	last := all[len(all)-2]
	env, _ := last.Signed.Decode()
	if last.Epoch != newEpoch || env.Seq != 1 || env.Prev != pend[5].Signed.HashHex() {
		t.Fatalf("new epoch record: %+v", env)
	}
	streams, _ := r.o.Streams(ctx)
	if len(streams) != 2 || streams[0].Head != 6 || streams[1].Head != 2 {
		t.Fatalf("streams %+v", streams)
	}
}

// TestStolenKiosk reads the database files as a thief would: no name, email
// or signature image in the clear, and the sealed payload opens only with
// the hub's key.
func TestStolenKiosk(t *testing.T) {
	r := mustOpen(t)
	r.capture(t, "giulietta@verona.it")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(r.path + suffix)
		if err != nil {
			continue
		}
		for _, secret := range []string{"giulietta@verona.it", "Giulietta", "Capuleti", "\x89PNG"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s%s holds %q in the clear", filepath.Base(r.path), suffix, secret)
			}
		}
	}
	pend, _ := r.o.Pending(context.Background(), "", 0, 10)
	env, _ := pend[1].Signed.Decode()
	pub := r.rec.Identity.HubSealKey
	payload, err := seal.Open(&pub, r.priv, env.Sealed)
	if err != nil || !bytes.Contains(payload, []byte("giulietta@verona.it")) || record.PayloadHash(payload) != env.PayloadSHA256 {
		t.Fatalf("hub cannot open the payload: %v", err)
	}
}
