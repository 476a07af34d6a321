package browser

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/attesta/attesta/shared/e2e"
)

const pin = "1234"

// startProc runs a hub or collector with its output in logPath. At the end
// of the test it is asked to stop (SIGTERM) and must do so cleanly.
func startProc(tb testing.TB, name, logPath, bin string, args ...string) *e2e.Process {
	tb.Helper()
	p := e2e.StartProcess(tb, name, bin, logPath, nil, args...)
	tb.Cleanup(func() {
		if !p.Exited() {
			p.Stop(tb)
		}
	})
	return p
}

// runCmd runs a one-shot command (enroll, token create) and returns stdout.
func runCmd(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// stack is one hub and the collectors enrolled to it. The first collector
// syncs through a proxy the test can cut; the hub's public URL points at the
// hub itself, so receipt and notice pages stay reachable while sync is cut.
type stack struct {
	dir    string
	hub    *e2e.Process
	hubURL string
	token  string // read scope, for /api/v1/events
	proxy  *e2e.Proxy
	kiosk  *collector
}

// collector is a running attesta-collector.
type collector struct {
	*e2e.Process
	url, data string
}

var (
	hubURLRE   = regexp.MustCompile(`msg="attesta-hub running" url=(\S+)`)
	kioskURLRE = regexp.MustCompile(`msg="attesta-collector running" kiosk=(\S+)`)
	enrollRE   = regexp.MustCompile(`"code":"([^"]+)"`)
)

func newStack(tb testing.TB) *stack {
	tb.Helper()
	s := &stack{dir: tb.TempDir()}
	hubData := filepath.Join(s.dir, "hub")
	s.token = runCmd(tb, bins.hub, "token", "create", "--data", hubData, "--scope", "read")
	addr := freePort(tb)
	s.hubURL = "http://" + addr
	s.hub = startProc(tb, "hub", filepath.Join(s.dir, "hub.log"), bins.hub,
		"run", "--data", hubData, "--listen", addr, "--public-url", s.hubURL)
	s.hub.WaitLog(tb, hubURLRE, 15*time.Second)
	p, err := e2e.NewProxy(addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close() })
	s.proxy = p
	s.kiosk = s.addCollector(tb, "kiosk", s.proxy.URL())
	return s
}

// addCollector enrolls a collector through hubURL and runs it.
func (s *stack) addCollector(tb testing.TB, name, hubURL string, extra ...string) *collector {
	tb.Helper()
	out := runCmd(tb, bins.hub, "enroll", "--data", filepath.Join(s.dir, "hub"), "--name", "Booth "+name,
		"--touchpoint", "fair-milano-b12", "--json")
	m := enrollRE.FindStringSubmatch(out)
	if m == nil {
		tb.Fatalf("enroll printed no code: %s", out)
	}
	data := filepath.Join(s.dir, name)
	runCmd(tb, bins.collector, "enroll", "--data", data, "--hub", hubURL, "--code", m[1], "--pin", pin)
	p := startProc(tb, name, filepath.Join(s.dir, name+".log"), bins.collector,
		append([]string{"run", "--data", data, "--listen", "127.0.0.1:0"}, extra...)...)
	c := &collector{Process: p, data: data, url: p.WaitLog(tb, kioskURLRE, 15*time.Second)[1]}
	e2e.Eventually(tb, 10*time.Second, name+" connected to the hub", func() (bool, string) {
		st := c.status(tb)
		return st.Connected, st.LastError
	})
	return c
}

// kioskStatus is the collector's GET /api/v1/status.
type kioskStatus struct {
	Pending      int64  `json:"pending"`
	AckedThrough uint64 `json:"acked_through"`
	Head         uint64 `json:"head"`
	Connected    bool   `json:"connected"`
	LastError    string `json:"last_error"`
}

func (c *collector) status(tb testing.TB) kioskStatus {
	tb.Helper()
	var st kioskStatus
	getJSON(tb, c.url+"/api/v1/status", "", &st)
	return st
}

// syncNow asks the collector to dial the hub at once (the operator's
// "sync now"), skipping whatever backoff it is in.
func (c *collector) syncNow(tb testing.TB) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url+"/api/v1/sync", strings.NewReader("{}"))
	req.Header.Set("X-Operator-PIN", pin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		tb.Fatalf("POST /api/v1/sync: %s", res.Status)
	}
}

// outboxRow is one record in the collector's outbox.
type outboxRow struct {
	Seq   uint64
	ID    string
	Kind  string
	Acked bool
}

// outbox reads the records after seq straight from the collector's SQLite
// file, read-only.
func (c *collector) outbox(tb testing.TB, after uint64) []outboxRow {
	tb.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(c.data, "collector.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT seq, id, kind, acked_at IS NOT NULL FROM outbox WHERE seq > ? ORDER BY epoch_ord, seq`, after)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.Seq, &r.ID, &r.Kind, &r.Acked); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// event is a line of the hub's GET /api/v1/events.
type event struct {
	Cursor    int64  `json:"cursor"`
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Collector string `json:"collector"`
	Seq       uint64 `json:"seq"`
	Language  string `json:"language"`
	Notice    struct {
		ID       string `json:"id"`
		Version  int    `json:"version"`
		SHA256   string `json:"sha256"`
		ViewedAt string `json:"viewed_at"`
	} `json:"notice"`
	Purposes []struct {
		Purpose string `json:"purpose"`
		Granted bool   `json:"granted"`
	} `json:"purposes"`
	Ref     string `json:"ref"`
	Subject *struct {
		GivenName  string `json:"given_name"`
		FamilyName string `json:"family_name"`
		Email      string `json:"email"`
		Phone      string `json:"phone"`
	} `json:"subject"`
	SignatureHash string `json:"signature_sha256"`
}

func (s *stack) events(tb testing.TB) []event {
	tb.Helper()
	body := get(tb, s.hubURL+"/api/v1/events?limit=10000", s.token, http.StatusOK)
	var evs []event
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			tb.Fatalf("events: %v in %s", err, sc.Text())
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitEvent waits until the hub has an event matching f.
func (s *stack) waitEvent(tb testing.TB, what string, f func(event) bool) event {
	tb.Helper()
	var found event
	e2e.Eventually(tb, 15*time.Second, "hub event: "+what, func() (bool, string) {
		evs := s.events(tb)
		for _, ev := range evs {
			if f(ev) {
				found = ev
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none matching", len(evs))
	})
	return found
}

// get fetches url and checks the status; bearer may be empty.
func get(tb testing.TB, url, bearer string, want int) string {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if res.StatusCode != want {
		tb.Fatalf("GET %s: %s, want %d: %s", url, res.Status, want, b)
	}
	return string(b)
}

func getJSON(tb testing.TB, url, bearer string, v any) {
	tb.Helper()
	if err := json.Unmarshal([]byte(get(tb, url, bearer, http.StatusOK)), v); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}
