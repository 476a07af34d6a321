package e2e

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // to read the hub's quarantine table
)

// Hub is a real attesta-hub process with its data folder. It keeps its
// address across restarts, so collectors find it again.
type Hub struct {
	tb   testing.TB
	Dir  string
	Addr string // host:port, fixed after the first start
	Args []string
	Proc *Process

	token string
	http  *http.Client
}

var hubURLRE = regexp.MustCompile(`attesta-hub running"? url=(http://[0-9.:]+)`)

// NewHub makes a hub data folder under tb.TempDir and starts the hub on a
// free loopback port. Extra args go to 'attesta-hub run'.
func NewHub(tb testing.TB, args ...string) *Hub {
	tb.Helper()
	h := &Hub{tb: tb, Dir: tb.TempDir(), Args: args, http: &http.Client{Timeout: 30 * time.Second}}
	tb.Cleanup(func() {
		if r := ChildRaces(h.log()); r != "" {
			tb.Errorf("data race in attesta-hub:\n%s", r)
		}
		if tb.Failed() {
			tb.Logf("hub log (tail):\n%s", tail(readFile(h.log()), 60))
		}
	})
	h.Start()
	return h
}

func (h *Hub) log() string { return filepath.Join(h.Dir, "hub.log") }

// URL is the hub's base URL.
func (h *Hub) URL() string { return "http://" + h.Addr }

