package e2e

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/wire"
)

// BenchmarkConfigPush measures how long a notice published through the API
// takes to reach connected devices: 200 protocol-level sessions (each
// timing its config frame) and one real collector (until its kiosk API
// shows the new version), all on loopback with a real hub.
//
//	go test -run '^$' -bench ConfigPush -benchtime 1x ./shared/e2e/
func BenchmarkConfigPush(b *testing.B) {
	const devices = 200
	h := NewHub(b, "--max-sessions", "1000")
	c := EnrollCollector(b, h.URL(), h.EnrollCode("Kiosk"))
	c.Start()
	sessions := make([]*FakeSession, devices)
	for i := range sessions {
		d := EnrollFake(b, h.URL(), h.EnrollCode(fmt.Sprint("Fake ", i)))
		sessions[i] = d.Session(h.URL())
	}
	admin := strings.TrimSpace(Run(b, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "admin"))
	var fanout, kiosk []time.Duration
	var publish time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		version := i + 2
		var wg sync.WaitGroup
		got := make([]time.Duration, devices)
		start := time.Now()
		for j, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					f, err := s.Read()
					if err != nil {
						got[j] = -1
						return
					}
					if f.Type == wire.TConfig && f.Config.Catalog.IsActive("privacy-it", version) {
						got[j] = time.Since(start)
						s.Send(&wire.Frame{Type: wire.TConfigAck, ConfigAck: &wire.ConfigAck{Seq: f.Config.Catalog.Seq}})
						return
					}
				}
			}()
		}
		req, _ := http.NewRequest("POST", h.URL()+"/api/v1/notices", strings.NewReader(fmt.Sprintf(
			`{"id":"privacy-it","version":%d,"language":"it","title":"Informativa","text":"# Informativa\n\nv%d\n"}`, version, version)))
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("publish: %v %v", err, resp)
		}
		resp.Body.Close()
		publish += time.Since(start)
		for {
			_, ns, err := c.kioskConfig()
			if err == nil && ns["privacy-it"].Version == version {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		kiosk = append(kiosk, time.Since(start))
		wg.Wait()
		for _, d := range got {
			if d < 0 {
				b.Fatal("a session ended before its config arrived")
			}
		}
		sort.Slice(got, func(a, z int) bool { return got[a] < got[z] })
		fanout = append(fanout, got[len(got)/2], got[len(got)-1])
	}
	b.StopTimer()
	var p50, last, k time.Duration
	for i := 0; i < len(fanout); i += 2 {
		p50 += fanout[i]
		last += fanout[i+1]
	}
	for _, d := range kiosk {
		k += d
	}
	n := time.Duration(b.N)
	b.ReportMetric(float64((p50/n).Microseconds())/1000, "ms-p50-session")
	b.ReportMetric(float64((last/n).Microseconds())/1000, "ms-last-of-200")
	b.ReportMetric(float64((k/n).Microseconds())/1000, "ms-kiosk-shows")
	b.ReportMetric(float64((publish/n).Microseconds())/1000, "ms-publish-answered")
}
