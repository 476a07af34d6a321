package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Collector is a real attesta-collector process with its data folder.
type Collector struct {
	tb   testing.TB
	Dir  string
	ID   string
	Env  []string // extra environment for 'run', e.g. ATTESTA_CLOCK_OFFSET=-72h
	Args []string // extra arguments for 'run', e.g. --shutdown-timeout 5s
	Proc *Process

	http *http.Client
	mu   sync.Mutex
	url  string // the kiosk's base URL, new at every start
}

// URL is the kiosk's base URL (it changes at every start).
func (c *Collector) URL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.url
}

var (
	enrolledRE     = regexp.MustCompile(`enrolled ".*" \(([0-9a-f-]{36})\)`)
	collectorURLRE = regexp.MustCompile(`attesta-collector running"? kiosk=(http://[0-9.:]+)`)
)

// EnrollCollector makes a data folder under tb.TempDir and enrolls it at
// hubURL with code (attesta-collector enroll). It does not start it.
func EnrollCollector(tb testing.TB, hubURL, code string) *Collector {
	tb.Helper()
	c := &Collector{tb: tb, Dir: tb.TempDir(), http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 16},
	}}
	out := Run(tb, Binaries.Collector, "enroll", "--data", c.Dir, "--hub", hubURL, "--code", code)
	m := enrolledRE.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("collector enroll printed %q", out)
	}
	c.ID = m[1]
	tb.Cleanup(func() {
		if r := ChildRaces(c.log()); r != "" {
			tb.Errorf("data race in attesta-collector:\n%s", r)
		}
		if tb.Failed() {
			tb.Logf("collector %s log (tail):\n%s", c.ID, tail(readFile(c.log()), 40))
		}
	})
	return c
}

func (c *Collector) log() string { return filepath.Join(c.Dir, "collector.log") }

// Log is everything the collector logged, across restarts.
func (c *Collector) Log() string { return readFile(c.log()) }

// Start runs the collector on a free loopback port and waits until it serves.
func (c *Collector) Start() {
	c.tb.Helper()
	c.Proc = StartProcess(c.tb, "attesta-collector", Binaries.Collector, c.log(), c.Env,
		append([]string{"run", "--data", c.Dir, "--listen", "127.0.0.1:0"}, c.Args...)...)
	u := c.Proc.WaitLog(c.tb, collectorURLRE, 60*time.Second)[1]
	c.mu.Lock()
	c.url = u
	c.mu.Unlock()
}

// Kill ends the collector with SIGKILL.
func (c *Collector) Kill() { c.tb.Helper(); c.Proc.Kill(c.tb) }

// Stop ends the collector with SIGTERM.
func (c *Collector) Stop() { c.tb.Helper(); c.Proc.Stop(c.tb) }