// Start runs the hub (again) on its address and waits until it serves.
func (h *Hub) Start() {
	h.tb.Helper()
	listen := h.Addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	args := append([]string{"run", "--data", h.Dir, "--listen", listen}, h.Args...)
	h.Proc = StartProcess(h.tb, "attesta-hub", Binaries.Hub, h.log(), nil, args...)
	m := h.Proc.WaitLog(h.tb, hubURLRE, 60*time.Second)
	h.Addr = strings.TrimPrefix(m[1], "http://")
	Eventually(h.tb, 10*time.Second, "hub /healthz", func() (bool, string) {
		resp, err := h.http.Get(h.URL() + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
}

// Kill ends the hub with SIGKILL.
func (h *Hub) Kill() { h.tb.Helper(); h.Proc.Kill(h.tb) }

// Stop ends the hub with SIGTERM.
func (h *Hub) Stop() { h.tb.Helper(); h.Proc.Stop(h.tb) }

// Log is everything the hub logged, across restarts.
func (h *Hub) Log() string { return readFile(h.log()) }

// EnrollCode makes a one-time enrollment code with 'attesta-hub enroll --json'.
func (h *Hub) EnrollCode(name string) string {
	h.tb.Helper()
	out := Run(h.tb, Binaries.Hub, "enroll", "--data", h.Dir, "--name", name, "--touchpoint", "fair-milano-b12", "--json")
	var v struct {
		Code      string `json:"code"`
		ExpiresAt string `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Code == "" {
		h.tb.Fatalf("enroll --json printed %q: %v", out, err)
	}
	return v.Code
}

// Revoke revokes a device with 'attesta-hub device revoke'.
func (h *Hub) Revoke(id string) {
	h.tb.Helper()
	Run(h.tb, Binaries.Hub, "device", "revoke", "--data", h.Dir, id)
}

// Token returns a read-scope API token, made on first use.
func (h *Hub) Token() string {
	h.tb.Helper()
	if h.token == "" {
		h.token = strings.TrimSpace(Run(h.tb, Binaries.Hub, "token", "create", "--data", h.Dir, "--scope", "read"))
	}
	return h.token
}

func (h *Hub) get(path string) (*http.Response, error) {
	req, _ := http.NewRequest("GET", h.URL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+h.Token())
	return h.http.Do(req)
}

// Event is a record as GET /api/v1/events shows it.
type Event struct {
	Cursor        int64     `json:"cursor"`
	ID            string    `json:"id"`
	Kind          string    `json:"kind"`
	Collector     string    `json:"collector"`
	Epoch         string    `json:"epoch"`
	Seq           uint64    `json:"seq"`
	Ref           string    `json:"ref"`
	CapturedAt    string    `json:"captured_at"`
	HLC           string    `json:"hlc"`
	ReceivedAt    time.Time `json:"received_at"`
	CorrectedAt   time.Time `json:"corrected_at"`
	ClockOffsetMS int64     `json:"clock_offset_ms"`
	Flags         []string  `json:"flags"`
	Hash          string    `json:"hash"`
	Notice        struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
		SHA256  string `json:"sha256"`
	} `json:"notice"`
	Subject *struct {
		Email string `json:"email"`
	} `json:"subject"`
}

// HasFlag reports whether the event carries flag.
func (e Event) HasFlag(flag string) bool {
	for _, f := range e.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// Events reads the whole events feed, following X-Attesta-Next-Cursor.
func (h *Hub) Events() ([]Event, error) {
	var out []Event
	after := "0"
	for {
		resp, err := h.get("/api/v1/events?limit=5000&after=" + after)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return nil, fmt.Errorf("GET /api/v1/events: %s %s", resp.Status, b)
		}
		n := 0
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e Event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				resp.Body.Close()
				return nil, fmt.Errorf("events line %q: %w", sc.Text(), err)
			}
			out = append(out, e)
			n++
		}
		resp.Body.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
		next := resp.Header.Get("X-Attesta-Next-Cursor")
		if _, err := strconv.ParseInt(next, 10, 64); err != nil {
			return nil, fmt.Errorf("X-Attesta-Next-Cursor %q", next)
		}
		if n == 0 || next == after {
			return out, nil
		}
		after = next
	}
}

// MustEvents is Events that fails the test on error.
func (h *Hub) MustEvents() []Event {
	h.tb.Helper()
	evs, err := h.Events()
	if err != nil {
		h.tb.Fatal(err)
	}
	return evs
}

// Device is a collector as GET /api/v1/devices shows it.
type Device struct {
	ID            string                   `json:"id"`
	Name          string                   `json:"name"`
	Touchpoint    string                   `json:"touchpoint"`
	LastSeen      *time.Time               `json:"last_seen"`
	Received      int64                    `json:"received"`
	AckedThrough  uint64                   `json:"acked_through"`
	Chain         string                   `json:"chain"`
	Gaps          []struct{ From, To int } `json:"gaps"`
	Forks         int64                    `json:"forks"`
	Conflicts     int64                    `json:"conflicts"`
	Quarantined   int64                    `json:"quarantined"`
	ClockOffsetMS int64                    `json:"clock_offset_ms"`
	ConfigSeq     int64                    `json:"config_seq"`
	ConfigCurrent bool                     `json:"config_current"`
	Notices       []string                 `json:"notices"`
}

// Devices reads GET /api/v1/devices.
func (h *Hub) Devices() (map[string]Device, error) {
	resp, err := h.get("/api/v1/devices")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /api/v1/devices: %s %s", resp.Status, b)
	}
	var v struct {
		Devices []Device `json:"devices"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	out := map[string]Device{}
	for _, d := range v.Devices {
		out[d.ID] = d
	}
	return out, nil
}

// Device returns one device from the devices list; the test fails if it is missing.
func (h *Hub) Device(id string) Device {
	h.tb.Helper()
	ds, err := h.Devices()
	if err != nil {
		h.tb.Fatal(err)
	}
	d, ok := ds[id]
	if !ok {
		h.tb.Fatalf("device %s is not in GET /api/v1/devices", id)
	}
	return d
}

// Quarantined is a row of the hub's quarantine table.
type Quarantined struct {
	Collector, RecordID, Code, Reason string
	Seq                               int64
}

// Quarantine reads the hub's quarantine table directly (read-only), for
// the reasons the API does not list yet.
func (h *Hub) Quarantine() []Quarantined {
	h.tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(h.Dir, "hub.db")+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		h.tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT collector, COALESCE(record_id, ''), COALESCE(seq, 0), code, reason FROM quarantine ORDER BY id`)
	if err != nil {
		h.tb.Fatal(err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var q Quarantined
		if err := rows.Scan(&q.Collector, &q.RecordID, &q.Seq, &q.Code, &q.Reason); err != nil {
			h.tb.Fatal(err)
		}
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		h.tb.Fatal(err)
	}
	return out
}
