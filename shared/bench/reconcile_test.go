package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attesta/attesta/collector"
	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	hhttp "github.com/attesta/attesta/hub/http"
	hsqlite "github.com/attesta/attesta/hub/sqlite"
	hws "github.com/attesta/attesta/hub/ws"
	"github.com/attesta/attesta/shared/e2e"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/record"
)

var givenNames = []string{"Mario", "Anna", "Giulia", "Luca", "Marco", "Sara", "Paolo", "Elena", "Andrea", "Chiara",
	"Giovanni", "Francesca", "Alessandro", "Laura", "Matteo", "Valentina", "Davide", "Martina", "Simone", "Federica"}

var syllables = []string{"ro", "ss", "bi", "an", "chi", "fer", "ra", "ri", "co", "lo", "mba", "rdi", "gal", "li", "espo", "si", "to", "ma", "ri", "no"}

// person returns the i-th synthetic visitor: unique email and phone, names
// spread like a real population's (20 given names, 8,000 family names).
func synthPerson(i int) record.Subject {
	f := i % 8000
	family := syllables[f%20] + syllables[(f/20)%20] + syllables[(f/400)%20] + "i"
	return record.Subject{GivenName: givenNames[(i/7)%len(givenNames)], FamilyName: family,
		Email: fmt.Sprintf("visitor.%d@example.com", i), Phone: fmt.Sprintf("+39 333 %07d", i)}
}

type hubRig struct {
	st  *hsqlite.Store
	srv *hhttp.Server
	ws  *hws.Server
}

