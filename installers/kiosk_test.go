package installers

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// kiosk starts linux/attesta-kiosk for url with a fake browser that
// records its arguments in the returned file.
func kiosk(t *testing.T, url, wait string) (*exec.Cmd, string, *strings.Builder) {
	t.Helper()
	need(t, "bash")
	dir := t.TempDir()
	argsFile := filepath.Join(dir, "browser-args")
	browser := filepath.Join(dir, "browser")
	os.WriteFile(browser, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > "+argsFile+"\n"), 0o755)
	cmd := exec.Command("bash", "linux/attesta-kiosk")
	cmd.Env = append(os.Environ(), "ATTESTA_KIOSK_URL="+url, "ATTESTA_KIOSK_WAIT="+wait,
		"ATTESTA_KIOSK_BROWSER="+browser, "HOME="+dir, "XDG_STATE_HOME=")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, argsFile, &out
}

// The launcher opens the browser only once the collector answers, in
// kiosk mode on the collector's page with a profile of its own.
func TestKioskLauncherWaitsForCollector(t *testing.T) {
	addr := freeAddr(t)
	url := "http://" + addr + "/"
	cmd, argsFile, out := kiosk(t, url, "60")

	time.Sleep(1500 * time.Millisecond) // the launcher polls every second
	if _, err := os.Stat(argsFile); err == nil {
		t.Fatal("the browser started before the collector answered")
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	if err := waitExit(t, cmd, out); err != nil {
		t.Fatalf("attesta-kiosk: %v\n%s", err, out)
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatalf("the browser never started:\n%s", out)
	}
	args := strings.Split(strings.TrimSpace(string(b)), "\n")
	home := filepath.Dir(argsFile)
	if args[0] != "--kiosk" || args[len(args)-1] != url || !slices.Contains(args, "--user-data-dir="+home+"/.local/state/attesta-kiosk") {
		t.Fatalf("browser arguments %q, want --kiosk first, its own profile and %s last", args, url)
	}
}

// A collector that never answers 200 ends the launcher with a reason (the
// user unit then tries again).
func TestKioskLauncherGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	for name, url := range map[string]string{
		"answers 503": "http://" + l.Addr().String() + "/",
		"refuses":     "http://" + freeAddr(t) + "/",
	} {
		t.Run(name, func(t *testing.T) {
			cmd, argsFile, out := kiosk(t, url, "2")
			err := waitExit(t, cmd, out)
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out.String(), "did not answer within 2s") {
				t.Fatalf("attesta-kiosk: %v, want exit status 1 and a reason:\n%s", err, out)
			}
			if _, err := os.Stat(argsFile); err == nil {
				t.Fatal("the browser started though the collector never answered 200")
			}
		})
	}

	cmd, _, out := kiosk(t, "https://example.com/", "2")
	if err := waitExit(t, cmd, out); err == nil || !strings.Contains(out.String(), "must be http://") {
		t.Fatalf("an https URL: %v\n%s", err, out)
	}
}

// waitExit waits for the launcher to end and returns how it ended.
func waitExit(t *testing.T, cmd *exec.Cmd, out *strings.Builder) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("attesta-kiosk still runs after 30s:\n%s", out)
		return nil
	}
}
