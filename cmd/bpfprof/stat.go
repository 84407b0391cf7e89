package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/session"
	"github.com/bpfprof/bpfprof/stat"
)

const statSynopsis = "[PROG ...] [-e EVENT[,EVENT...]] [-d DURATION | -- COMMAND [ARGS]] [-I INTERVAL] [-r N] [-j | -x SEP] [--sort COLUMN] [--top N] [--latency]\n\n" +
	"PROG: " + bpfprog.SelectorUsage + " (several allowed; none: every program that runs)."

// statDefaultFrequency is the sampling rate of sampled counts: perf's 999
// Hz stays clear of timer ticks and costs little.
const statDefaultFrequency = 999

// statPollInterval is how often stat reads the counters between intervals,
// so a program unloaded meanwhile keeps what it did up to that long before
// its unload.
const statPollInterval = 250 * time.Millisecond

// statConfig is a parsed stat command line.
type statConfig struct {
	selectors []bpfprog.Selector
	events    []sampler.Event
	duration  time.Duration
	interval  time.Duration
	repeat    int
	json      bool
	csv       string
	sortKey   string
	top       int
	latency   bool
	frequency uint64
	command   []string
}

// parseStatArgs parses the flags and program selectors of bpfprof stat, in
// any order, up to "--" and the command.
func parseStatArgs(args []string, stderr io.Writer) (*statConfig, error) {
	var command []string
	for i, a := range args {
		if a == "--" {
			args, command = args[:i], args[i+1:]
			break
		}
	}
	fs := newFlagSet("stat", statSynopsis, stderr)
	var events eventSpecs
	fs.VarP(&events, "event", "e", "count these `EVENTS` (comma-separated, or -e again; default cycles,instructions with a hardware PMU, else cpu-clock)")
	dur := fs.StringP("duration", "d", "", "stop after `DURATION` (5, 2.5, 1m30s); default: until Ctrl-C or the command exits")
	interval := fs.StringP("interval-print", "I", "", "print counts every `INTERVAL` (200ms, 1s, or seconds)")
	repeat := fs.IntP("repeat", "r", 1, "repeat the measurement `N` times and print means with ( +- x.xx% )")
	jsonOut := fs.BoolP("json", "j", false, "print JSON lines: one object per program per interval")
	csv := fs.StringP("field-separator", "x", "", "print CSV with separator `SEP`, in perf stat's field order")
	sortKey := fs.String("sort", "run-time", "order programs by `COLUMN`: "+strings.Join(stat.SortKeys, ", ")+", or an event name")
	top := fs.Int("top", 0, "show only the first `N` programs after sorting (0: all)")
	latency := fs.Bool("latency", false, "add a log2 histogram of single-run durations per program with p50/p90/p99/max (needs exact counting: fentry on BPF programs)")
	freq := fs.Uint64P("freq", "F", statDefaultFrequency, "sample at `HZ` per CPU for sampled counts")

	cfg := &statConfig{command: command}
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	rest := fs.Args()
	for len(rest) > 0 {
		sel, after, err := bpfprog.ParseSelector(rest)
		if err != nil {
			return nil, usagef("%v", err)
		}
		if len(after) == len(rest) {
			return nil, usagef("unexpected argument %q: programs are %s; a command goes after --", rest[0], bpfprog.SelectorUsage)
		}
		cfg.selectors = append(cfg.selectors, sel)
		rest = after
	}
	set := map[string]bool{}
	fs.Visit(func(f *pflag.Flag) { set[f.Shorthand] = true; set[f.Name] = true })
	var err error
	if set["d"] {
		if cfg.duration, err = parseDuration(*dur); err != nil {
			return nil, usagef("-d: %v", err)
		}
	}
	if set["I"] {
		if cfg.interval, err = parseDuration(*interval); err != nil {
			return nil, usagef("-I: %v", err)
		}
		if cfg.interval < 10*time.Millisecond {
			return nil, usagef("-I %s: the shortest interval is 10ms", *interval)
		}
	}
	if cfg.duration > 0 && len(command) > 0 {
		return nil, usagef("-d and a command are exclusive: counting ends at one or the other")
	}
	if *repeat < 1 {
		return nil, usagef("-r must be 1 or more")
	}
	if *repeat > 1 && cfg.duration == 0 && len(command) == 0 {
		return nil, usagef("-r needs -d or a command: each run must end by itself")
	}
	if *jsonOut && set["x"] {
		return nil, usagef("--json and -x are exclusive")
	}
	if set["x"] && *csv == "" {
		return nil, usagef("-x needs a separator, such as -x ,")
	}
	if *top < 0 {
		return nil, usagef("--top must be 0 or more")
	}
	if *freq == 0 {
		return nil, usagef("-F must be above 0")
	}
	cfg.repeat, cfg.json, cfg.csv, cfg.sortKey, cfg.top, cfg.latency, cfg.frequency = *repeat, *jsonOut, *csv, *sortKey, *top, *latency, *freq
	for _, spec := range events {
		for _, name := range strings.Split(spec, ",") {
			ev, err := sampler.ParseEvent(strings.TrimSpace(name))
			if err != nil {
				return nil, usagef("-e: %v", err)
			}
			cfg.events = append(cfg.events, ev)
		}
	}
	if len(cfg.events) == 0 {
		cfg.events = defaultStatEvents()
	}
	if len(cfg.events) > stat.MaxExactEvents {
		return nil, usagef("-e: at most %d events at once", stat.MaxExactEvents)
	}
	var names []stat.Event
	for _, e := range cfg.events {
		names = append(names, stat.Event{Name: e.String(), Supported: true})
	}
	if err := stat.SortRows(nil, names, cfg.sortKey); err != nil {
		return nil, usagef("--sort: %v", err)
	}
	return cfg, nil
}

// defaultStatEvents are cycles and instructions where the machine has a
// hardware PMU, else cpu-clock, as perf stat would choose.
func defaultStatEvents() []sampler.Event {
	if ev := sampler.DefaultEvent(); ev.IsHardware() {
		insn, _ := sampler.ParseEvent("instructions")
		return []sampler.Event{ev, insn}
	}
	return []sampler.Event{sampler.DefaultEvent()}
}

func runStat(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseStatArgs(args, stderr)
	if err != nil {
		return err
	}
	return runStatConfig(context.Background(), cfg, stdout, stderr)
}

// runStatConfig counts as cfg says, -r times, and prints the intervals and
// the totals. SIGINT, SIGTERM, SIGHUP and SIGQUIT end the counting and still print
// the totals. After a command it returns an exitCodeError with the
// command's status.
func runStatConfig(ctx context.Context, cfg *statConfig, stdout, stderr io.Writer) error {
	// CAP_SYS_ADMIN, which listing needs, also lets perf_event_open
	// sample every CPU and read the counters: one check names what is
	// missing.
	if err := bpfprog.CheckAccess(); err != nil {
		return err
	}
	ctx, stopSignals := notifyEnd(ctx)
	defer stopSignals()

	stats, err := bpfprog.OpenStats()
	if err != nil {
		return err
	}
	defer stats.Close()
	if stats.AlreadyEnabled() {
		fmt.Fprintln(stderr, "note: kernel.bpf_stats_enabled was already 1; it is left on")
	}
	events := probeEvents(cfg.events)
	for _, e := range events {
		if !e.Supported {
			fmt.Fprintf(stderr, "note: %s\n", e.Reason)
		}
	}
	var totals []stat.Block
	code := 0
	noted := map[string]bool{}
	for rep := 0; rep < cfg.repeat; rep++ {
		b, c, err := statOnce(ctx, cfg, events, stats, stdout, stderr, noted)
		if err != nil {
			return err
		}
		totals = append(totals, b)
		code = c
		if ctx.Err() != nil {
			break // interrupted: the runs so far
		}
	}
	out := totals[0]
	if len(totals) > 1 {
		out = stat.Mean(totals)
	}
	if err := sortTop(&out, cfg); err != nil {
		return err
	}
	if err := writeStat(stdout, &out, cfg, false, len(totals)); err != nil {
		return fmt.Errorf("write the counts: %w", err)
	}
	if code != 0 {
		return exitCodeError{code}
	}
	return nil
}

