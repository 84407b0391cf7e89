// Package agentconfig parses and checks the settings of bpfprof agent
// (package agent re-exports them). It is a package of its own, with no
// dependency beyond the TOML parser, so that fuzzing its parser does not
// instrument (and scan the coverage of) the agent's exporters.
package agentconfig

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Defaults of the agent's settings.
const (
	// DefaultMetricsAddr is where the metrics endpoint listens when it is
	// enabled without an address (the port registered for OpenTelemetry's
	// Prometheus exporter, free on most hosts).
	DefaultMetricsAddr = "127.0.0.1:9464"
	// DefaultFrequency is the sampling rate per CPU: a prime, so that it
	// does not beat with periodic work, and low enough for continuous use.
	DefaultFrequency = 19
	// DefaultProfileInterval is the length of one exported profile.
	DefaultProfileInterval = 60 * time.Second
	// DefaultProfileKeep is how many profiles --profile-dir keeps.
	DefaultProfileKeep = 10
	// DefaultQueue is how many profiles may wait for each backend.
	DefaultQueue = 4
	// DefaultRetries is how often a failed send is tried again.
	DefaultRetries = 3
	// DefaultSendTimeout bounds one send to a backend.
	DefaultSendTimeout = 10 * time.Second
	// DefaultMaxPrograms bounds the programs exported as series.
	DefaultMaxPrograms = 1000
)

// Config is what the agent does. The zero value does nothing useful: start
// from Defaults.
type Config struct {
	// MetricsAddr is the host:port of the Prometheus endpoint (/metrics);
	// "" serves none.
	MetricsAddr string `toml:"metrics_addr"`
	// Frequency is the sampling rate in Hz per CPU.
	Frequency uint64 `toml:"frequency"`
	// ProfileInterval is the span of each profile.
	ProfileInterval Duration `toml:"profile_interval"`
	// OTLPEndpoint is the base URL of an OpenTelemetry Collector's OTLP/HTTP
	// receiver (http://host:4318); profiles go to /v1development/profiles.
	OTLPEndpoint string `toml:"otlp_endpoint"`
	// PyroscopeURL is the base URL of a Pyroscope server's push API.
	PyroscopeURL string `toml:"pyroscope_url"`
	// ProfileDir is a directory the profiles are written to, keeping the
	// last ProfileKeep.
	ProfileDir  string `toml:"profile_dir"`
	ProfileKeep int    `toml:"profile_keep"`
	// AllStacks keeps samples without a BPF frame in the profiles too; by
	// default only stacks through BPF programs are kept, which bounds the
	// agent's memory by the BPF code paths rather than by all the host's.
	AllStacks bool `toml:"all_stacks"`
	// UserSymbols names user-space frames (reads /proc/PID/maps and ELF
	// symbol tables: more memory and CPU).
	UserSymbols bool `toml:"user_symbols"`
	// MaxPrograms bounds the programs exported as labelled series: the
	// busiest by run time are kept.
	MaxPrograms int `toml:"max_programs"`
	// Queue is how many profiles may wait for each backend; the oldest
	// is dropped (and counted) when it is full.
	Queue int `toml:"queue"`
	// Retries is how many times a failed send is tried again, with
	// exponential backoff, before the profile is dropped.
	Retries int `toml:"retries"`
	// SendTimeout bounds each send.
	SendTimeout Duration `toml:"send_timeout"`
	// ServiceName is the service.name resource attribute.
	ServiceName string `toml:"service_name"`
}

// Defaults returns the default configuration: sampling at DefaultFrequency,
// a profile every minute, no backend, no metrics endpoint.
func Defaults() Config {
	return Config{
		Frequency:       DefaultFrequency,
		ProfileInterval: Duration(DefaultProfileInterval),
		ProfileKeep:     DefaultProfileKeep,
		MaxPrograms:     DefaultMaxPrograms,
		Queue:           DefaultQueue,
		Retries:         DefaultRetries,
		SendTimeout:     Duration(DefaultSendTimeout),
		ServiceName:     "bpfprof",
	}
}

// Duration is a time.Duration read from a config file as "60s" or "1m30s".
type Duration time.Duration

// UnmarshalText parses a Go duration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 60s or 1m30s", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as Go does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ParseConfig reads a TOML config file over base: the keys present replace
// base's values. Unknown keys are an error, so a typo is not silently
// ignored. The result is validated.
func ParseConfig(data []byte, base Config) (Config, error) {
	cfg := base
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config: %s", oneLine(err.Error()))
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config: unknown key %s", strings.Join(keys, ", "))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// oneLine keeps the first line of a parser's message.
func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Validate checks that the settings make sense together.
func (c *Config) Validate() error {
	switch {
	case c.Frequency == 0:
		return errors.New("frequency must be above 0 Hz")
	case c.Frequency > 100000:
		return fmt.Errorf("frequency %d Hz is not a continuous profiler's rate: use 19 to 999", c.Frequency)
	case time.Duration(c.ProfileInterval) < time.Second:
		return fmt.Errorf("profile interval %v is below 1s", time.Duration(c.ProfileInterval))
	case c.ProfileKeep < 1:
		return errors.New("profile_keep must be at least 1")
	case c.MaxPrograms < 1:
		return errors.New("max_programs must be at least 1")
	case c.Queue < 1:
		return errors.New("queue must hold at least 1 profile")
	case c.Retries < 0:
		return errors.New("retries must not be negative")
	case time.Duration(c.SendTimeout) <= 0:
		return errors.New("send_timeout must be above 0")
	case c.ServiceName == "":
		return errors.New("service_name must not be empty")
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return fmt.Errorf("metrics address %q: want host:port, such as %s", c.MetricsAddr, DefaultMetricsAddr)
		}
	}
	for _, u := range []struct{ name, v string }{{"otlp_endpoint", c.OTLPEndpoint}, {"pyroscope_url", c.PyroscopeURL}} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%s %q: want an http:// or https:// URL", u.name, u.v)
		}
	}
	return nil
}
