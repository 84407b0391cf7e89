package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/bpfprof/bpfprof/agent"
)

const agentSynopsis = "[--config FILE] [--metrics | --metrics-addr HOST:PORT] [-F HZ] [--profile-interval DURATION] [--otlp-endpoint URL] [--pyroscope-url URL] [--profile-dir DIR [--profile-keep N]] [--once]"

const agentAbout = `Runs in the foreground for systemd and the like: serves per-program metrics to
Prometheus and exports a profile of BPF code every interval to an OpenTelemetry
Collector (OTLP), Pyroscope, and/or a directory. Logs go to stderr as structured
lines; SIGTERM or SIGINT end it after sending the current interval; SIGHUP
rereads --config. Settings: defaults, then the TOML file, then the flags given.`

// agentArgs is a parsed agent command line.
type agentArgs struct {
	configFile string
	once       bool
	logJSON    bool
	verbose    bool
	// apply sets the flags given on the command line over a config.
	apply func(*agent.Config)
}

func parseAgentArgs(args []string, stderr io.Writer) (*agentArgs, error) {
	fs := newFlagSet("agent", agentSynopsis+"\n\n"+agentAbout, stderr)
	d := agent.Defaults()
	configFile := fs.String("config", "", "read settings from this TOML `FILE` (keys as the long flags, with _ for -); SIGHUP rereads it")
	metrics := fs.String("metrics-addr", "", "serve Prometheus metrics at http://`HOST:PORT`/metrics; nothing listens unless this or --metrics is given")
	metricsOn := fs.Bool("metrics", false, "serve Prometheus metrics at http://"+agent.DefaultMetricsAddr+"/metrics")
	freq := fs.Uint64P("freq", "F", d.Frequency, "sample at this frequency in `HZ` per CPU")
	interval := fs.String("profile-interval", time.Duration(d.ProfileInterval).String(), "export a profile every `DURATION`")
	otlp := fs.String("otlp-endpoint", "", "send profiles over OTLP/HTTP to this collector `URL` (e.g. http://127.0.0.1:4318; "+agent.OTLPPath+" is added)")
	pyro := fs.String("pyroscope-url", "", "push profiles to this Pyroscope server `URL` (e.g. http://127.0.0.1:4040)")
	dir := fs.String("profile-dir", "", "write each profile to a file in `DIR`")
	keep := fs.Int("profile-keep", d.ProfileKeep, "keep the last `N` profiles in --profile-dir")
	allStacks := fs.Bool("all-stacks", false, "keep stacks without a BPF frame in the profiles too (more memory)")
	userSyms := fs.Bool("user-symbols", false, "name user-space frames (more memory and CPU)")
	maxProgs := fs.Int("max-programs", d.MaxPrograms, "export per-program series for at most `N` programs, the busiest by run time")
	queue := fs.Int("queue", d.Queue, "profiles that may wait per backend before the oldest is dropped")
	retries := fs.Int("retries", d.Retries, "tries again a failed send this many `TIMES`, backing off")
	timeout := fs.String("send-timeout", time.Duration(d.SendTimeout).String(), "give up one send after `DURATION`")
	service := fs.String("service-name", d.ServiceName, "the service.name of the profiles")
	once := fs.Bool("once", false, "export one interval's profile, then exit (non-zero if a backend did not take it)")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of key=value lines")
	verbose := fs.BoolP("verbose", "v", false, "log debug lines too")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	set := fs.Changed
	var ivl, tmo time.Duration
	var err error
	if ivl, err = parseDuration(*interval); err != nil {
		return nil, usagef("--profile-interval: %v", err)
	}
	if tmo, err = parseDuration(*timeout); err != nil {
		return nil, usagef("--send-timeout: %v", err)
	}
	apply := func(c *agent.Config) {
		if set("metrics") && *metricsOn && !set("metrics-addr") {
			c.MetricsAddr = agent.DefaultMetricsAddr
		}
		if set("metrics-addr") {
			c.MetricsAddr = *metrics
		}
		if set("freq") {
			c.Frequency = *freq
		}
		if set("profile-interval") {
			c.ProfileInterval = agent.Duration(ivl)
		}
		if set("otlp-endpoint") {
			c.OTLPEndpoint = *otlp
		}
		if set("pyroscope-url") {
			c.PyroscopeURL = *pyro
		}
		if set("profile-dir") {
			c.ProfileDir = *dir
		}
		if set("profile-keep") {
			c.ProfileKeep = *keep
		}
		if set("all-stacks") {
			c.AllStacks = *allStacks
		}
		if set("user-symbols") {
			c.UserSymbols = *userSyms
		}
		if set("max-programs") {
			c.MaxPrograms = *maxProgs
		}
		if set("queue") {
			c.Queue = *queue
		}
		if set("retries") {
			c.Retries = *retries
		}
		if set("send-timeout") {
			c.SendTimeout = agent.Duration(tmo)
		}
		if set("service-name") {
			c.ServiceName = *service
		}
	}
	a := &agentArgs{configFile: *configFile, once: *once, logJSON: *logJSON, verbose: *verbose, apply: apply}
	// A bad flag value is a usage error now, not a runtime one later.
	c := agent.Defaults()
	apply(&c)
	if err := c.Validate(); err != nil && *configFile == "" {
		return nil, usagef("%v", err)
	}
	return a, nil
}

// load returns the configuration: defaults, the file, the flags.
func (a *agentArgs) load() (agent.Config, error) {
	c := agent.Defaults()
	if a.configFile != "" {
		b, err := os.ReadFile(a.configFile)
		if err != nil {
			return agent.Config{}, fmt.Errorf("config: %w", err)
		}
		if c, err = agent.ParseConfig(b, c); err != nil {
			return agent.Config{}, fmt.Errorf("%s: %w", a.configFile, err)
		}
	}
	a.apply(&c)
	if err := c.Validate(); err != nil {
		return agent.Config{}, err
	}
	return c, nil
}

func runAgent(args []string, stdout, stderr io.Writer) error {
	a, err := parseAgentArgs(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := a.load()
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if a.verbose {
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if a.logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	version := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		version = strings.TrimSpace(info.Main.Version)
	}
	ag, err := agent.New(cfg, agent.Options{
		Log:        slog.New(h),
		Version:    version,
		Reload:     reload,
		LoadConfig: a.load,
		Once:       a.once,
	})
	if err != nil {
		return err
	}
	return ag.Run(ctx)
}