var signaturePNG = func() string {
	img := image.NewGray(image.Rect(0, 0, 8, 4))
	for x := range 8 {
		img.Set(x, 2, color.White)
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return base64.StdEncoding.EncodeToString(b.Bytes())
}()

var captureSeq atomic.Int64

// CaptureBody is a valid capture for the fixtures' catalog; n makes the
// visitor's email and phone unique: n different visitors, as at a booth.
func CaptureBody(n int64) []byte {
	b, _ := json.Marshal(map[string]any{
		"subject": map[string]string{"given_name": "Ada", "family_name": "Lovelace",
			"email": fmt.Sprintf("visitor%d@example.com", n), "phone": fmt.Sprintf("+39 333 %07d", n%10_000_000)},
		"purposes": map[string]bool{"newsletter": true, "sms": n%2 == 0, "profiling": false},
		"notice":   map[string]any{"id": "privacy-it", "version": 1},
		"language": "it",
		"signature": map[string]any{"png": signaturePNG, "points": [][]map[string]any{{
			{"x": 1, "y": 2, "t": 0, "p": 0.5}, {"x": 7, "y": 2, "t": 40, "p": 0.5}}}},
	})
	return b
}

// Capture posts one consent. It returns the consent id of a 201 answer;
// anything else (a refusal, a dead process) is an error.
func (c *Collector) Capture() (string, error) { return c.CaptureJSON(CaptureBody(captureSeq.Add(1))) }

// CaptureJSON posts one capture request body.
func (c *Collector) CaptureJSON(body []byte) (string, error) {
	resp, err := c.http.Post(c.URL()+"/api/v1/consents", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST /api/v1/consents: %s %s", resp.Status, b)
	}
	var v struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.ID == "" || v.Seq == 0 {
		return "", fmt.Errorf("201 with body %q", b)
	}
	return v.ID, nil
}

// CaptureN posts n consents from workers concurrent clients and returns
// the ids; any failure fails the test.
func (c *Collector) CaptureN(n, workers int) []string {
	c.tb.Helper()
	ids, err := c.captureN(n, workers)
	if err != nil {
		c.tb.Fatalf("capturing %d consents: %v", n, err)
	}
	return ids
}

// CaptureBurst posts consents from workers clients until the collector
// stops answering (a test kills it from onCreated). It returns every id
// answered 201 and the number of requests that got no answer.
func (c *Collector) CaptureBurst(workers int, onCreated func(total int)) (ids []string, unanswered int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id, err := c.Capture()
				mu.Lock()
				if err != nil {
					unanswered++
					mu.Unlock()
					return
				}
				ids = append(ids, id)
				total := len(ids)
				mu.Unlock()
				if onCreated != nil {
					onCreated(total)
				}
			}
		}()
	}
	wg.Wait()
	return ids, unanswered
}

func (c *Collector) captureN(n, workers int) ([]string, error) {
	var mu sync.Mutex
	var ids []string
	var errs errList
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				id, err := c.Capture()
				if err != nil {
					errs.add(err)
					return
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return ids, errs.err()
}

// Status is GET /api/v1/status.
type Status struct {
	CollectorID  string `json:"collector_id"`
	Epoch        string `json:"epoch"`
	Pending      int64  `json:"pending"`
	AckedThrough uint64 `json:"acked_through"`
	Head         uint64 `json:"head"`
	Connected    bool   `json:"connected"`
	LastError    string `json:"last_error"`
	Rejected     int64  `json:"rejected"`
}

// Status reads the collector's status.
func (c *Collector) Status() (Status, error) {
	var s Status
	resp, err := c.http.Get(c.URL() + "/api/v1/status")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return s, fmt.Errorf("GET /api/v1/status: %s", resp.Status)
	}
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

// MustStatus is Status that fails the test on error.
func (c *Collector) MustStatus() Status {
	c.tb.Helper()
	s, err := c.Status()
	if err != nil {
		c.tb.Fatal(err)
	}
	return s
}

// SyncNow presses the operator's "sync now" (POST /api/v1/sync): a waiting
// reconnect dials at once instead of sitting out its backoff.
func (c *Collector) SyncNow() {
	c.tb.Helper()
	resp, err := c.http.Post(c.URL()+"/api/v1/sync", "application/json", nil)
	if err != nil {
		c.tb.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		c.tb.Fatalf("POST /api/v1/sync: %s", resp.Status)
	}
}

// WaitSynced waits until the collector has nothing pending and is connected.
func (c *Collector) WaitSynced(timeout time.Duration) Status {
	c.tb.Helper()
	var s Status
	Eventually(c.tb, timeout, "collector "+c.ID+" synced", func() (bool, string) {
		var err error
		s, err = c.Status()
		if err != nil {
			return false, err.Error()
		}
		return s.Pending == 0 && s.Connected, fmt.Sprintf("%+v", s)
	})
	return s
}

// DBFiles are the collector's database files, for copying a backup.
func (c *Collector) DBFiles() []string {
	var out []string
	for _, suffix := range []string{"", "-wal", "-shm"} {
		p := filepath.Join(c.Dir, "collector.db"+suffix)
		if _, err := os.Stat(p); err == nil {
			out = append(out, p)
		}
	}
	return out
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }
