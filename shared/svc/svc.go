// Package svc runs Attesta's daemons under the system's service manager
// (systemd, SysV init, launchd or the Windows service control manager)
// through kardianos/service, and installs and controls them.
package svc

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/kardianos/service"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/config"
)

// Program is a daemon that starts serving in Open and stops in Close (the
// house lifecycle), so that a failed start reaches the service manager and
// the exit code instead of leaving a process that looks alive but serves
// nothing.
type Program struct {
	Name        string   // service name, e.g. attesta-hub
	DisplayName string   // shown by the service manager
	Description string   // one line
	Arguments   []string // what the installed service runs, e.g. run --data /var/lib/attesta-hub
	// Open starts serving and returns once the program serves, or with the
	// reason it cannot (a database too new for this program, a busy port).
	Open func(ctx context.Context) error
	// Close stops serving, lets work in flight finish and releases everything.
	Close func() error
}

// Command runs "service ACTION [settings flags]" for a program: install,
// uninstall, start, stop, restart or status. The flags are the program's
// settings (l binds them to the flag set newFlagSet makes); install records
// the ones given, with the data folder, as what the service runs with.
func Command(args []string, stdout io.Writer, l *config.Loader, data *string, newFlagSet func(name string) *flag.FlagSet,
	program func(arguments []string) *Program) error {
	if len(args) == 0 {
		return apperr.Errorf(apperr.EINVALID, "service needs an action: install, uninstall, start, stop, restart or status")
	}
	fs := newFlagSet("service " + args[0])
	l.Bind(fs)
	if err := l.Parse(fs, args[1:]); err != nil {
		return err
	}
	out, err := program(l.ServiceArguments(data)).Control(args[0])
	if err != nil {
		return apperr.Errorf(apperr.EINVALID, "%v", err)
	}
	fmt.Fprintln(stdout, out)
	return nil
}

// Interactive reports whether the process runs from a terminal rather than
// under a service manager.
func Interactive() bool { return service.Interactive() }

func (p *Program) service() (service.Service, error) {
	cfg := &service.Config{
		Name: p.Name, DisplayName: p.DisplayName, Description: p.Description, Arguments: p.Arguments,
		// OnFailure is Windows' recovery action. LogOutput is left off: under
		// systemd it would send output to files in /var/log instead of the journal.
		Option: service.KeyValue{"Restart": "on-failure", "OnFailure": "restart"},
	}
	return service.New(p, cfg)
}

// Start implements service.Interface. Open returns once serving has begun,
// so Start does not block, and its error fails the start.
func (p *Program) Start(service.Service) error { return p.Open(context.Background()) }

// Stop implements service.Interface.
func (p *Program) Stop(service.Service) error { return p.Close() }

// Serve runs the program until ctx ends when started from a terminal, or
// under the service manager until it says stop. Either way a failed Open is
// returned at once.
func (p *Program) Serve(ctx context.Context) error {
	if Interactive() {
		if err := p.Open(ctx); err != nil {
			return err
		}
		<-ctx.Done()
		return p.Close()
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
	switch action {
	case "install", "uninstall", "start", "stop", "restart", "status":
	default:
		return "", fmt.Errorf("unknown service action %q (install, uninstall, start, stop, restart, status)", action)
	}
	s, err := p.service()
	if err != nil {
		return "", err
	}
	platform := service.ChosenSystem().String()
	if action == "status" {
		return p.status(s, platform)
	}
	if action == "install" || action == "uninstall" {
		if os.Geteuid() != 0 && platform != "windows-service" {
			return "", fmt.Errorf("service %s needs root", action)
		}
		// The .deb ships a hardened unit in /usr/lib; kardianos would write
		// a root-run unit to /etc that silently takes precedence over it.
		if unit := p.packagedUnit(platform); unit != "" {
			return "", fmt.Errorf("%s is installed by its package (%s): use 'systemctl enable --now %s' or 'apt remove %s'", p.Name, unit, p.Name, p.Name)
		}
	}
	if action == "uninstall" {
		// Neither systemd's nor SysV's uninstall stops the service, and once
		// the SysV script is gone nothing knows how to stop the process.
		if st, err := p.status(s, platform); err == nil && strings.HasSuffix(st, ": running") {
			if err := service.Control(s, "stop"); err != nil {
				return "", fmt.Errorf("stop before uninstall: %w", err)
			}
		}
	}
	if err := service.Control(s, action); err != nil {
		return "", err
	}
	if action == "uninstall" && platform == "unix-systemv" {
		if err := removeRCLinks(p.Name); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%s: %s done (%s)", p.Name, action, platform), nil
}

func (p *Program) status(s service.Service, platform string) (string, error) {
	var st service.Status
	var err error
	if platform == "unix-systemv" {
		st, err = sysvStatus(p.Name)
	} else {
		st, err = s.Status()
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

// sysvStatus asks the init script kardianos installed. kardianos reads the
// script's output only when it exits 0, but a stopped service's script
// prints "Stopped" and exits 1, so kardianos reports every stopped service
// as an error.
func sysvStatus(name string) (service.Status, error) {
	script := "/etc/init.d/" + name
	if _, err := os.Stat(script); errors.Is(err, os.ErrNotExist) {
		return service.StatusUnknown, service.ErrNotInstalled
	}
	out, err := exec.Command(script, "status").Output()
	switch strings.TrimSpace(string(out)) {
	case "Running":
		return service.StatusRunning, nil
	case "Stopped":
		return service.StatusStopped, nil
	}
	return service.StatusUnknown, fmt.Errorf("%s status: %q %v", script, out, err)
}

// removeRCLinks removes the runlevel links kardianos's SysV install makes
// and its uninstall leaves behind, dangling, to start nothing at boot.
func removeRCLinks(name string) error {
	links, _ := filepath.Glob("/etc/rc[0-6S].d/[SK][0-9][0-9]" + name)
	for _, l := range links {
		if dst, err := os.Readlink(l); err == nil && dst == "/etc/init.d/"+name {
			if err := os.Remove(l); err != nil {
				return fmt.Errorf("remove runlevel link: %w", err)
			}
		}
	}
	return nil
}

// packagedUnit is the path of the systemd unit a package installed for
// this program, if systemd runs and there is one.
func (p *Program) packagedUnit(platform string) string {
	if platform != "linux-systemd" {
		return ""
	}
	for _, dir := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		unit := filepath.Join(dir, p.Name+".service")
		if _, err := os.Stat(unit); err == nil {
			return unit
		}
	}
	return ""
}