// probeEvents says which events the machine can count, by opening each as
// a counter on CPU 0 for a moment.
func probeEvents(evs []sampler.Event) []stat.Event {
	out := make([]stat.Event, 0, len(evs))
	for _, e := range evs {
		se := stat.Event{Name: e.String(), Clock: e.IsClock(), Supported: true}
		fd, err := sampler.OpenCounter(e, 0)
		if err != nil {
			se.Supported, se.Reason = false, err.Error()
		} else {
			syscall.Close(fd)
		}
		out = append(out, se)
	}
	return out
}

// statOnce runs one measurement and returns its totals and the exit code
// of its command (0 without one). Intervals are printed as they end.
func statOnce(ctx context.Context, cfg *statConfig, events []stat.Event, stats *bpfprog.Stats, stdout, stderr io.Writer, noted map[string]bool) (stat.Block, int, error) {
	var supported []sampler.Event
	for i, e := range events {
		if e.Supported {
			supported = append(supported, cfg.events[i])
		}
	}
	src := stat.Sources{
		List: func() ([]bpfprog.Program, error) {
			return bpfprog.List(bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
		},
		Program: func(id bpfprog.ID) (*bpfprog.Program, error) {
			return bpfprog.Get(id, bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
		},
		Snapshot: stats.Snapshot,
	}
	note := func(msg string) {
		if !noted[msg] {
			noted[msg] = true
			fmt.Fprintf(stderr, "%s\n", msg)
		}
		if cfg.latency && strings.HasPrefix(msg, "exact counting unavailable") {
			note2 := "--latency: no histogram where counts are sampled: it needs fentry/fexit on the program"
			if !noted[note2] {
				noted[note2] = true
				fmt.Fprintf(stderr, "%s\n", note2)
			}
		}
	}
	if len(supported) > 0 {
		fe, err := stat.OpenFentry(supported, cfg.latency)
		if err != nil {
			note(fmt.Sprintf("exact counting unavailable: %v; counts are sampled", err))
		} else {
			defer fe.Close()
			src.Exact = fe
		}
	}
	var ch *child
	if len(cfg.command) > 0 {
		var err error
		if ch, err = startChild(cfg.command, stdout, stderr); err != nil {
			var ce commandError
			if errors.As(err, &ce) {
				fmt.Fprintf(stderr, "bpfprof stat: %v\n", ce)
				return stat.Block{}, 0, exitCodeError{ce.code}
			}
			return stat.Block{}, 0, err
		}
		defer ch.kill()
	}
	c := stat.New(src, stat.Options{Selectors: cfg.selectors, Events: events, Sampling: len(supported) > 0})
	// The session runs the sampling pipeline (privilege check, rings,
	// queue, shutdown); the Counter takes its raw samples and attributes
	// each one's IP to a program's JIT image itself, so nothing is
	// symbolized or aggregated.
	var sess *session.Session
	if len(supported) > 0 {
		var err error
		sess, err = session.Open(session.Options{
			Sampler: sampler.Options{Events: supported, Frequency: cfg.frequency},
			Handler: c,
			RawOnly: true,
		})
		if err != nil {
			return stat.Block{}, 0, err
		}
		defer sess.Close()
	}
	if err := c.Start(); err != nil {
		return stat.Block{}, 0, err
	}
	// Counting began at the end of Start, once the counters were
	// attached: -d and the intervals are timed from there.
	start := time.Now()
	for _, n := range c.Notes() {
		note(n)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sampled := make(chan error, 1)
	if sess != nil {
		go func() {
			sampled <- sess.Run(runCtx)
		}()
	} else {
		sampled <- nil
	}
	var childDone <-chan struct{}
	if ch != nil {
		if err := ch.release(); err != nil {
			return stat.Block{}, 0, err
		}
		childDone = ch.done
	}
	var deadline <-chan time.Time
	if cfg.duration > 0 && cfg.interval == 0 {
		// With -I the last interval ends the run.
		t := time.NewTimer(cfg.duration)
		defer t.Stop()
		deadline = t.C
	}
	// Readings between intervals keep what a program did up to shortly
	// before its unload: the kernel's counters go with the program.
	poll := time.NewTicker(statPollInterval)
	defer poll.Stop()
	header := true
	printInterval := func() error {
		if err := c.Read(); err != nil {
			return err
		}
		b := c.Interval()
		if err := sortTop(&b, cfg); err != nil {
			return err
		}
		if header && cfg.csv == "" && !cfg.json {
			fmt.Fprintln(stdout, stat.IntervalHeader)
		}
		header = false
		for _, n := range c.Notes() {
			note(n)
		}
		return writeStat(stdout, &b, cfg, true, 1)
	}
	n := 0 // intervals printed
	var timer *time.Timer
	var tick <-chan time.Time
	last := false
	armInterval := func() {
		if cfg.interval == 0 {
			return
		}
		next := time.Duration(n+1) * cfg.interval
		if cfg.duration > 0 && next >= cfg.duration {
			// The last interval ends with the run, so the intervals
			// add up to the totals.
			next, last = cfg.duration, true
		}
		timer = time.NewTimer(time.Until(start.Add(next)))
		tick = timer.C
	}
	armInterval()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		end, printed := false, false
		select {
		case <-tick:
			if err := printInterval(); err != nil {
				return stat.Block{}, 0, err
			}
			end, printed = last, true
			n++
			armInterval()
		case <-deadline:
			end = true
		case <-childDone:
			end = true
		case <-ctx.Done():
			end = true
		case <-poll.C:
			if err := c.Read(); err != nil {
				return stat.Block{}, 0, err
			}
			for _, n := range c.Notes() {
				note(n)
			}
		case err := <-sampled:
			if err != nil {
				return stat.Block{}, 0, err
			}
			sampled = nil
		}
		if !end {
			continue
		}
		if cfg.interval > 0 && !printed {
			// The partial interval up to the end.
			if err := printInterval(); err != nil {
				return stat.Block{}, 0, err
			}
		} else if cfg.interval == 0 {
			if err := c.Read(); err != nil {
				return stat.Block{}, 0, err
			}
		}
		break
	}
	cancel()
	if sess != nil {
		// Close waits until the queued samples are counted.
		sess.Close()
	}
	for _, n := range c.Notes() {
		note(n)
	}
	b := c.Totals()
	code := 0
	if ch != nil {
		code = ch.stop().exitCode()
	}
	return b, code, nil
}

// sortTop orders b's rows as --sort says and keeps --top of them.
func sortTop(b *stat.Block, cfg *statConfig) error {
	if err := stat.SortRows(b.Rows, b.Events, cfg.sortKey); err != nil {
		return usagef("--sort: %v", err)
	}
	if cfg.top > 0 && len(b.Rows) > cfg.top {
		b.Rows = b.Rows[:cfg.top]
	}
	return nil
}

func writeStat(w io.Writer, b *stat.Block, cfg *statConfig, interval bool, repeats int) error {
	switch {
	case cfg.json:
		return stat.WriteJSON(w, b, interval, repeats)
	case cfg.csv != "":
		return stat.WriteCSV(w, b, cfg.csv, interval)
	case interval:
		return stat.WriteInterval(w, b)
	}
	return stat.WriteText(w, b, repeats)
}
