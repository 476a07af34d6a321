package cli_test

import (
	"errors"
	"flag"
	"testing"

	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/cli"
)

func TestParseInterspersed(t *testing.T) {
	for _, args := range [][]string{{"ID", "--data", "D"}, {"--data", "D", "ID"}, {"--data=D", "ID"}} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		data := fs.String("data", "", "")
		if err := cli.Parse(fs, args); err != nil {
			t.Fatal(err)
		}
		if *data != "D" || fs.NArg() != 1 || fs.Arg(0) != "ID" {
			t.Fatalf("%v: data=%q args=%v", args, *data, fs.Args())
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(nilWriter{})
	if err := cli.Parse(fs, []string{"--nope"}); apperr.Code(err) != apperr.EINVALID {
		t.Fatalf("unknown flag: %v", err)
	}
}

type nilWriter struct{}

func (nilWriter) Write(b []byte) (int, error) { return len(b), nil }

func TestExitCode(t *testing.T) {
	if cli.ExitCode(apperr.Errorf(apperr.EINVALID, "x")) != 2 || cli.ExitCode(errors.New("disk")) != 1 ||
		cli.ExitCode(apperr.Errorf(apperr.ENOTFOUND, "x")) != 3 {
		t.Fatal("exit codes")
	}
	if cli.Message(errors.New("disk full")) != "disk full" || cli.Message(apperr.Errorf(apperr.EGONE, "used")) != "used" {
		t.Fatal("messages")
	}
}
