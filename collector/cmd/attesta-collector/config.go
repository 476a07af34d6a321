package main

import (
	"errors"
	"io"
	"time"

	"github.com/attesta/attesta/shared/config"
	"github.com/attesta/attesta/shared/svc"
)

// Config is every setting of the collector; NewConfig has the defaults.
type Config struct {
	DataDir         string
	Listen          string
	HubURL          string
	Idle            time.Duration
	OperatorPIN     string
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
}

// NewConfig returns the defaults.
func NewConfig() Config {
	return Config{DataDir: config.DefaultDataDir("attesta-collector"), Listen: "127.0.0.1:8701", Idle: 60 * time.Second, ShutdownTimeout: 10 * time.Second,
		LogLevel: "info", LogFormat: "auto"}
}

// Loader binds the settings to c's fields.
func (c *Config) Loader() *config.Loader {
	return config.New("attesta-collector", "ATTESTA_COLLECTOR_",
		config.Setting{Key: "data", Value: config.Path(&c.DataDir),
			Help: "Data folder: collector.db (the outbox, the device key, the catalog).\nDefault: /var/lib/attesta-collector as root, else ~/.local/share/attesta-collector."},
		config.Setting{Key: "listen", Value: config.HostPort(&c.Listen),
			Help: "Address for the kiosk page, the local API and /metrics. Keep it on localhost."},
		config.Setting{Key: "hub_url", Value: config.URL(&c.HubURL, true),
			Help: "Hub to sync with, when it is no longer where this collector enrolled\n(a new name, a proxy). Empty: the URL given at enrollment."},
		config.Setting{Key: "idle_reset", Value: config.Duration(&c.Idle, time.Second, time.Hour), Alias: "idle",
			Help: "The kiosk clears the form after this long without a touch."},
		config.Setting{Key: "operator_pin", Value: config.String(&c.OperatorPIN, `4 to 12 digits, or "" to keep the PIN set at enrollment or by 'pin set'`, checkPIN), Secret: true,
			Help: "Operator screen PIN, applied at start (only its salted hash is stored).\nNo flag: a command line is visible to every user of the machine."},
		config.Setting{Key: "shutdown_timeout", Value: config.Duration(&c.ShutdownTimeout, time.Second, 5*time.Minute),
			Help: "On stop: how long captures in progress may take to answer and batches in\nflight to be acknowledged before the rest is cut off."},
		config.Setting{Key: "log_level", Value: config.OneOf(&c.LogLevel, svc.LogLevels...),
			Help: "Least important log level written."},
		config.Setting{Key: "log_format", Value: config.OneOf(&c.LogFormat, svc.LogFormats...),
			Help: "Log format on stderr: auto is text on a terminal and JSON under a service manager."},
	)
}

func checkPIN(p string) error {
	if p != "" && !validPIN(p) {
		return errors.New("want 4 to 12 digits")
	}
	return nil
}

// configCmd prints the default settings or the effective ones.
func configCmd(args []string, stdout io.Writer) error {
	c := NewConfig()
	return c.Loader().Command(newFlagSet("config print"), args, stdout)
}