// newHub starts a hub in this process; with keysOf it has the same keys as
// that hub, as a restored hub would.
func newHub(tb testing.TB, reconcile bool, keysOf *hubRig) *hubRig {
	ctx := context.Background()
	st, err := hsqlite.Open(ctx, filepath.Join(tb.TempDir(), "hub.db"))
	if err != nil {
		tb.Fatal(err)
	}
	st.Reconcile = reconcile
	if keysOf != nil {
		var sp, spriv, gp, gpriv []byte
		if err := keysOf.st.DB().R.QueryRow(`SELECT seal_pub, seal_priv, sign_pub, sign_priv FROM hub_keys`).Scan(&sp, &spriv, &gp, &gpriv); err != nil {
			tb.Fatal(err)
		}
		if _, err := st.DB().W.Exec(`INSERT INTO hub_keys (id, seal_pub, seal_priv, sign_pub, sign_priv, created_at) VALUES (1, ?, ?, ?, ?, '')`,
			sp, spriv, gp, gpriv); err != nil {
			tb.Fatal(err)
		}
	}
	cat, _ := fixtures.Catalog()
	if _, err := st.Publish(ctx, cat); err != nil {
		tb.Fatal(err)
	}
	keys, err := st.Keys(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	h := &hubRig{st: st, ws: hws.NewServer(st, keys)}
	h.ws.Logger = quiet
	h.srv = hhttp.NewServer(st, h.ws)
	h.srv.Addr, h.srv.Logger = "127.0.0.1:0", quiet
	if err := h.srv.Open(); err != nil {
		tb.Fatal(err)
	}
	// The suggestion worker, as 'attesta-hub run' starts it.
	wctx, stop := context.WithCancel(ctx)
	worked := make(chan struct{})
	go func() {
		defer close(worked)
		st.WorkSuggestions(wctx, time.Second, func(err error) { tb.Errorf("suggestions: %v", err) })
	}()
	tb.Cleanup(func() { h.ws.Close(); h.srv.Close(context.Background()); stop(); <-worked; st.Close() })
	return h
}

// templates makes devices × perDevice records as a kiosk would (a notice
// view and a consent per visitor, the consent's payload sealed to keys),
// unsigned: each run signs them as the devices it enrolls.
func templates(tb testing.TB, devices, perDevice int, sealKey *hub.Keys) [][]*record.Envelope {
	cat, _ := fixtures.Catalog()
	sig := signaturePNG()
	out := make([][]*record.Envelope, devices)
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := int(next.Add(1) - 1); d < devices; d = int(next.Add(1) - 1) {
				_, priv, _ := ed25519.GenerateKey(nil)
				id := &collector.Identity{CollectorID: "template", Touchpoint: "fair-milano-b12", SignKey: priv, HubSealKey: sealKey.SealPub}
				rec := &collector.Recorder{Identity: id, Clock: hlc.NewClock(), Now: time.Now}
				head := collector.Head{Epoch: "template"}
				for v := 0; v < perDevice/2; v++ {
					c := capture(0, sig)
					c.Subject = synthPerson(d*perDevice/2 + v)
					c.Purposes = map[string]bool{"newsletter": true, "sms": v%2 == 0, "phone": v%3 == 0, "profiling": v%5 == 0, "third_party": false}
					s, err := rec.Seal(c, "http://hub.example")
					if err != nil {
						panic(err)
					}
					recs, _, err := rec.Records(head, c, s, cat, "staff-1", "http://hub.example")
					if err != nil {
						panic(err)
					}
					for _, r := range recs {
						env, err := r.Decode()
						if err != nil {
							panic(err)
						}
						out[d] = append(out[d], env)
					}
					head.Seq += uint64(len(recs))
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// ingestRun enrolls one fake device per template list at a fresh hub,
// signs the records as those devices and pushes them all at once, each
// device over its own websocket, one batch in flight per device. It
// returns records per second from the first push to the last ack.
func ingestRun(b *testing.B, tpl [][]*record.Envelope, keysOf *hubRig, reconcile bool) (perSecond, cpuPerRecord float64, h *hubRig) {
	ctx := context.Background()
	h = newHub(b, reconcile, keysOf)
	devs := make([]*e2e.FakeDevice, len(tpl))
	signed := make([][]record.Signed, len(tpl))
	for i := range tpl {
		en, err := h.st.CreateEnrollment(ctx, fmt.Sprintf("kiosk %d", i), "fair-milano-b12", time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		devs[i] = e2e.EnrollFake(b, h.srv.URL(), en.Code)
	}
	var wg sync.WaitGroup
	for i := range tpl {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := ""
			for _, t := range tpl[i] {
				env := *t
				env.Collector, env.Epoch, env.Prev = devs[i].ID, devs[i].Epoch, prev
				s, err := record.Sign(&env, devs[i].Key)
				if err != nil {
					panic(err)
				}
				signed[i] = append(signed[i], s)
				prev = s.HashHex()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, s := range signed {
		total += len(s)
	}
	// Every device connects first: under the storm a hello waits for the
	// hub's one writer like any batch, and this measures ingest.
	sessions := make([]*e2e.FakeSession, len(devs))
	for i, d := range devs {
		sessions[i] = d.Session(h.srv.URL())
		// 200 devices at once queue at the hub's one writer; a kiosk
		// waits as long as its pings are answered.
		sessions[i].Timeout = 10 * time.Minute
	}
	b.StartTimer()
	start, cpu0 := time.Now(), processCPU()
	for i := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess := sessions[i]
			max := sess.Welcome.MaxBatch
			for k := 0; k < len(signed[i]); k += max {
				ack := sess.Push(signed[i][k:min(k+max, len(signed[i]))]...)
				if len(ack.Rejected) > 0 {
					panic(fmt.Sprintf("rejected: %+v", ack.Rejected[0]))
				}
			}
		}()
	}
	wg.Wait()
	acked := time.Now()
	// Reconciliation ends when suggestions, made after commit, are made too.
	for {
		n, err := h.st.SuggestQueued(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	if reconcile {
		b.Logf("the last suggestions were made %v after the last ack", time.Since(acked).Round(time.Millisecond))
	}
	b.StopTimer()
	c, err := h.st.Counts(ctx)
	if err != nil || c.Events != int64(total) {
		b.Fatalf("%d events at the hub, want %d (%v)", c.Events, total, err)
	}
	return float64(total) / elapsed.Seconds(), float64(cpu.Microseconds()) / float64(total), h
}

// BenchmarkIngest1M pushes 1,000,000 records from 200 devices into a hub,
// once without reconciliation (the spine) and once with it (subjects,
// facts and consent state kept in the ingest transaction).
// ATTESTA_BENCH_RECORDS sets another total (e.g. 100000) for quick rounds.
func BenchmarkIngest1M(b *testing.B) {
	devices, perDevice := 200, 5000
	if n, err := strconv.Atoi(os.Getenv("ATTESTA_BENCH_RECORDS")); err == nil && n >= 2*devices {
		perDevice = n / devices / 2 * 2
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// One hub key pair for both runs, so the sealed payloads are made once.
		seed := newHub(b, false, nil)
		k, _ := seed.st.Keys(context.Background())
		tpl := templates(b, devices, perDevice, k)
		off, offCPU, _ := ingestRun(b, tpl, seed, false)
		on, onCPU, h := ingestRun(b, tpl, seed, true)
		var subjects int64
		h.st.DB().R.QueryRow(`SELECT COUNT(*) FROM subjects`).Scan(&subjects)
		if subjects != int64(devices*perDevice/2) {
			b.Fatalf("%d subjects, want %d", subjects, devices*perDevice/2)
		}
		b.ReportMetric(off, "records/s-spine")
		b.ReportMetric(on, "records/s-reconciled")
		b.ReportMetric(on/off, "ratio")
		b.ReportMetric(offCPU/onCPU, "cpu-ratio")
		b.Logf("CPU per record (hub and fake devices): %.1f µs without reconciliation, %.1f µs with; cpu ratio %.2f",
			offCPU, onCPU, offCPU/onCPU)
		b.Logf("%d records from %d devices: %.0f records/s without reconciliation, %.0f with (%d subjects); ratio %.2f",
			devices*perDevice, devices, off, on, subjects, on/off)
	}
}

// BenchmarkBulkCheck1M checks 1,000,000 NDJSON lines in one streamed
// POST /api/v1/check against a hub holding 1,000,000 subjects: first with
// answers from SQLite, then from the in-memory check index the running hub
// keeps (check_index, on by default).
// ATTESTA_BENCH_SUBJECTS sets another size (e.g. 100000) for quick rounds.
func BenchmarkBulkCheck1M(b *testing.B) {
	subjects := 1_000_000
	if n, err := strconv.Atoi(os.Getenv("ATTESTA_BENCH_SUBJECTS")); err == nil && n > 0 {
		subjects = n
	}
	ctx := context.Background()
	b.StopTimer()
	h := openHub(b, subjectsFixture(b, subjects))
	token, err := h.st.CreateToken(ctx, hub.ScopeCheck)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		bulkCheck(b, h, token, subjects, "database")
	}
	// The index, as the running hub builds it at start.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	h.st.ServeChecks(quiet, true)
	for !h.st.ChecksFromMemory() {
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	held := float64(after.HeapInuse) - float64(before.HeapInuse)
	b.Logf("check index: built in %v, %.1f MiB of heap for %d subjects (%.0f bytes each)",
		took.Round(time.Millisecond), held/(1<<20), subjects, held/float64(subjects))
	b.ReportMetric(took.Seconds(), "index-build-s")
	b.ReportMetric(held/(1<<20), "index-MiB")
	for i := 0; i < b.N; i++ {
		bulkCheck(b, h, token, subjects, "memory")
	}
}

// bulkCheck streams one list of as many lines as subjects: 80 % known
// emails, 10 % known phones as people write them, 10 % unknown people,
// purposes spread over the catalog.
func bulkCheck(b *testing.B, h *hubRig, token string, subjects int, from string) {
	lines := subjects
	cat, _ := fixtures.Catalog()
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 1<<16)
		var line []byte
		for n := range lines {
			p := synthPerson((n * 7919) % subjects)
			purpose := cat.Purposes[n%len(cat.Purposes)].Code
			line = line[:0]
			switch n % 10 {
			case 8:
				line = append(append(append(line, `{"phone":"`...), p.Phone...), '"')
			case 9:
				line = strconv.AppendInt(append(line, `{"email":"nobody.`...), int64(n), 10)
				line = append(line, `@example.org"`...)
			default:
				line = append(append(append(line, `{"email":"`...), p.Email...), '"')
			}
			line = append(append(append(line, `,"purpose":"`...), purpose...), "\"}\n"...)
			bw.Write(line)
		}
		bw.Flush()
		pw.Close()
	}()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	req, _ := http.NewRequest("POST", h.srv.URL()+"/api/v1/check", pr)
	req.Header.Set("Authorization", "Bearer "+token)
	b.StartTimer()
	start, cpu0 := time.Now(), processCPU()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	answers, decisions := 0, map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		// A campaign tool reads the decision of each line; the rest of
		// the answer is the hub's, tested elsewhere.
		_, d, _ := bytes.Cut(sc.Bytes(), []byte(`"decision":"`))
		d, _, _ = bytes.Cut(d, []byte(`"`))
		decisions[string(d)]++
		answers++
	}
	resp.Body.Close()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	sampler.Wait()
	if answers != lines || decisions[hub.Unknown] != lines/10 {
		b.Fatalf("%d answers, decisions %v", answers, decisions)
	}
	rate := float64(lines) / elapsed.Seconds()
	cpu := processCPU() - cpu0
	perCheck := float64(cpu.Microseconds()) / float64(lines)
	b.ReportMetric(rate, "checks/s-"+from)
	b.ReportMetric(perCheck, "cpu-µs/check-"+from)
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MiB-"+from)
	b.Logf("from %s: %d checks against %d subjects in %v: %.0f checks/s; decisions %v; peak heap in use %.1f MiB (client and server in one process)",
		from, lines, subjects, elapsed.Round(time.Millisecond), rate, decisions, float64(peak.Load())/(1<<20))
	b.Logf("from %s: CPU %v, %.2f µs per check (client included): %.0f checks/s if all %d cores were this process's alone",
		from, cpu.Round(time.Millisecond), perCheck, float64(runtime.GOMAXPROCS(0))*1e6/perCheck, runtime.GOMAXPROCS(0))
}
