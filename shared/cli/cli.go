// Package cli holds what both command-line programs share: flag parsing
// that accepts flags after positional arguments, and the mapping from
// errors to messages and exit codes.
package cli

import (
	"errors"
	"flag"

	"github.com/attesta/attesta/shared/apperr"
)

// Parse parses flags wherever they stand among the positional arguments
// ("device revoke ID --data D" and "device revoke --data D ID" alike).
func Parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return apperr.Errorf(apperr.EINVALID, "%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// Message is what to print for err: the user-safe message of an
// application error, the full text of anything else (the operator at a
// terminal needs it).
func Message(err error) string {
	if apperr.Code(err) == apperr.EINTERNAL {
		return err.Error()
	}
	return apperr.Message(err)
}

// ExitCode is 2 for bad usage or input, 1 for internal failures and 3 for
// refusals (not found, forbidden, conflict, …).
func ExitCode(err error) int {
	switch apperr.Code(err) {
	case apperr.EINVALID:
		return 2
	case apperr.EINTERNAL:
		return 1
	}
	return 3
}
