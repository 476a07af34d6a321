// Command attesta-collector is the kiosk daemon: it serves the consent UI on
// localhost, keeps every capture in a local outbox and syncs it to the hub.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/attesta/attesta/collector"
	chttp "github.com/attesta/attesta/collector/http"
	"github.com/attesta/attesta/collector/sqlite"
	"github.com/attesta/attesta/collector/ws"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/cli"
	"github.com/attesta/attesta/shared/config"
	"github.com/attesta/attesta/shared/hlc"
	"github.com/attesta/attesta/shared/metrics"
	"github.com/attesta/attesta/shared/record"
	"github.com/attesta/attesta/shared/seal"
	"github.com/attesta/attesta/shared/svc"
	"github.com/attesta/attesta/shared/wire"
)

const usage = `attesta-collector — the Attesta kiosk daemon

Usage:
  attesta-collector enroll --hub URL --code CODE [--pin PIN] [--data DIR]
  attesta-collector run [--config FILE] [--data DIR] [--listen ADDR] [--idle-reset 60s] [--SETTING VALUE ...]
  attesta-collector config print-default|print [--config FILE] [--SETTING VALUE ...]
  attesta-collector pin set PIN [--data DIR]
  attesta-collector service install|uninstall|start|stop|restart|status [--data DIR] [--listen ADDR]
  attesta-collector version

Settings come from defaults, a TOML file (--config FILE or
$ATTESTA_COLLECTOR_CONFIG), environment variables (ATTESTA_COLLECTOR_<SETTING>)
and flags, each winning over the one before; 'attesta-collector config
print-default' lists them all. The data folder defaults to
/var/lib/attesta-collector as root, else ~/.local/share/attesta-collector.

Testing aid: ATTESTA_CLOCK_OFFSET=DURATION (e.g. -72h) makes 'run' read a
clock that far off the real one, as a kiosk with a wrong clock would.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "attesta-collector:", cli.Message(err))
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
	if cmd == "pin" && len(rest) > 0 {
		cmd, rest = "pin "+rest[0], rest[1:]
	}
	switch cmd {
	case "run":
		return runCmd(ctx, rest, stderr)
	case "enroll":
		return enrollCmd(ctx, rest, stdout)
	case "pin set":
		return pinCmd(ctx, rest, stdout)
	case "service":
		c := NewConfig()
		return svc.Command(rest, stdout, c.Loader(), &c.DataDir, newFlagSet, program)
	case "config":
		return configCmd(rest, stdout)
	case "version":
		fmt.Fprintln(stdout, collector.Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return apperr.Errorf(apperr.EINVALID, "unknown command %q", strings.Join(args, " "))
}

func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("attesta-collector "+name, flag.ContinueOnError)
}

// flags is the flag set of a command that only needs the data folder: it
// comes from --data, $ATTESTA_COLLECTOR_DATA or the --config file. After
// parse, data holds it.
func flags(name string) (fs *flag.FlagSet, data *string, l *config.Loader) {
	fs = newFlagSet(name)
	c := NewConfig()
	l = c.Loader()
	l.Bind(fs, "data")
	return fs, &c.DataDir, l
}

func dbPath(data string) string { return filepath.Join(data, "collector.db") }

func enrollCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data, l := flags("enroll")
	hubURL := fs.String("hub", "", "the hub's URL, e.g. https://hub.example.com")
	code := fs.String("code", "", "the one-time code from 'attesta-hub enroll' (or the attesta://enroll link in its QR code)")
	pin := fs.String("pin", "", "operator screen PIN (4 to 12 digits)")
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	if strings.HasPrefix(*code, "attesta://enroll?") {
		u, err := url.Parse(*code)
		if err == nil {
			*code = u.Query().Get("code")
			if *hubURL == "" {
				*hubURL = u.Query().Get("hub")
			}
		}
	}
	if *hubURL == "" || *code == "" {
		return apperr.Errorf(apperr.EINVALID, "--hub and --code are both required")
	}
	if *pin != "" && !validPIN(*pin) {
		return apperr.Errorf(apperr.EINVALID, "--pin must be 4 to 12 digits")
	}
	o, err := sqlite.Open(ctx, dbPath(*data))
	if err != nil {
		return err
	}
	defer o.Close()
	if _, err := o.Identity(ctx); err == nil {
		return apperr.Errorf(apperr.ECONFLICT, "%s already holds an enrolled collector; use another --data folder", *data)
	}
	pub, priv, err := collector.NewSignKey()
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	resp, err := ws.Enroll(ctx, *hubURL, wire.EnrollRequest{Code: *code, SignKey: record.PublicKeyString(pub), AppVersion: collector.Version, Host: host})
	if err != nil {
		return err
	}
	sealKey, err := seal.ParsePublicKey(resp.HubSealKey)
	if err != nil {
		return fmt.Errorf("hub seal key: %w", err)
	}
	signKey, err := record.ParsePublicKey(resp.HubSignKey)
	if err != nil {
		return fmt.Errorf("hub sign key: %w", err)
	}
	id := &collector.Identity{CollectorID: resp.CollectorID, Name: resp.Name, Touchpoint: resp.Touchpoint, SignKey: priv,
		Token: resp.Token, HubURL: strings.TrimRight(*hubURL, "/"), HubSealKey: *sealKey, HubSignKey: signKey, EnrolledAt: time.Now()}
	if *pin != "" {
		id.PINHash = chttp.HashPIN(*pin)
	}
	if err := o.SaveIdentity(ctx, id, &resp.Catalog); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "enrolled %q (%s) at touchpoint %s; start it with: attesta-collector run --data %s\n", resp.Name, resp.CollectorID, resp.Touchpoint, *data)
	return nil
}

func validPIN(p string) bool {
	if len(p) < 4 || len(p) > 12 {
		return false
	}
	for _, r := range p {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func pinCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data, l := flags("pin set")
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || !validPIN(fs.Arg(0)) {
		return apperr.Errorf(apperr.EINVALID, "pin set takes one PIN of 4 to 12 digits")
	}
	o, err := sqlite.Open(ctx, dbPath(*data))
	if err != nil {
		return err
	}
	defer o.Close()
	if err := o.SetPIN(ctx, chttp.HashPIN(fs.Arg(0))); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "operator PIN set")
	return nil
}

func runCmd(ctx context.Context, args []string, stderr io.Writer) error {
	m := NewMain()
	l := m.Config.Loader()
	fs := newFlagSet("run")
	l.Bind(fs)
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	out, closeLog, err := svc.LogOutput(stderr, m.DataDir, "attesta-collector")
	if err != nil {
		return err
	}
	defer closeLog()
	logger, err := svc.NewLogger(out, m.LogLevel, m.LogFormat)
	if err != nil {
		return apperr.Errorf(apperr.EINVALID, "config: %v", err)
	}
	m.Logger = logger
	if v := os.Getenv("ATTESTA_CLOCK_OFFSET"); v != "" {
		off, err := time.ParseDuration(v)
		if err != nil {
			return apperr.Errorf(apperr.EINVALID, "ATTESTA_CLOCK_OFFSET %q is not a duration such as -72h", v)
		}
		m.Now = func() time.Time { return time.Now().Add(off) }
		m.Logger.Warn("device clock offset by ATTESTA_CLOCK_OFFSET (testing aid)", "offset", off)
	}
	p := program(nil)
	p.Open = func(ctx context.Context) error {
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		m.Logger.Info("attesta-collector running", "kiosk", m.HTTP.URL(), "hub", m.Identity.HubURL, "collector", m.Identity.CollectorID, "version", collector.Version, "config", l.File())
		return nil
	}
	p.Close = func() error {
		m.Logger.Info("shutting down", "timeout", m.ShutdownTimeout)
		return m.Close()
	}
	return p.Serve(ctx)
}

// program is the service; arguments are what an installed one runs after "run".
func program(arguments []string) *svc.Program {
	return &svc.Program{Name: "attesta-collector", DisplayName: "Attesta collector", Description: "Attesta kiosk daemon: captures consents offline and syncs them to the hub",
		Arguments: append([]string{"run"}, arguments...)}
}

// Main is the running collector, for main and for tests.
type Main struct {
	Config
	Logger *slog.Logger
	Now    func() time.Time // the device clock

	Outbox   *sqlite.Outbox
	Identity *collector.Identity
	Client   *ws.Client
	HTTP     *chttp.Server
	Metrics  *metrics.Registry

	cancel context.CancelFunc
	g      *errgroup.Group
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{Config: NewConfig(), Logger: slog.Default(), Now: time.Now}
}

// Run opens the outbox, starts the local server and the sync client.
func (m *Main) Run(ctx context.Context) error {
	o, err := sqlite.Open(ctx, dbPath(m.DataDir))
	if err != nil {
		return err
	}
	m.Outbox = o
	o.Now = m.Now
	id, err := o.Identity(ctx)
	if err != nil {
		return err
	}
	if m.HubURL != "" {
		id.HubURL = strings.TrimRight(m.HubURL, "/")
	}
	if m.OperatorPIN != "" && !chttp.CheckPIN(id.PINHash, m.OperatorPIN) {
		id.PINHash = chttp.HashPIN(m.OperatorPIN)
		if err := o.SetPIN(ctx, id.PINHash); err != nil {
			return err
		}
		m.Logger.Info("operator PIN set from the settings")
	}
	m.Identity = id
	clock := &hlc.Clock{Now: m.Now}
	last, err := o.LastHLC(ctx)
	if err != nil {
		return err
	}
	clock.Restore(last)
	m.Client = ws.NewClient(o, id, clock)
	m.Client.Logger, m.Client.Now = m.Logger, m.Now
	rec := &collector.Recorder{Identity: id, Clock: clock, Now: m.Now}
	m.HTTP = chttp.NewServer(o, rec, m.Client)
	m.HTTP.Addr, m.HTTP.Logger, m.HTTP.IdleSeconds, m.HTTP.Now = m.Listen, m.Logger, int(m.Idle/time.Second), m.Now
	m.HTTP.DBSize = o.DB().Size
	m.Metrics = metrics.NewRegistry()
	m.HTTP.ServeMetrics(m.Metrics)
	if err := m.HTTP.Open(); err != nil {
		return err
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.g = &errgroup.Group{}
	m.g.Go(func() error { return m.Client.Run(cctx) })
	return nil
}

// Close stops within ShutdownTimeout: it stops taking captures (those in
// progress commit and answer), stops the sync after the acks of the batches
// in flight, cuts off whatever is left at the deadline, and closes the
// outbox.
func (m *Main) Close() error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), m.ShutdownTimeout)
	defer cancel()
	var errs []error
	if m.HTTP != nil {
		if err := m.HTTP.Close(ctx); err != nil {
			m.Logger.Warn("shutdown deadline reached with requests in progress", "timeout", m.ShutdownTimeout, "err", err)
		}
	}
	if m.cancel != nil {
		m.Client.Stop()
		done := make(chan error, 1)
		go func() { done <- m.g.Wait() }()
		select {
		case err := <-done:
			errs = append(errs, err)
		case <-ctx.Done():
			m.Logger.Warn("shutdown deadline reached with batches unacknowledged; they are sent again at the next start", "timeout", m.ShutdownTimeout)
			m.cancel()
			errs = append(errs, <-done)
		}
		m.cancel()
	}
	if m.Outbox != nil {
		errs = append(errs, m.Outbox.Close())
	}
	err := errors.Join(errs...)
	if err == nil && m.HTTP != nil {
		m.Logger.Info("shutdown complete", "took", time.Since(start).Round(time.Millisecond))
	}
	return err
}
