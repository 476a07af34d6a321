package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/cli"
)

// Parse parses a command line into fs and then loads the settings.
func (l *Loader) Parse(fs *flag.FlagSet, args []string) error {
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return l.Load()
}

// DefaultDataDir is where program keeps its data unless told otherwise:
// /var/lib/<program> as root, else ~/.local/share/<program>.
func DefaultDataDir(program string) string {
	if os.Geteuid() == 0 {
		return filepath.Join("/var/lib", program)
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", program)
}

// Command runs "config print-default" (every setting with its default) or
// "config print" (the effective settings, parsed from args with fs, and
// where each came from).
func (l *Loader) Command(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "print-default" && args[0] != "print") {
		return apperr.Errorf(apperr.EINVALID, "config takes print-default (every setting with its default) or print (the effective settings and where each came from)")
	}
	if args[0] == "print-default" {
		if len(args) > 1 {
			return apperr.Errorf(apperr.EINVALID, "config print-default takes no arguments")
		}
		return l.WriteTOML(stdout, false)
	}
	l.Bind(fs)
	if err := l.Parse(fs, args[1:]); err != nil {
		return err
	}
	if l.File() != "" {
		fmt.Fprintf(stdout, "# loaded from %s\n", l.File())
	}
	return l.WriteTOML(stdout, true)
}

// ServiceArguments are what an installed service runs with: the settings
// given here by flag or environment, and the same --config file, read at
// each start. The data folder (the setting "data", bound to data) is made
// absolute, and pinned when it is this user's default rather than the
// service account's.
func (l *Loader) ServiceArguments(data *string) []string {
	if abs, err := filepath.Abs(*data); err == nil {
		*data = abs
	}
	args := l.Given()
	if l.File() == "" && l.Origin("data") == "default" {
		args = append(args, "--data="+*data)
	}
	return args
}
