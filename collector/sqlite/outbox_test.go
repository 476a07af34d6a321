package sqlite_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/attesta/attesta/collector/kiosktest"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
)

func TestOutboxChainAndAcks(t *testing.T) {
	ctx := context.Background()
	k := kiosktest.Enroll(t, "http://hub", "")
	for i := 0; i < 3; i++ {
		k.Capture(t, "giulietta@verona.it")
	}
	pend, err := k.Outbox.Pending(ctx, "", 0, 100)
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
		if err := p.Signed.Verify(k.Identity.SignKey.Public().(ed25519.PublicKey)); err != nil {
			t.Fatal(err)
		}
		prev = p.Signed.HashHex()
	}
	epoch := pend[0].Epoch
	if err := k.Outbox.Ack(ctx, epoch, 4, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := k.Outbox.Status(ctx, time.Time{})
	if st.Pending != 2 || st.AckedThrough != 4 || st.Head != 6 || st.CapturesToday != 3 {
		t.Fatalf("status %+v", st)
	}
	if rest, _ := k.Outbox.Pending(ctx, epoch, 4, 100); len(rest) != 2 {
		t.Fatalf("after ack: %d", len(rest))
	}
	if err := k.Outbox.Rewind(ctx, epoch, 2); err != nil {
		t.Fatal(err)
	}
	if rest, _ := k.Outbox.Pending(ctx, "", 0, 100); len(rest) != 4 || rest[0].Seq != 3 {
		t.Fatalf("after rewind: %d", len(rest))
	}
	// A new epoch restarts seq and continues the chain.
	newEpoch, err := k.Outbox.NewEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k.Capture(t, "romeo@verona.it")
	all, _ := k.Outbox.Pending(ctx, "", 0, 100)
	last := all[len(all)-2]
	env, _ := last.Signed.Decode()
	if last.Epoch != newEpoch || env.Seq != 1 || env.Prev != pend[5].Signed.HashHex() {
		t.Fatalf("new epoch record: %+v", env)
	}
	streams, _ := k.Outbox.Streams(ctx)
	if len(streams) != 2 || streams[0].Head != 6 || streams[1].Head != 2 {
		t.Fatalf("streams %+v", streams)
	}
}

// TestStolenKiosk reads the database files as a thief would: no name, email
// or signature image in the clear, and the sealed payload opens only with
// the hub's key.
func TestStolenKiosk(t *testing.T) {
	k := kiosktest.Enroll(t, "http://hub", "")
	k.Capture(t, "giulietta@verona.it")
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(k.Path + suffix)
		if err != nil {
			continue
		}
		for _, secret := range []string{"giulietta@verona.it", "Giulietta", "Capuleti", "\x89PNG"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s%s holds %q in the clear", filepath.Base(k.Path), suffix, secret)
			}
		}
	}
	pend, _ := k.Outbox.Pending(context.Background(), "", 0, 10)
	env, _ := pend[1].Signed.Decode()
	pub := k.Identity.HubSealKey
	payload, err := seal.Open(&pub, k.HubOpen, env.Sealed)
	if err != nil || !bytes.Contains(payload, []byte("giulietta@verona.it")) || record.PayloadHash(payload) != env.PayloadSHA256 {
		t.Fatalf("hub cannot open the payload: %v", err)
	}
}
