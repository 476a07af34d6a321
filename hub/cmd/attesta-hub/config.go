package main

import (
	"fmt"
	"io"
	"time"
	_ "time/tzdata" // time zones on machines without a zoneinfo database (Windows)

	"github.com/attesta/attesta/hub/sqlite"
	"github.com/attesta/attesta/shared/config"
	"github.com/attesta/attesta/shared/svc"
)

// Config is every setting of the hub; NewConfig has the defaults.
type Config struct {
	DataDir           string
	Listen            string
	PublicURL         string
	SkewBound         time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          string
	LogFormat         string
	MetricsOpen       bool
	MaxSessions       int
	SyncWindow        int
	SyncMaxBatch      int
	SyncMaxBytes      int
	TimeZone          string
	RetentionInterval time.Duration
	RetentionGrace    time.Duration
	WebhookBackoff    time.Duration
	WebhookTimeout    time.Duration
	WebhookLogKeep    time.Duration
	FeedKeep          time.Duration
	CheckIndex        bool
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{DataDir: config.DefaultDataDir("attesta-hub"), Listen: ":8700", SkewBound: 5 * time.Minute, ShutdownTimeout: 10 * time.Second,
		LogLevel: "info", LogFormat: "auto", MaxSessions: 2000, SyncWindow: 8, SyncMaxBatch: 500, SyncMaxBytes: 8 << 20,
		TimeZone: "Europe/Rome", RetentionInterval: 24 * time.Hour, RetentionGrace: sqlite.DefaultRetentionGrace,
		WebhookBackoff: 5 * time.Minute, WebhookTimeout: 10 * time.Second, WebhookLogKeep: 30 * 24 * time.Hour, FeedKeep: 90 * 24 * time.Hour,
		CheckIndex: true}
}

// Loader binds the settings to c's fields.
func (c *Config) Loader() *config.Loader {
	return config.New("attesta-hub", "ATTESTA_HUB_",
		config.Setting{Key: "data", Value: config.Path(&c.DataDir),
			Help: "Data folder: hub.db (records, devices, keys, tokens).\nDefault: /var/lib/attesta-hub as root, else ~/.local/share/attesta-hub."},
		config.Setting{Key: "listen", Value: config.HostPort(&c.Listen),
			Help: "Address for HTTP: the sync websocket, the API, /metrics and the public notice and receipt pages."},
		config.Setting{Key: "public_url", Value: config.URL(&c.PublicURL, true),
			Help: "Base URL visitors' phones reach (notice and receipt QR codes).\nEmpty: the URL each collector enrolled with."},
		config.Setting{Key: "skew_bound", Value: config.Duration(&c.SkewBound, time.Second, 24*time.Hour),
			Help: "Device clocks off by more than this have their records flagged clock_suspect."},
		config.Setting{Key: "shutdown_timeout", Value: config.Duration(&c.ShutdownTimeout, time.Second, 5*time.Minute),
			Help: "On stop: how long batches in flight may take to commit and be acknowledged\nand API requests to finish before the rest are cut off."},
		config.Setting{Key: "log_level", Value: config.OneOf(&c.LogLevel, svc.LogLevels...),
			Help: "Least important log level written."},
		config.Setting{Key: "log_format", Value: config.OneOf(&c.LogFormat, svc.LogFormats...),
			Help: "Log format on stderr: auto is text on a terminal and JSON under a service manager."},
		config.Setting{Key: "metrics_open", Value: config.Bool(&c.MetricsOpen),
			Help: "Serve /metrics without a token. When false, a scrape needs a bearer token\nwith the read scope ('attesta-hub token create --scope read')."},
		config.Setting{Key: "max_sessions", Value: config.Int(&c.MaxSessions, 1, 100000),
			Help: "Collectors syncing at once; more are told to retry later (429 with Retry-After)."},
		config.Setting{Key: "sync_window", Value: config.Int(&c.SyncWindow, 1, 64),
			Help: "Batches a collector may have in flight before it waits for acks."},
		config.Setting{Key: "sync_max_batch", Value: config.Int(&c.SyncMaxBatch, 1, 5000),
			Help: "Records per batch a collector may send."},
		config.Setting{Key: "sync_max_batch_bytes", Value: config.Int(&c.SyncMaxBytes, 64<<10, 64<<20),
			Help: "Encoded bytes per batch a collector may send (8388608 is 8 MiB)."},
		config.Setting{Key: "time_zone", Value: config.String(&c.TimeZone, "an IANA time zone name such as Europe/Rome", checkZone),
			Help: "The controller's time zone: rights requests fall due on dates there\n(one month from the day of receipt, GDPR Art. 12(3))."},
		config.Setting{Key: "retention_interval", Value: config.Duration(&c.RetentionInterval, 0, 30*24*time.Hour),
			Help: "How often 'run' sweeps retention: records expired consents and anonymises\npeople no purpose justifies any more. 0 turns the schedule off."},
		config.Setting{Key: "retention_grace", Value: config.Duration(&c.RetentionGrace, 0, 10*365*24*time.Hour),
			Help: "How long someone with no allowed purpose and no open request is kept\n(from their latest consent event) before the sweep anonymises them."},
		config.Setting{Key: "webhook_max_backoff", Value: config.Duration(&c.WebhookBackoff, time.Second, 24*time.Hour),
			Help: "Longest wait between two attempts to deliver to a webhook that is down\n(retries never stop; they start at 1s and double, with jitter)."},
		config.Setting{Key: "webhook_timeout", Value: config.Duration(&c.WebhookTimeout, time.Second, 5*time.Minute),
			Help: "How long one webhook delivery may take before it counts as failed and is retried."},
		config.Setting{Key: "notification_retention", Value: config.Duration(&c.FeedKeep, time.Hour, 10*365*24*time.Hour),
			Help: "How long the change feed keeps a notification once every webhook has passed it\n(a paused or lagging webhook keeps what it has not passed); 'webhook add\n--from-start' replays what is kept."},
		config.Setting{Key: "check_index", Value: config.Bool(&c.CheckIndex),
			Help: "Answer consent checks from memory: every identifier's subject and every\nsubject's decisions, about 375 bytes per person with five purposes, read\nat start (about 12s per million people) and kept in step with the\ndatabase. false answers from the database alone, about 8 times slower."},
		config.Setting{Key: "webhook_log_retention", Value: config.Duration(&c.WebhookLogKeep, time.Hour, 10*365*24*time.Hour),
			Help: "How long the webhook delivery log keeps an attempt (refused ones are kept until\nthe webhook is removed)."},
	)
}

// applyTo sets the store's settings.
func (c *Config) applyTo(st *sqlite.Store) error {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return fmt.Errorf("time_zone: %w", err)
	}
	st.Location, st.RetentionGrace = loc, c.RetentionGrace
	return nil
}

func checkZone(name string) error {
	if _, err := time.LoadLocation(name); err != nil || name == "" || name == "Local" {
		return fmt.Errorf("%q is not an IANA time zone name such as Europe/Rome", name)
	}
	return nil
}

// configCmd prints the default settings or the effective ones.
func configCmd(args []string, stdout io.Writer) error {
	c := NewConfig()
	return c.Loader().Command(newFlagSet("config print"), args, stdout)
}
