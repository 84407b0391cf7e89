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

	"github.com/spf13/pflag"

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
	configFile := fs.String("config", "", "read settings from this TOML `FILE` (keys as the long flags, with _ for -); SIGHUP rereads it")
	// The settings a config file also has bind to a scratch config: parsing
	// checks their values now; apply replays the ones given over the file's.
	scratch := agent.Defaults()
	bindAgentConfig(fs.FlagSet, &scratch)
	once := fs.Bool("once", false, "export one interval's profile, then exit (non-zero if a backend did not take it)")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of key=value lines")
	verbose := fs.BoolP("verbose", "v", false, "log debug lines too")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	type setting struct{ name, value string }
	var given []setting
	fs.Visit(func(f *pflag.Flag) {
		if f.Annotations[agentSetting] != nil {
			given = append(given, setting{f.Name, f.Value.String()})
		}
	})
	apply := func(c *agent.Config) {
		over := pflag.NewFlagSet("agent", pflag.ContinueOnError)
		bindAgentConfig(over, c)
		for _, s := range given {
			// The values parsed once already; their String forms parse again.
			over.Set(s.name, s.value)
		}
		if over.Lookup("metrics").Value.String() == "true" && !over.Changed("metrics-addr") {
			c.MetricsAddr = agent.DefaultMetricsAddr
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

// agentSetting annotates the flags that bindAgentConfig binds: the
// settings a config file may also give.
const agentSetting = "agent-setting"

// bindAgentConfig defines on fs one flag per setting of c, bound to c's
// field and defaulting to its value (pflag sets a bound field to the
// default, so the default must be what c holds). --metrics is bound to
// nothing: apply turns it into the default metrics address.
func bindAgentConfig(fs *pflag.FlagSet, c *agent.Config) {
	d := *c
	fs.StringVar(&c.MetricsAddr, "metrics-addr", d.MetricsAddr, "serve Prometheus metrics at http://`HOST:PORT`/metrics; nothing listens unless this or --metrics is given")
	var metricsOn bool
	fs.BoolVar(&metricsOn, "metrics", false, "serve Prometheus metrics at http://"+agent.DefaultMetricsAddr+"/metrics")
	fs.Uint64VarP(&c.Frequency, "freq", "F", d.Frequency, "sample at this frequency in `HZ` per CPU")
	fs.Var((*durationFlag)(&c.ProfileInterval), "profile-interval", "export a profile every `DURATION`")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", d.OTLPEndpoint, "send profiles over OTLP/HTTP to this collector `URL` (e.g. http://127.0.0.1:4318; "+agent.OTLPPath+" is added)")
	fs.StringVar(&c.PyroscopeURL, "pyroscope-url", d.PyroscopeURL, "push profiles to this Pyroscope server `URL` (e.g. http://127.0.0.1:4040)")
	fs.StringVar(&c.ProfileDir, "profile-dir", d.ProfileDir, "write each profile to a file in `DIR`")
	fs.IntVar(&c.ProfileKeep, "profile-keep", d.ProfileKeep, "keep the last `N` profiles in --profile-dir")
	fs.BoolVar(&c.AllStacks, "all-stacks", d.AllStacks, "keep stacks without a BPF frame in the profiles too (more memory)")
	fs.BoolVar(&c.UserSymbols, "user-symbols", d.UserSymbols, "name user-space frames (more memory and CPU)")
	fs.IntVar(&c.MaxPrograms, "max-programs", d.MaxPrograms, "export per-program series for at most `N` programs, the busiest by run time")
	fs.IntVar(&c.Queue, "queue", d.Queue, "profiles that may wait per backend before the oldest is dropped")
	fs.IntVar(&c.Retries, "retries", d.Retries, "tries again a failed send this many `TIMES`, backing off")
	fs.Var((*durationFlag)(&c.SendTimeout), "send-timeout", "give up one send after `DURATION`")
	fs.StringVar(&c.ServiceName, "service-name", d.ServiceName, "the service.name of the profiles")
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "help" {
			fs.SetAnnotation(f.Name, agentSetting, []string{"yes"})
		}
	})
}

// durationFlag is a positive agent.Duration flag, given as seconds (5) or
// a Go duration (1m30s).
type durationFlag agent.Duration

func (d *durationFlag) String() string { return time.Duration(*d).String() }
func (d *durationFlag) Type() string   { return "duration" }

func (d *durationFlag) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationFlag(v)
	return nil
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
