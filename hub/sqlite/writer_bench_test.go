package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

// BenchmarkIngestWriter measures the one writer alone (no crypto, no
// network, one batch after another) on what BenchmarkIngest1M in
// shared/bench sends: per visitor a notice view and a consent with email,
// phone and a name from a population of 20 × 8,000, in batches of 500
// records. With reconciliation the suggestion queue is worked off after
// each batch and timed apart (its reads run beside the writer in a hub).
// ATTESTA_BENCH_WRITER_PEOPLE sets how many people are there before the
// timed batches (default 20,000).
func BenchmarkIngestWriter(b *testing.B) {
	for _, reconcile := range []bool{false, true} {
		b.Run(fmt.Sprintf("reconcile=%v", reconcile), func(b *testing.B) {
			ctx := context.Background()
			st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "hub.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			st.Reconcile = reconcile
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
			given := []string{"Mario", "Anna", "Giulia", "Luca", "Marco", "Sara", "Paolo", "Elena", "Andrea", "Chiara",
				"Giovanni", "Francesca", "Alessandro", "Laura", "Matteo", "Valentina", "Davide", "Martina", "Simone", "Federica"}
			syl := []string{"ro", "ss", "bi", "an", "chi", "fer", "ra", "ri", "co", "lo", "mba", "rdi", "gal", "li", "espo", "si", "to", "ma", "ri", "no"}
			at := time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC)
			var seq uint64
			var prev string
			visitor := 0
			sign := func(env *record.Envelope, payload []byte, person *record.Subject) hub.Incoming {
				seq++
				env.Seq, env.Prev = seq, prev
				s, _ := record.Sign(env, priv)
				prev = s.HashHex()
				return hub.Incoming{Signed: s, Env: env, Hash: prev, Payload: payload, Subject: person, ReceivedAt: at, CorrectedAt: at, Countersig: []byte{1}}
			}
			batch := func() []hub.Incoming {
				var out []hub.Incoming
				for range 250 {
					i := visitor
					visitor++
					f := i % 8000
					person := record.Subject{GivenName: given[(i/7)%len(given)], FamilyName: syl[f%20] + syl[(f/20)%20] + syl[(f/400)%20] + "i",
						Email: fmt.Sprintf("visitor.%d@example.com", i), Phone: fmt.Sprintf("+39 333 %07d", i)}
					view, _ := uuid.NewV7()
					id, _ := uuid.NewV7()
					out = append(out, sign(&record.Envelope{Schema: 1, ID: view.String(), Kind: record.NoticeViewed, Collector: dev.Device.ID, Epoch: "ep",
						CapturedAt: at.Format(time.RFC3339Nano), HLC: hlc.New(at.UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
						Notice: record.NoticeRef{ID: "privacy-it", Version: 1}}, nil, nil))
					payload, _ := json.Marshal(record.Payload{Subject: person, Salt: []byte{1}})
					env := &record.Envelope{Schema: 1, ID: id.String(), Kind: record.Given, Collector: dev.Device.ID, Epoch: "ep",
						CapturedAt: at.Format(time.RFC3339Nano), HLC: hlc.New(at.UnixMilli(), 0), Touchpoint: "fair-milano-b12", Language: "it",
						Notice: record.NoticeRef{ID: "privacy-it", Version: 1}, PayloadSHA256: record.PayloadHash(payload), Sealed: []byte{1}, Ref: view.String()}
					for k, code := range []string{"newsletter", "sms", "phone", "profiling", "third_party"} {
						env.Purposes = append(env.Purposes, record.Choice{Purpose: code, Granted: (i+k)%2 == 0})
					}
					out = append(out, sign(env, payload, &person))
				}
				return out
			}
			type suggester interface {
				Suggest(context.Context, int) (int, error)
			}
			drain := func() {
				if sg, ok := any(st).(suggester); ok && reconcile {
					for {
						n, err := sg.Suggest(ctx, 1000)
						if err != nil {
							b.Fatal(err)
						}
						if n < 1000 {
							return
						}
					}
				}
			}
			before := 20000
			fmt.Sscan(os.Getenv("ATTESTA_BENCH_WRITER_PEOPLE"), &before)
			for range before / 250 {
				if _, err := st.Ingest(ctx, dev.Device.ID, batch()); err != nil {
					b.Fatal(err)
				}
			}
			drain()
			// The writer's own CPU (this thread's; the load of a shared
			// machine inflates wall time far more).
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			threadCPU := func() time.Duration {
				var ru syscall.Rusage
				syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
				return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			}
			var ingest, suggest, ingestCPU, suggestCPU time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				in := batch()
				b.StartTimer()
				t0, c0 := time.Now(), threadCPU()
				if res, err := st.Ingest(ctx, dev.Device.ID, in); err != nil || res.Accepted != len(in) {
					b.Fatal(res, err)
				}
				t1, c1 := time.Now(), threadCPU()
				drain()
				ingest, suggest = ingest+t1.Sub(t0), suggest+time.Since(t1)
				ingestCPU, suggestCPU = ingestCPU+c1-c0, suggestCPU+threadCPU()-c1
			}
			b.ReportMetric(float64(ingestCPU.Microseconds())/float64(b.N*500), "µs-cpu-ingest/record")
			b.ReportMetric(float64(suggestCPU.Microseconds())/float64(b.N*500), "µs-cpu-suggest/record")
			b.ReportMetric(float64(ingest.Microseconds())/float64(b.N*500), "µs-ingest/record")
			b.ReportMetric(float64(suggest.Microseconds())/float64(b.N*500), "µs-suggest/record")
		})
	}
}
