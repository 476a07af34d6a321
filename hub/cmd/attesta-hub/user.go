package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/shared/apperr"
)

// stdin is where passwords come from; tests replace it.
var stdin io.Reader = os.Stdin

// userCmd manages dashboard users: add, list, remove, passwd.
func userCmd(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs, data, l := flags(cmd)
	fromStdin := false
	if cmd == "user add" || cmd == "user passwd" {
		fs.BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input (for scripts)")
	}
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	var login string
	if cmd != "user list" {
		if fs.NArg() != 1 {
			return apperr.Errorf(apperr.EINVALID, "%s takes one login, e.g. attesta-hub %s dpo", cmd, cmd)
		}
		var err error
		if login, err = hub.NormalizeLogin(fs.Arg(0)); err != nil {
			return err
		}
	}
	var hash string
	if cmd == "user add" || cmd == "user passwd" {
		p, err := readPassword(fromStdin, stderr)
		if err != nil {
			return err
		}
		if hash, err = hub.HashPassword(p); err != nil {
			return err
		}
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	switch cmd {
	case "user add":
		if err := st.AddUser(ctx, login, hash); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s; sign in at <hub URL>/dashboard/\n", login)
	case "user passwd":
		if err := st.SetPassword(ctx, login, hash); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; their sessions are ended\n", login)
	case "user remove":
		if err := st.RemoveUser(ctx, login); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s and ended their sessions\n", login)
	case "user list":
		us, err := st.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "LOGIN\tCREATED\tLAST SIGN-IN")
		for _, u := range us {
			last := "never"
			if u.LastLogin != nil {
				last = u.LastLogin.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", u.Login, u.CreatedAt.Local().Format(time.DateTime), last)
		}
		return tw.Flush()
	}
	return nil
}

// readPassword reads a new password: the first line of stdin with
// --password-stdin, else twice from the terminal without echo. Never from
// an argument, where ps and shell history would show it.
func readPassword(fromStdin bool, stderr io.Writer) (string, error) {
	var p string
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return "", apperr.Errorf(apperr.EINVALID, "--password-stdin: no password on standard input")
		}
		p = strings.TrimRight(line, "\r\n")
	} else {
		f, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return "", apperr.Errorf(apperr.EINVALID, "standard input is not a terminal: type the password at a terminal, or pipe it with --password-stdin")
		}
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", apperr.Errorf(apperr.EINVALID, "the two passwords differ")
		}
		p = string(a)
	}
	return p, hub.CheckPasswordRules(p)
}
