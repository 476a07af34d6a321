package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries are the programs under test, built once per test run by Build.
var Binaries struct {
	Hub, Collector string
	Race           bool // built with -race: a data race in a child fails the test
}

// Build compiles attesta-hub and attesta-collector into dir. With race set
// they are built with -race, and ChildRaces reports what they find.
func Build(dir string, race bool) error {
	// go test puts its own GOROOT/bin first on PATH.
	goBin := "go"
	for _, b := range []struct{ out, pkg string }{
		{"attesta-hub", "github.com/attesta/attesta/hub/cmd/attesta-hub"},
		{"attesta-collector", "github.com/attesta/attesta/collector/cmd/attesta-collector"},
	} {
		args := []string{"build", "-o", filepath.Join(dir, b.out)}
		if race {
			args = append(args, "-race")
		}
		cmd := exec.Command(goBin, append(args, b.pkg)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	Binaries.Hub, Binaries.Collector = filepath.Join(dir, "attesta-hub"), filepath.Join(dir, "attesta-collector")
	Binaries.Race = race
	return nil
}

// Process is a running hub or collector. Its stdout and stderr go to a log
// file that survives restarts, so a test can read what it logged.
type Process struct {
	Name string
	Log  string // path of the log file

	cmd   *exec.Cmd
	start int64 // log offset when this run started
	done  chan struct{}
	err   error
}

// StartProcess runs bin with args, appending its output to logPath.
func StartProcess(tb testing.TB, name, bin, logPath string, env []string, args ...string) *Process {
	tb.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	off, _ := f.Seek(0, 2)
	fmt.Fprintf(f, "=== e2e: start %s %s\n", name, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, start: off, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		if !p.Exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill ends the process with SIGKILL: no cleanup of any kind.
func (p *Process) Kill(tb testing.TB) {
	tb.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to shut down with SIGTERM and waits for it; a
// process that does not stop in time, or that exits with an error, fails
// the test.
func (p *Process) Stop(tb testing.TB) {
	tb.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		tb.Fatalf("%s did not stop within 30s of SIGTERM", p.Name)
	}
	if p.err != nil {
		tb.Errorf("%s exited after SIGTERM with %v", p.Name, p.err)
	}
}

// Output is what the current run has logged so far.
func (p *Process) Output() string {
	b, _ := os.ReadFile(p.Log)
	if int64(len(b)) < p.start {
		return ""
	}
	return string(b[p.start:])
}

// WaitLog waits until the current run logs a line matching re and returns
// the submatches.
func (p *Process) WaitLog(tb testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	tb.Helper()
	var m []string
	Eventually(tb, timeout, p.Name+" logs "+re.String(), func() (bool, string) {
		if p.Exited() {
			tb.Fatalf("%s exited (%v) before logging %s:\n%s", p.Name, p.err, re, tail(p.Output(), 40))
		}
		m = re.FindStringSubmatch(p.Output())
		return m != nil, ""
	})
	return m
}

// ChildRaces returns the data race reports in a log file, if any.
func ChildRaces(logPath string) string {
	b, _ := os.ReadFile(logPath)
	if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
		return tail(string(b[i:]), 60)
	}
	return ""
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Run runs a one-shot command (enroll, token create, …) and returns its
// stdout; a failure fails the test with the command's stderr.
func Run(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	out, errOut, err := RunErr(bin, args...)
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, errOut)
	}
	return out
}

// RunErr is Run that returns the failure instead.
func RunErr(bin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// Eventually polls cond until it holds or timeout passes; then it fails the
// test with what cond last said. Polling, never sleeping for correctness.
func Eventually(tb testing.TB, timeout time.Duration, what string, cond func() (ok bool, last string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not reached within %s (last: %s)", what, timeout, last)
		}
		time.Sleep(wait)
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// errList collects errors from concurrent workers.
type errList struct {
	mu   sync.Mutex
	errs []error
}

func (e *errList) add(err error) {
	e.mu.Lock()
	e.errs = append(e.errs, err)
	e.mu.Unlock()
}

func (e *errList) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.errs...)
}
