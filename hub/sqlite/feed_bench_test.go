package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

// BenchmarkIngestNewSubjects ingests batches of 500 consents, each from a
// new person choosing five purposes: the reconciling path with the most
// consent.changed notifications (five per record).
func BenchmarkIngestNewSubjects(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "hub.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cat, _ := fixtures.Catalog()
	if _, err := st.Publish(ctx, cat); err != nil {
		b.Fatal(err)
	}
	en, _ := st.CreateEnrollment(ctx, "Booth", "fair-milano-b12", time.Hour)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	dev, err := st.Enroll(ctx, en.Code, pub, "test", "")
	if err != nil {
		b.Fatal(err)
	}
	const batch = 500
	at := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
	var seq uint64
	make1 := func() hub.Incoming {
		seq++
		person := record.Subject{GivenName: "Ada", FamilyName: fmt.Sprintf("Visitor%d", seq), Email: fmt.Sprintf("v%d@esempio.it", seq)}
		payload, _ := json.Marshal(record.Payload{Subject: person, Salt: []byte{1}})
		id, _ := uuid.NewV7()
		env := &record.Envelope{Schema: 1, ID: id.String(), Kind: record.Given, Collector: dev.Device.ID, Epoch: "ep", Seq: seq,
			CapturedAt: at.Format(time.RFC3339Nano), HLC: hlc.New(at.UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
			Notice: record.NoticeRef{ID: "privacy-it", Version: 1}, PayloadSHA256: record.PayloadHash(payload), Sealed: []byte{1}}
		for i, code := range []string{"newsletter", "sms", "phone", "profiling", "third_party"} {
			env.Purposes = append(env.Purposes, record.Choice{Purpose: code, Granted: (int(seq)+i)%2 == 0})
		}
		s, _ := record.Sign(env, priv)
		return hub.Incoming{Signed: s, Env: env, Hash: s.HashHex(), Payload: payload, Subject: &person, ReceivedAt: at, CorrectedAt: at, Countersig: []byte{1}}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		in := make([]hub.Incoming, batch)
		for i := range in {
			in[i] = make1()
		}
		b.StartTimer()
		if res, err := st.Ingest(ctx, dev.Device.ID, in); err != nil || res.Accepted != batch {
			b.Fatal(res, err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
}
