// Command attesta-hub is the head-office daemon: it enrolls collectors,
// ingests their records over websockets and answers head office's questions.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	hubhttp "github.com/attesta/attesta/hub/http"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/hub/ws"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/cli"
	"github.com/attesta/attesta/shared/svc"
)

const usage = `attesta-hub — the Attesta head-office daemon

Usage:
  attesta-hub run [--data DIR] [--listen ADDR] [--public-url URL]
  attesta-hub enroll --name NAME --touchpoint ID [--ttl 24h] [--hub-url URL] [--json] [--data DIR]
  attesta-hub token create --scope admin|read|check [--data DIR]
  attesta-hub touchpoint list [--data DIR]
  attesta-hub device list|revoke ID [--data DIR]
  attesta-hub proof verify BUNDLE.zip [--json]     check a proof bundle offline (no database, no network)
  attesta-hub proof export RECORD-ID [--out FILE] [--data DIR]
  attesta-hub proof key [--data DIR]               the hub key fingerprint to publish for inspectors
  attesta-hub service install|uninstall|start|stop|restart|status [--data DIR] [--listen ADDR]
  attesta-hub version

The data folder defaults to $ATTESTA_HUB_DATA, else /var/lib/attesta-hub as
root, else ~/.local/share/attesta-hub.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "attesta-hub:", cli.Message(err))
		}
		os.Exit(cli.ExitCode(err))
	}
}

// Run dispatches a command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return apperr.Errorf(apperr.EINVALID, "a command is required")
	}
	cmd, rest := args[0], args[1:]
	if len(rest) > 0 && (cmd == "token" || cmd == "touchpoint" || cmd == "device" || cmd == "proof") {
		cmd, rest = cmd+" "+rest[0], rest[1:]
	}
	switch cmd {
	case "run":
		return runCmd(ctx, rest, stderr)
	case "enroll":
		return enrollCmd(ctx, rest, stdout)
	case "token create":
		return tokenCmd(ctx, rest, stdout)
	case "touchpoint list":
		return touchpointsCmd(ctx, rest, stdout)
	case "device list", "device revoke":
		return deviceCmd(ctx, cmd, rest, stdout)
	case "proof verify", "proof export", "proof key":
		return proofCmd(ctx, cmd, rest, stdout)
	case "service":
		return serviceCmd(rest, stdout)
	case "version":
		fmt.Fprintln(stdout, hub.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return apperr.Errorf(apperr.EINVALID, "unknown command %q", strings.Join(args, " "))
}

func defaultData() string {
	if d := os.Getenv("ATTESTA_HUB_DATA"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/attesta-hub"
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "attesta-hub")
}

func flags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("attesta-hub "+name, flag.ContinueOnError)
	data := fs.String("data", defaultData(), "data folder")
	return fs, data
}

// openStore opens the hub database and loads the fixtures into a new one.
func openStore(ctx context.Context, data string) (*sqlite.Store, error) {
	st, err := sqlite.Open(ctx, filepath.Join(data, "hub.db"))
	if err != nil {
		return nil, err
	}
	if _, err := st.Catalog(ctx); apperr.Code(err) == apperr.ENOTFOUND {
		cat, err := fixtures.Catalog()
		if err == nil {
			_, err = st.Publish(ctx, cat)
		}
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("load fixtures: %w", err)
		}
	} else if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func runCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs, data := flags("run")
	m := NewMain()
	fs.StringVar(&m.Listen, "listen", m.Listen, "address to listen on")
	fs.StringVar(&m.PublicURL, "public-url", m.PublicURL, "base URL visitors' phones can reach (notice and receipt pages); default: the URL collectors enrolled with")
	fs.DurationVar(&m.SkewBound, "skew-bound", m.SkewBound, "device clocks off by more than this are flagged clock_suspect")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	m.DataDir = *data
	m.Logger = svc.Logger(stderr)
	p := program(m.DataDir, m.Listen)
	p.Open = func(ctx context.Context) error {
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		m.Logger.Info("attesta-hub running", "url", m.HTTP.URL(), "data", m.DataDir, "version", hub.Version)
		return nil
	}
	p.Close = func() error {
		m.Logger.Info("shutting down")
		return m.Close()
	}
	return p.Serve(ctx)
}

func program(data, listen string) *svc.Program {
	if abs, err := filepath.Abs(data); err == nil {
		data = abs
	}
	return &svc.Program{Name: "attesta-hub", DisplayName: "Attesta hub", Description: "Attesta consent hub: ingests and proves consents from collectors",
		Arguments: []string{"run", "--data", data, "--listen", listen}}
}

func serviceCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return apperr.Errorf(apperr.EINVALID, "service needs an action: install, uninstall, start, stop, restart or status")
	}
	fs, data := flags("service " + args[0])
	listen := fs.String("listen", ":8700", "address the installed service listens on")
	if err := cli.Parse(fs, args[1:]); err != nil {
		return err
	}
	out, err := program(*data, *listen).Control(args[0])
	if err != nil {
		return apperr.Errorf(apperr.EINVALID, "%v", err)
	}
	fmt.Fprintln(stdout, out)
	return nil
}

// Main is the running hub, for main and for tests.
type Main struct {
	DataDir   string
	Listen    string
	PublicURL string
	SkewBound time.Duration
	Logger    *slog.Logger

	Store *sqlite.Store
	Sync  *ws.Server
	HTTP  *hubhttp.Server
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{DataDir: defaultData(), Listen: ":8700", SkewBound: 5 * time.Minute, Logger: slog.Default()}
}

// Run opens the store and starts serving.
func (m *Main) Run(ctx context.Context) error {
	st, err := openStore(ctx, m.DataDir)
	if err != nil {
		return err
	}
	m.Store = st
	keys, err := st.Keys(ctx)
	if err != nil {
		return err
	}
	m.Sync = ws.NewServer(st, keys)
	m.Sync.Logger, m.Sync.SkewBound, m.Sync.PublicURL = m.Logger, m.SkewBound, m.PublicURL
	m.HTTP = hubhttp.NewServer(st, m.Sync)
	m.HTTP.Addr, m.HTTP.Logger, m.HTTP.PublicURL = m.Listen, m.Logger, m.PublicURL
	return m.HTTP.Open()
}

// Close stops accepting, lets batches in flight commit, and closes the database.
func (m *Main) Close() error {
	var errs []error
	if m.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		go m.Sync.Close() // hijacked sessions are not part of Shutdown
		errs = append(errs, m.HTTP.Close(ctx))
		m.Sync.Close()
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	return errors.Join(errs...)
}

func enrollCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data := flags("enroll")
	name := fs.String("name", "", "the collector's name, e.g. \"Booth B12\"")
	tp := fs.String("touchpoint", "", "touchpoint id ('attesta-hub touchpoint list')")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the code is valid")
	hubURL := fs.String("hub-url", "", "the hub URL the collector will use, shown in the QR code (default http://<host>:8700)")
	asJSON := fs.Bool("json", false, `print {"code","expires_at"} only`)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if *tp == "" {
		return apperr.Errorf(apperr.EINVALID, "--touchpoint is required; 'attesta-hub touchpoint list' shows them")
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	en, err := st.CreateEnrollment(ctx, *name, *tp, *ttl)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"code": en.Code, "expires_at": en.ExpiresAt.Format(time.RFC3339)})
	}
	u := *hubURL
	if u == "" {
		host, _ := os.Hostname()
		u = "http://" + host + ":8700"
	}
	link := fmt.Sprintf("attesta://enroll?hub=%s&code=%s", u, en.Code)
	qr, err := qrcode.New(link, qrcode.Medium)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Enrollment code for %q at %s (one use, expires %s):\n\n    %s\n\n", en.Name, en.Touchpoint,
		en.ExpiresAt.Local().Format("2006-01-02 15:04 MST"), en.Code)
	fmt.Fprintf(stdout, "On the kiosk:  attesta-collector enroll --hub %s --code %s\n\n", u, en.Code)
	fmt.Fprint(stdout, qr.ToSmallString(false))
	return nil
}

func tokenCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data := flags("token create")
	scope := fs.String("scope", "", "admin, read or check")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	tok, err := st.CreateToken(ctx, hub.Scope(*scope))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func touchpointsCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data := flags("touchpoint list")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	cat, err := st.Catalog(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, t := range cat.Touchpoints {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.ID, t.Name, t.Kind)
	}
	return tw.Flush()
}

func deviceCmd(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs, data := flags(cmd)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(ctx, *data)
	if err != nil {
		return err
	}
	defer st.Close()
	if cmd == "device revoke" {
		if fs.NArg() != 1 {
			return apperr.Errorf(apperr.EINVALID, "device revoke takes one device id")
		}
		if err := st.RevokeDevice(ctx, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked", fs.Arg(0))
		return nil
	}
	ds, err := st.Devices(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tTOUCHPOINT\tRECEIVED\tCHAIN\tLAST SEEN")
	for _, d := range ds {
		seen := "never"
		if d.LastSeen != nil {
			seen = d.LastSeen.Local().Format(time.DateTime)
		}
		if d.RevokedAt != nil {
			seen += " (revoked)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Name, d.Touchpoint, d.Received, d.Chain, seen)
	}
	return tw.Flush()
}
