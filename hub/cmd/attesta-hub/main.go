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

	"golang.org/x/sync/errgroup"

	"github.com/attesta/attesta/fixtures"
	"github.com/attesta/attesta/hub"
	"github.com/attesta/attesta/hub/dashboard"
	"github.com/attesta/attesta/hub/dispatch"
	hubhttp "github.com/attesta/attesta/hub/http"
	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/hub/ws"
	"github.com/attesta/attesta/shared/apperr"
	"github.com/attesta/attesta/shared/cli"
	"github.com/attesta/attesta/shared/config"
	"github.com/attesta/attesta/shared/metrics"
	"github.com/attesta/attesta/shared/qr"
	"github.com/attesta/attesta/shared/svc"
)

const usage = `attesta-hub — the Attesta head-office daemon

Usage:
  attesta-hub run [--config FILE] [--data DIR] [--listen ADDR] [--public-url URL] [--SETTING VALUE ...]
  attesta-hub config print-default|print [--config FILE] [--SETTING VALUE ...]
  attesta-hub enroll --name NAME --touchpoint ID [--ttl 24h] [--hub-url URL] [--json] [--data DIR]
  attesta-hub token create --scope admin|read|check [--data DIR]
  attesta-hub touchpoint list [--data DIR]
  attesta-hub touchpoint add|set ID [--name N] [--kind ctp|etp|rtp] [--country CC] [--language LL] [--location L] [--data DIR]
  attesta-hub notice publish FILE.md --id ID --version N --language LL [--title T] [--summary S] [--data DIR]
  attesta-hub notice list [--json] [--data DIR]
  attesta-hub purpose add|set CODE [--dpv TERM] [--category C] [--legal-basis B] [--retention-days N] [--text 'LL=TITLE|DESCRIPTION' ...] [--data DIR]
  attesta-hub purpose list [--data DIR]
  attesta-hub device list|revoke ID [--data DIR]
  attesta-hub user add|passwd LOGIN [--password-stdin] [--data DIR]   dashboard users (password from the terminal or stdin)
  attesta-hub user list|remove LOGIN [--data DIR]
  attesta-hub webhook add URL --events consent.changed,request.created,... [--description TEXT] [--from-start] [--data DIR]
  attesta-hub webhook list|remove ID|deliveries ID [--failed]|resume ID [--skip]|test ID [--data DIR]
  attesta-hub webhook update ID [--url URL] [--events ...] [--description TEXT] | rotate-secret ID [--grace 24h]
  attesta-hub proof verify BUNDLE.zip [--json]     check a proof bundle offline (no database, no network)
  attesta-hub proof export RECORD-ID [--out FILE] [--data DIR]
  attesta-hub proof key [--data DIR]               the hub key fingerprint to publish for inspectors
  attesta-hub request list [--state S,...] [--kind K] [--limit N] [--after ID] [--json]   rights requests by due date
  attesta-hub request show|export ID [--json] [--out FILE]
  attesta-hub request create --kind K (--email E | --phone P | --subject ID) [--details TEXT] [--channel C] [--json]
  attesta-hub request act --action start|extend|complete|refuse|note [--note TEXT] [--by NAME] ID... | -
  attesta-hub retention run [--dry-run] [--json]   sweep retention once (--dry-run changes nothing)
  attesta-hub retention runs [--json]              the sweeps recorded
  attesta-hub service install|uninstall|start|stop|restart|status [--data DIR] [--listen ADDR]
  attesta-hub version

Settings come from defaults, a TOML file (--config FILE or $ATTESTA_HUB_CONFIG),
environment variables (ATTESTA_HUB_<SETTING>) and flags, each winning over
the one before; 'attesta-hub config print-default' lists them all. The data
folder defaults to /var/lib/attesta-hub as root, else ~/.local/share/attesta-hub.
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
	if len(rest) > 0 && (cmd == "token" || cmd == "touchpoint" || cmd == "device" || cmd == "proof" ||
		cmd == "notice" || cmd == "purpose" || cmd == "user" ||
		cmd == "request" || cmd == "retention" || cmd == "webhook") {
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
	case "touchpoint add", "touchpoint set":
		return touchpointCmd(ctx, cmd, rest, stdout)
	case "notice publish", "notice list":
		return noticeCmd(ctx, cmd, rest, stdout)
	case "purpose add", "purpose set", "purpose list":
		return purposeCmd(ctx, cmd, rest, stdout)
	case "device list", "device revoke":
		return deviceCmd(ctx, cmd, rest, stdout)
	case "webhook add", "webhook list", "webhook update", "webhook rotate-secret", "webhook remove", "webhook deliveries", "webhook resume", "webhook test":
		return webhookCmd(ctx, cmd, rest, stdout, stderr)
	case "proof verify", "proof export", "proof key":
		return proofCmd(ctx, cmd, rest, stdout)
	case "user add", "user list", "user remove", "user passwd":
		return userCmd(ctx, cmd, rest, stdout, stderr)
	case "request list", "request show", "request create", "request act", "request export":
		return requestCmd(ctx, cmd, rest, os.Stdin, stdout)
	case "retention run", "retention runs":
		return retentionCmd(ctx, cmd, rest, stdout)
	case "service":
		c := NewConfig()
		return svc.Command(rest, stdout, c.Loader(), &c.DataDir, newFlagSet, program)
	case "config":
		return configCmd(rest, stdout)
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

func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("attesta-hub "+name, flag.ContinueOnError)
}

// flags is the flag set of a command that only needs the data folder: it
// comes from --data, $ATTESTA_HUB_DATA or the --config file. After parse,
// data holds it.
func flags(name string) (fs *flag.FlagSet, data *string, l *config.Loader) {
	fs = newFlagSet(name)
	c := NewConfig()
	l = c.Loader()
	l.Bind(fs, "data")
	return fs, &c.DataDir, l
}

// parseAndOpen parses a command's flags and opens the store of the data
// folder they name (data is set by the parse); the caller closes it.
func parseAndOpen(ctx context.Context, fs *flag.FlagSet, l *config.Loader, args []string, data *string) (*sqlite.Store, error) {
	if err := l.Parse(fs, args); err != nil {
		return nil, err
	}
	return openStore(ctx, *data)
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
	m := NewMain()
	l := m.Config.Loader()
	fs := newFlagSet("run")
	l.Bind(fs)
	if err := l.Parse(fs, args); err != nil {
		return err
	}
	out, closeLog, err := svc.LogOutput(stderr, m.DataDir, "attesta-hub")
	if err != nil {
		return err
	}
	defer closeLog()
	logger, err := svc.NewLogger(out, m.LogLevel, m.LogFormat)
	if err != nil {
		return apperr.Errorf(apperr.EINVALID, "config: %v", err)
	}
	m.Logger = logger
	p := program(nil)
	p.Open = func(ctx context.Context) error {
		if err := m.Run(ctx); err != nil {
			m.Close()
			return err
		}
		m.Logger.Info("attesta-hub running", "url", m.HTTP.URL(), "data", m.DataDir, "version", hub.Version, "config", l.File())
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
	return &svc.Program{Name: "attesta-hub", DisplayName: "Attesta hub", Description: "Attesta consent hub: ingests and proves consents from collectors",
		Arguments: append([]string{"run"}, arguments...)}
}

// Main is the running hub, for main and for tests.
type Main struct {
	Config
	Logger *slog.Logger

	Store   *sqlite.Store
	Sync    *ws.Server
	HTTP    *hubhttp.Server
	Hooks   *dispatch.Dispatcher
	Metrics *metrics.Registry

	stopSweeps context.CancelFunc // stops the retention schedule
	sweepsDone chan struct{}

	stopSuggest context.CancelFunc // stops the suggestion worker
	suggestDone chan struct{}
}

// NewMain returns a Main with defaults.
func NewMain() *Main {
	return &Main{Config: NewConfig(), Logger: slog.Default()}
}

// Run opens the store and starts serving.
func (m *Main) Run(ctx context.Context) error {
	st, err := openStore(ctx, m.DataDir)
	if err != nil {
		return err
	}
	m.Store = st
	if err := m.Config.applyTo(st); err != nil {
		return err
	}
	st.ServeChecks(m.Logger, m.CheckIndex)
	keys, err := st.Keys(ctx)
	if err != nil {
		return err
	}
	m.Sync = ws.NewServer(st, keys)
	m.Sync.Logger, m.Sync.SkewBound, m.Sync.PublicURL = m.Logger, m.SkewBound, m.PublicURL
	m.Sync.MaxSessions, m.Sync.Window, m.Sync.MaxBatch, m.Sync.MaxBatchBytes = m.MaxSessions, m.SyncWindow, m.SyncMaxBatch, m.SyncMaxBytes
	m.Sync.ReadLimit = max(m.Sync.ReadLimit, 2*int64(m.SyncMaxBytes)) // a frame is a batch plus its framing
	m.HTTP = hubhttp.NewServer(st, m.Sync)
	m.HTTP.Addr, m.HTTP.Logger, m.HTTP.PublicURL = m.Listen, m.Logger, m.PublicURL
	m.HTTP.ConfigChanged = m.Sync.ConfigChanged // API changes reach connected collectors at once
	dash := dashboard.New(st)
	dash.Logger, dash.PublicURL, dash.Online, dash.ConfigChanged = m.Logger, m.PublicURL, m.Sync.Connected, m.Sync.ConfigChanged
	if st.Location != nil {
		dash.Location = st.Location
	}
	m.HTTP.Handle(dashboard.Prefix, dash)
	m.Hooks = dispatch.New(st)
	m.Hooks.Logger, m.Hooks.MaxBackoff, m.Hooks.Timeout, m.Hooks.LogRetention = m.Logger, m.WebhookBackoff, m.WebhookTimeout, m.WebhookLogKeep
	m.Hooks.FeedRetention = m.FeedKeep
	m.Metrics = metrics.NewRegistry()
	m.Metrics.Register(m.Sync, st, m.Hooks)
	m.HTTP.ServeMetrics(m.Metrics, m.MetricsOpen)
	if err := m.HTTP.Open(); err != nil {
		return err
	}
	if m.RetentionInterval > 0 {
		sctx, cancel := context.WithCancel(context.Background())
		m.stopSweeps, m.sweepsDone = cancel, make(chan struct{})
		go m.sweeps(sctx)
	}
	gctx, cancel := context.WithCancel(context.Background())
	m.stopSuggest, m.suggestDone = cancel, make(chan struct{})
	go func() {
		defer close(m.suggestDone)
		st.WorkSuggestions(gctx, time.Second, func(err error) { m.Logger.Error("suggestions failed; retrying", "err", err) })
	}()
	return m.Hooks.Open()
}

// sweeps runs the retention sweep at start and then every
// RetentionInterval until stopped.
func (m *Main) sweeps(ctx context.Context) {
	defer close(m.sweepsDone)
	t := time.NewTicker(m.RetentionInterval)
	defer t.Stop()
	for {
		run, err := m.Store.SweepRetention(ctx, false, "schedule")
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			m.Logger.Error("retention sweep failed", "err", err)
		default:
			m.Logger.Info("retention sweep", "run", run.ID, "expired", run.Expired, "anonymised", run.Anonymised,
				"took", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops within ShutdownTimeout: it refuses new sync sessions and API
// requests, lets the batches sessions have read commit and their acks go
// out, lets API requests finish, cuts off whatever is left at the deadline,
// and closes the database.
func (m *Main) Close() error {
	start := time.Now()
	var errs []error
	if m.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.ShutdownTimeout)
		defer cancel()
		var g errgroup.Group // hijacked sync sessions are not part of the HTTP server's shutdown
		g.Go(func() error { return m.Sync.Shutdown(ctx) })
		g.Go(func() error { return m.HTTP.Close(ctx) })
		g.Go(func() error { return m.Hooks.Close(ctx) })
		if err := g.Wait(); err != nil {
			m.Logger.Warn("shutdown deadline reached; the rest was cut off", "timeout", m.ShutdownTimeout, "err", err)
		}
	}
	if m.stopSweeps != nil {
		m.stopSweeps()
		<-m.sweepsDone
	}
	if m.stopSuggest != nil {
		m.stopSuggest()
		<-m.suggestDone
	}
	if m.Store != nil {
		errs = append(errs, m.Store.Close())
	}
	err := errors.Join(errs...)
	if err == nil && m.HTTP != nil {
		m.Logger.Info("shutdown complete", "took", time.Since(start).Round(time.Millisecond))
	}
	return err
}

func enrollCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data, l := flags("enroll")
	name := fs.String("name", "", "the collector's name, e.g. \"Booth B12\"")
	tp := fs.String("touchpoint", "", "touchpoint id ('attesta-hub touchpoint list')")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the code is valid")
	hubURL := fs.String("hub-url", "", "the hub URL the collector will use, shown in the QR code (default http://<host>:8700)")
	asJSON := fs.Bool("json", false, `print {"code","expires_at"} only`)
	if err := l.Parse(fs, args); err != nil {
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
	code, err := qr.Text(link)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Enrollment code for %q at %s (one use, expires %s):\n\n    %s\n\n", en.Name, en.Touchpoint,
		en.ExpiresAt.Local().Format("2006-01-02 15:04 MST"), en.Code)
	fmt.Fprintf(stdout, "On the kiosk:  attesta-collector enroll --hub %s --code %s\n\n", u, en.Code)
	fmt.Fprint(stdout, code)
	return nil
}

func tokenCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fs, data, l := flags("token create")
	scope := fs.String("scope", "", "admin, read or check")
	st, err := parseAndOpen(ctx, fs, l, args, data)
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
	fs, data, l := flags("touchpoint list")
	st, err := parseAndOpen(ctx, fs, l, args, data)
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
	fs, data, l := flags(cmd)
	st, err := parseAndOpen(ctx, fs, l, args, data)
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
	fmt.Fprintln(tw, "ID\tNAME\tTOUCHPOINT\tRECEIVED\tCHAIN\tCONFIG\tNOTICES\tLAST SEEN")
	for _, d := range ds {
		seen := "never"
		if d.LastSeen != nil {
			seen = d.LastSeen.Local().Format(time.DateTime)
		}
		if d.RevokedAt != nil {
			seen += " (revoked)"
		}
		config := fmt.Sprintf("%d (behind)", d.ConfigSeq)
		if d.ConfigCurrent {
			config = fmt.Sprintf("%d (current)", d.ConfigSeq)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.Touchpoint, d.Received, d.Chain, config,
			strings.Join(d.Notices, ","), seen)
	}
	return tw.Flush()
}
