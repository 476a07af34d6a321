package svc_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/attesta/attesta/shared/svc"
)

// A daemon that cannot open (say, its database is newer than it) must end
// the managed run with that error, so that it exits non-zero and the
// service manager sees the failure, instead of idling until told to stop.
func TestFailedOpenEndsManagedRun(t *testing.T) {
	boom := errors.New("database schema is newer than this program")
	p := &svc.Program{Name: "attesta-svc-test",
		Open:  func(context.Context) error { return boom },
		Close: func() error { t.Error("Close called after a failed Open"); return nil },
	}
	done := make(chan error, 1)
	go func() { done <- p.RunManaged() }()
	select {
	case err := <-done:
		if !errors.Is(err, boom) {
			t.Fatalf("RunManaged = %v, want %v", err, boom)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunManaged still runs 10s after Open failed: the service would look alive while serving nothing")
	}
}

func TestServeFromTerminal(t *testing.T) {
	if !svc.Interactive() {
		t.Skip("not started from a terminal here: Serve would wait for the service manager")
	}
	var opened, closed bool
	closeErr := errors.New("close failed")
	p := &svc.Program{Name: "attesta-svc-test",
		Open:  func(context.Context) error { opened = true; return nil },
		Close: func() error { closed = true; return closeErr },
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Serve(ctx); !errors.Is(err, closeErr) || !opened || !closed {
		t.Fatalf("Serve = %v, opened %v, closed %v; want Close's error after both", err, opened, closed)
	}

	boom := errors.New("port in use")
	p.Open = func(context.Context) error { return boom }
	p.Close = func() error { t.Error("Close called after a failed Open"); return nil }
	if err := p.Serve(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("Serve with a failing Open = %v, want %v", err, boom)
	}
}

func TestUnknownAction(t *testing.T) {
	p := &svc.Program{Name: "attesta-svc-test"}
	if _, err := p.Control("reinstall"); err == nil {
		t.Fatal("Control(reinstall) accepted")
	}
}
