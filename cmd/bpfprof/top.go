package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/debug"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/session"
	"github.com/bpfprof/bpfprof/tui"
)

const topSynopsis = "[-d DELAY] [--demo] [-e EVENT] [-F HZ] [--log FILE] | -b [-n N] [--sort COLUMN] [--filter TEXT]"

// topDefaultFrequency is top's sampling rate: low, as top runs for long,
// and odd, so that it does not beat with timers.
const topDefaultFrequency = 499

// errTopNotATerminal is the refusal to start the TUI without a terminal.
var errTopNotATerminal = errors.New("top needs a terminal; use `bpfprof top -b`, `bpfprof list` or `bpfprof stat`")

// topConfig is a parsed 'bpfprof top' command line.
type topConfig struct {
	delay      time.Duration
	batch      bool
	iterations int
	demo       bool
	event      sampler.Event
	eventSet   bool
	frequency  uint64
	logFile    string
	sort       string
	filter     string
}

// topDelay is the -d/--delay flag.
type topDelay struct{ d *time.Duration }

func (t topDelay) String() string {
	if t.d == nil {
		return ""
	}
	return t.d.String()
}

func (t topDelay) Type() string { return "delay" }

func (t topDelay) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	if d < tui.MinDelay || d > tui.MaxDelay {
		return fmt.Errorf("delay %s out of range: give %s to %s", d, tui.MinDelay, tui.MaxDelay)
	}
	*t.d = d
	return nil
}

func parseTopArgs(args []string, stderr io.Writer) (*topConfig, error) {
	fs := newFlagSet("top", topSynopsis, stderr)
	cfg := &topConfig{delay: tui.DefaultDelay, frequency: topDefaultFrequency}
	delay := topDelay{&cfg.delay}
	fs.VarP(delay, "delay", "d", "refresh every `DELAY` (1, 0.5, 2s); + and - change it live")
	fs.BoolVarP(&cfg.batch, "once", "b", false, "batch mode: print the table to standard output every DELAY, as 'top -b'")
	fs.IntVarP(&cfg.iterations, "iterations", "n", 0, "with -b, stop after `N` tables (default: until interrupted)")
	fs.BoolVar(&cfg.demo, "demo", false, "load the bundled demo programs, drive them at changing rates, unload them on exit")
	var events eventSpecs
	fs.VarP(&events, "event", "e", "sample this `EVENT` while top runs (default cycles with a hardware PMU, else cpu-clock)")
	fs.Uint64VarP(&cfg.frequency, "freq", "F", topDefaultFrequency, "sample at `HZ` per CPU")
	fs.StringVar(&cfg.logFile, "log", "", "write diagnostics to `FILE` (the screen belongs to the TUI)")
	fs.StringVar(&cfg.sort, "sort", "", "with -b, sort by `COLUMN`: "+strings.Join(tui.SortColumns(), ", ")+" (default CPU%)")
	fs.StringVar(&cfg.filter, "filter", "", "with -b, show only programs whose name, type, attach point or process contains `TEXT`")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usagef("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.iterations < 0:
		return nil, usagef("-n must be 1 or more")
	case cfg.iterations > 0 && !cfg.batch:
		return nil, usagef("-n counts batch tables; use it with -b")
	case cfg.frequency == 0:
		return nil, usagef("-F must be above 0")
	case len(events) > 1:
		return nil, usagef("-e: one event at a time")
	}
	if cfg.sort != "" {
		if _, ok := tui.SortColumn(cfg.sort); !ok {
			return nil, usagef("--sort %q: one of %s", cfg.sort, strings.Join(tui.SortColumns(), ", "))
		}
	}
	cfg.event = sampler.DefaultEvent()
	if len(events) == 1 {
		ev, err := sampler.ParseEvent(events[0])
		if err != nil {
			return nil, usagef("-e: %v", err)
		}
		cfg.event, cfg.eventSet = ev, true
	}
	return cfg, nil
}

func runTop(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseTopArgs(args, stderr)
	if err != nil {
		return err
	}
	if !cfg.batch && !isTerminal(stdout) {
		return errTopNotATerminal
	}
	// SIGTERM, SIGHUP (the terminal went away) and SIGQUIT end top like q does:
	// the TUI restores the terminal, the deferred closes detach the demo,
	// the sampling and the stats.
	ctx, stop := notifyEnd(context.Background())
	defer stop()
	return top(ctx, cfg, stdout, stderr)
}

