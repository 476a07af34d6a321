package installers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/e2e"
)

// TestServiceControl drives 'service install|status|start|stop|restart|
// uninstall' of both programs, as root, in a sandbox where kardianos
// falls back to SysV init: a hub and an enrolled collector run as
// services, a consent captured at the collector reaches the hub, and a hub
// database made newer than the program stops the service with a clear log
// line instead of leaving it up and serving nothing.
func TestServiceControl(t *testing.T) {
	hubBin := artifact(t, "linux-"+runtime.GOARCH, "attesta-hub_VERSION_linux_"+runtime.GOARCH)
	colBin := artifact(t, "linux-"+runtime.GOARCH, "attesta-collector_VERSION_linux_"+runtime.GOARCH)
	need(t, "service")
	s := newSandbox(t)
	s.CopyIn(hubBin, "/usr/local/bin/attesta-hub", 0o755)
	s.CopyIn(colBin, "/usr/local/bin/attesta-collector", 0o755)
	hubAddr, colAddr := freeAddr(t), freeAddr(t)
	hubURL, colURL := "http://"+hubAddr, "http://"+colAddr

	ctl := func(prog, action string, args ...string) string {
		t.Helper()
		return strings.TrimSpace(s.Run("/usr/local/bin/"+prog, append([]string{"service", action}, args...)...))
	}
	wantStatus := func(prog, want string) {
		t.Helper()
		e2e.Eventually(t, 30*time.Second, prog+" status "+want, func() (bool, string) {
			got := ctl(prog, "status")
			return got == prog+": "+want, got
		})
	}

	// The hub: not installed, installed (stopped), started, stopped, restarted.
	wantStatus("attesta-hub", "not installed")
	if got := ctl("attesta-hub", "install", "--data", "/var/lib/attesta-hub", "--listen", hubAddr); got != "attesta-hub: install done (unix-systemv)" {
		t.Fatalf("install printed %q", got)
	}
	for _, p := range []string{"/etc/init.d/attesta-hub", "/etc/rc2.d/S50attesta-hub", "/etc/rc0.d/K02attesta-hub"} {
		if !s.Exists(p) {
			t.Fatalf("install made no %s", p)
		}
	}
	if out, err := s.RunErr("/usr/local/bin/attesta-hub", "service", "install"); err == nil {
		t.Fatalf("a second install succeeded: %s", out)
	}
	wantStatus("attesta-hub", "stopped")
	ctl("attesta-hub", "start")
	wantStatus("attesta-hub", "running")
	waitHTTP(t, hubURL+"/healthz", true)
	pid := s.pid(t, "attesta-hub")
	// Seen from outside the chroot, the sandbox's program has the overlay's path.
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); exe != s.root+"/usr/local/bin/attesta-hub" {
		t.Fatalf("the running hub is %q, not the sandbox's /usr/local/bin/attesta-hub", exe)
	}
	ctl("attesta-hub", "stop")
	wantStatus("attesta-hub", "stopped")
	waitHTTP(t, hubURL+"/healthz", false)
	ctl("attesta-hub", "start")
	wantStatus("attesta-hub", "running")
	ctl("attesta-hub", "restart")
	wantStatus("attesta-hub", "running")
	waitHTTP(t, hubURL+"/healthz", true)
	if again := s.pid(t, "attesta-hub"); again == pid {
		t.Fatalf("restart left the same process %d", pid)
	}

	// The collector, enrolled at the hub service, as a service of its own.
	var code struct{ Code string }
	out := s.Run("/usr/local/bin/attesta-hub", "enroll", "--data", "/var/lib/attesta-hub", "--name", "Service kiosk", "--touchpoint", "fair-milano-b12", "--json")
	if err := json.Unmarshal([]byte(out), &code); err != nil || code.Code == "" {
		t.Fatalf("enroll --json printed %q", out)
	}
	s.Run("/usr/local/bin/attesta-collector", "enroll", "--data", "/var/lib/attesta-collector", "--hub", hubURL, "--code", code.Code)
	wantStatus("attesta-collector", "not installed")
	ctl("attesta-collector", "install", "--data", "/var/lib/attesta-collector", "--listen", colAddr)
	wantStatus("attesta-collector", "stopped")
	ctl("attesta-collector", "start")
	wantStatus("attesta-collector", "running")
	waitHTTP(t, colURL+"/healthz", true)
	resp, err := http.Post(colURL+"/api/v1/consents", "application/json", bytes.NewReader(e2e.CaptureBody(1)))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.ID == "" {
		t.Fatalf("POST /api/v1/consents: %s", resp.Status)
	}
	token := strings.TrimSpace(s.Run("/usr/local/bin/attesta-hub", "token", "create", "--data", "/var/lib/attesta-hub", "--scope", "read"))
	e2e.Eventually(t, 30*time.Second, "the consent at the hub", func() (bool, string) {
		body := httpGet(t, hubURL+"/api/v1/events", token)
		return strings.Contains(body, created.ID), body
	})

	ctl("attesta-collector", "stop")
	wantStatus("attesta-collector", "stopped")
	waitHTTP(t, colURL+"/healthz", false)
	ctl("attesta-collector", "start")
	wantStatus("attesta-collector", "running")
	waitHTTP(t, colURL+"/healthz", true)

	// Uninstalling a running service stops it first and leaves no runlevel links.
	colPID := s.pid(t, "attesta-collector")
	if got := ctl("attesta-collector", "uninstall"); got != "attesta-collector: uninstall done (unix-systemv)" {
		t.Fatalf("uninstall printed %q", got)
	}
	wantStatus("attesta-collector", "not installed")
	waitGone(t, colPID)
	s.wantNoTraces(t, "attesta-collector")

	// A downgrade onto a newer database: the service does not stay up, and
	// its log says why.
	ctl("attesta-hub", "stop")
	wantStatus("attesta-hub", "stopped")
	s.setSchema(t, "/var/lib/attesta-hub/hub.db", 999)
	ctl("attesta-hub", "start")
	wantStatus("attesta-hub", "stopped")
	logged, _ := os.ReadFile(s.Path("/var/log/attesta-hub.err"))
	if !tooNewRE.Match(logged) {
		t.Fatalf("the hub's log does not say why it stopped:\n%s", logged)
	}
	ctl("attesta-hub", "uninstall")
	wantStatus("attesta-hub", "not installed")
	s.wantNoTraces(t, "attesta-hub")
}

// tooNewRE is the message a program prints when its database is newer than it.
var tooNewRE = regexp.MustCompile(`database schema is newer than this program: \S+ is at schema version 999, this program knows up to \d+; refusing to start`)

// setSchema is setSchema on a database in the sandbox, whose program is
// stopped. SQLite resolves the /proc/PID/root link in Path to this
// process's own root, so the file is edited here and copied back.
func (s *sandbox) setSchema(t *testing.T, db string, v int) {
	t.Helper()
	if fi, err := os.Stat(s.Path(db + "-wal")); err == nil && fi.Size() > 0 {
		t.Fatalf("%s has a write-ahead log: is its program still running?", db)
	}
	b, err := os.ReadFile(s.Path(db))
	if err != nil {
		t.Fatal(err)
	}
	local := filepath.Join(t.TempDir(), filepath.Base(db))
	os.WriteFile(local, b, 0o600)
	setSchema(t, local, v)
	if b, err = os.ReadFile(local); err == nil {
		err = os.WriteFile(s.Path(db), b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// pid is the process id in the SysV pid file of a running service.
func (s *sandbox) pid(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(s.Path("/run/" + name + ".pid"))
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || perr != nil {
		t.Fatalf("pid file of %s: %v %v", name, err, perr)
	}
	return pid
}

// wantNoTraces fails t if an uninstalled service left its init script or a
// runlevel link behind.
func (s *sandbox) wantNoTraces(t *testing.T, name string) {
	t.Helper()
	left, _ := filepath.Glob(s.Path("/etc/rc[0-6S].d/*" + name))
	if s.Exists("/etc/init.d/"+name) || len(left) > 0 {
		t.Fatalf("uninstall of %s left /etc/init.d/%s (%v) or runlevel links %v", name, name, s.Exists("/etc/init.d/"+name), left)
	}
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	e2e.Eventually(t, 30*time.Second, fmt.Sprintf("process %d gone", pid), func() (bool, string) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		// A zombie has exited; only its parent has yet to collect it.
		return err != nil || strings.Contains(string(stat), ") Z "), string(stat)
	})
}

// freeAddr is a loopback address no one listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitHTTP waits until url answers 200 (up) or refuses connections (!up).
func waitHTTP(t *testing.T, url string, up bool) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	e2e.Eventually(t, 30*time.Second, fmt.Sprintf("%s answering: %v", url, up), func() (bool, string) {
		resp, err := c.Get(url)
		if err != nil {
			return !up, err.Error()
		}
		resp.Body.Close()
		return up && resp.StatusCode == 200, resp.Status
	})
}

func httpGet(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.Status + " " + b.String()
}
