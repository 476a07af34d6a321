// Package svc runs Attesta's daemons under the system's service manager
// (systemd, SysV init, launchd or the Windows service control manager)
// through kardianos/service, and installs and controls them.
package svc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/kardianos/service"
)

// Program is a daemon that runs until its context ends.
type Program struct {
	Name        string   // service name, e.g. attesta-hub
	DisplayName string   // shown by the service manager
	Description string   // one line
	Arguments   []string // what the installed service runs, e.g. run --data /var/lib/attesta-hub
	// Run serves until ctx ends and returns after a clean shutdown.
	Run func(ctx context.Context) error
	// StopTimeout bounds how long a stop may take.
	StopTimeout time.Duration

	cancel context.CancelFunc
	done   chan error
}

// Interactive reports whether the process runs from a terminal rather than
// under a service manager.
func Interactive() bool { return service.Interactive() }

// Logger is NewLogger(w, "info", "auto").
func Logger(w io.Writer) *slog.Logger {
	l, _ := NewLogger(w, "info", "auto")
	return l
}

func (p *Program) service() (service.Service, error) {
	cfg := &service.Config{
		Name: p.Name, DisplayName: p.DisplayName, Description: p.Description, Arguments: p.Arguments,
		Option: service.KeyValue{"Restart": "on-failure", "OnFailure": "restart", "LogOutput": true},
	}
	return service.New(p, cfg)
}

// Start implements service.Interface; it must not block.
func (p *Program) Start(service.Service) error {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func() { p.done <- p.Run(ctx) }()
	return nil
}

// Stop implements service.Interface: it ends Run and waits for it.
func (p *Program) Stop(service.Service) error {
	p.cancel()
	select {
	case err := <-p.done:
		return err
	case <-time.After(p.StopTimeout):
		return fmt.Errorf("%s did not stop within %v", p.Name, p.StopTimeout)
	}
}

// Serve runs the program until ctx ends when started from a terminal, or
// under the service manager until it says stop.
func (p *Program) Serve(ctx context.Context) error {
	if Interactive() {
		return p.Run(ctx)
	}
	return p.RunManaged()
}

// RunManaged runs the program under the service manager until it says stop.
func (p *Program) RunManaged() error {
	s, err := p.service()
	if err != nil {
		return err
	}
	return s.Run()
}

// Control performs install, uninstall, start, stop, restart or status and
// returns a line to show.
func (p *Program) Control(action string) (string, error) {
	s, err := p.service()
	if err != nil {
		return "", err
	}
	if action == "status" {
		st, err := s.Status()
		if err != nil && service.ChosenSystem().String() == "unix-systemv" {
			// SysV's "service NAME status" fails outright for an unknown service.
			if _, statErr := os.Stat("/etc/init.d/" + p.Name); errors.Is(statErr, os.ErrNotExist) {
				err = service.ErrNotInstalled
			}
		}
		switch {
		case errors.Is(err, service.ErrNotInstalled):
			return p.Name + ": not installed", nil
		case err != nil:
			return "", err
		case st == service.StatusRunning:
			return p.Name + ": running", nil
		case st == service.StatusStopped:
			return p.Name + ": stopped", nil
		}
		return p.Name + ": status unknown", nil
	}
	switch action {
	case "install", "uninstall", "start", "stop", "restart":
	default:
		return "", fmt.Errorf("unknown service action %q (install, uninstall, start, stop, restart, status)", action)
	}
	if (action == "install" || action == "uninstall") && os.Geteuid() != 0 && service.Platform() != "windows-service" {
		return "", fmt.Errorf("service %s needs root", action)
	}
	if err := service.Control(s, action); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s done (%s)", p.Name, action, service.Platform()), nil
}