// topMemoryLimit is the soft limit on top's Go heap: a live view that runs
// for hours should give back what a burst (listing hundreds of programs)
// took, rather than keep it until the runtime's scavenger gets to it.
const topMemoryLimit = 40 << 20

func top(ctx context.Context, cfg *topConfig, stdout, stderr io.Writer) (err error) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(topMemoryLimit))
	if err := bpfprog.CheckAccess(); err != nil {
		return err
	}
	var logger *log.Logger
	if cfg.logFile != "" {
		f, err := os.OpenFile(cfg.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--log: %w", err)
		}
		defer f.Close()
		logger = log.New(f, "bpfprof top: ", log.LstdFlags|log.Lmicroseconds)
	}
	logf := topLogger(logger)

	if cfg.demo {
		stopDemo, err := testprogs.DemoWith(ctx, testprogs.DemoOptions{Varying: true})
		if err != nil {
			return err
		}
		defer func() {
			if serr := stopDemo(); err == nil && serr != nil {
				err = serr
			}
		}()
	}

	stats, err := bpfprog.OpenStats()
	if err != nil {
		return err
	}
	defer stats.Close()

	src := &liveSource{stats: stats, demo: cfg.demo, logf: logf, mapMem: map[uint32]mapFacts{}}
	sess, err := session.Open(session.Options{
		Sampler: sampler.Options{
			Events:    []sampler.Event{cfg.event},
			Frequency: cfg.frequency,
			CallGraph: true,
		},
		// Top shows kernel and BPF frames only: user-space symbols
		// would cost seconds at start and most of its memory.
		NoUserSymbols: true,
		// Top reads per-second Deltas: what was not sampled for a
		// minute can go, so that hours of process and program churn
		// keep memory flat.
		Window: time.Minute,
		Warn:   func(w string) { logf("%s", w) },
	})
	switch {
	case err != nil && cfg.eventSet:
		return err
	case err != nil:
		// Top still shows the run-time stats without samples.
		src.samplingNote = err.Error()
		logf("sampling off: %v", err)
	default:
		defer sess.Close()
		sess.Start(ctx)
		src.sess, src.tracker, src.event, src.frequency = sess, sess.NewTracker(), cfg.event.String(), cfg.frequency
	}

	if cfg.batch {
		return topBatch(ctx, cfg, src, stdout)
	}
	// 20 frames a second at most: keys still echo at once to the eye,
	// and an idle top wakes a third as often as at Bubble Tea's 60.
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithoutSignalHandler(), tea.WithOutput(stdout), tea.WithFPS(20)}
	if os.Getenv("NO_COLOR") != "" {
		plain := tui.PlainStyles()
		m := tui.New(tui.Options{Source: src, Delay: cfg.delay, Styles: &plain, Context: ctx})
		_, err = tea.NewProgram(m, opts...).Run()
	} else {
		m := tui.New(tui.Options{Source: src, Delay: cfg.delay, Context: ctx})
		_, err = tea.NewProgram(m, opts...).Run()
	}
	switch {
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil:
		// A signal: the terminal is restored; leave as q does.
		logf("ended by a signal")
		return nil
	case errors.Is(err, tea.ErrProgramPanic):
		return fmt.Errorf("internal error (the terminal is restored; please report it): %w", err)
	}
	return err
}

// topBatch prints a table every delay, as 'top -b' does: the first after
// one delay, so that it has rates.
func topBatch(ctx context.Context, cfg *topConfig, src *liveSource, stdout io.Writer) error {
	if _, err := src.Refresh(ctx); err != nil {
		return err
	}
	t := time.NewTicker(cfg.delay)
	defer t.Stop()
	for i := 0; cfg.iterations == 0 || i < cfg.iterations; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		f, err := src.Refresh(ctx)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(stdout, "\n"); err != nil {
				return err
			}
		}
		if err := tui.WriteBatch(stdout, f, tui.BatchOptions{Filter: cfg.filter, Sort: cfg.sort}); err != nil {
			return err
		}
	}
	return nil
}
