package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/pprof"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/session"
)

const recordSynopsis = "[-a | -p PID,... | --cgroup PATH] [-C CPUS] [-F HZ | -c PERIOD] [-e EVENT] [--no-call-graph] [-d DURATION] [--bpf-only] [-o FILE] [[--] COMMAND [ARGS]]"

// defaultOutput is where record writes without -o, like perf's perf.data.
const defaultOutput = "bpfprof.pb.gz"

// recordConfig is a parsed record command line.
type recordConfig struct {
	pids      []int
	cpus      []int
	cgroup    string
	frequency uint64
	period    uint64
	event     sampler.Event
	callGraph bool
	duration  time.Duration
	output    string
	bpfOnly   bool
	// command is run and profiled until it exits: only it (and its
	// children), or with systemWide the whole machine while it runs.
	command    []string
	systemWide bool
	// args is the command line as given, for the profile's comments.
	args []string
}

// parseRecordArgs parses the flags of bpfprof record. Mistakes are usage
// errors.
func parseRecordArgs(args []string, stderr io.Writer) (*recordConfig, error) {
	fs := newFlagSet("record", recordSynopsis, stderr)
	all := fs.Bool("a", false, "sample every process on every CPU (the default); with a command, while it runs")
	pids := fs.String("p", "", "sample only the processes `PIDS` (comma-separated) with their threads; children they start are followed while the processes live, as the recording ends when they exit (as perf's does)")
	cpus := fs.String("C", "", "sample only these `CPUS`, as a list such as 0,2-3")
	cgroup := fs.String("cgroup", "", "sample only the processes of this cgroup v2 `PATH` (e.g. /sys/fs/cgroup/system.slice)")
	freq := fs.Uint64("F", 0, "sample at this frequency in `HZ` per CPU (default 4000, as perf)")
	period := fs.Uint64("c", 0, "sample every `PERIOD` events (nanoseconds for cpu-clock); excludes -F")
	var events eventSpecs
	fs.Var(&events, "e", "sample this `EVENT`, such as cpu-clock, page-faults, cycles (default cycles with a hardware PMU, else cpu-clock); one per recording")
	callGraph := fs.Bool("g", true, "record call graphs; -g=false is --no-call-graph")
	noCallGraph := fs.Bool("no-call-graph", false, "record only the sampled instruction, no call graphs (wins over -g)")
	dur := fs.String("d", "", "stop after `DURATION` (5, 2.5, 1m30s); default: until Ctrl-C, or until the command or the -p processes exit")
	output := fs.String("o", defaultOutput, "write the profile to `FILE` (- for standard output)")
	bpfOnly := fs.Bool("bpf-only", false, "keep only samples with a BPF frame in their stack")
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	cfg := &recordConfig{
		cgroup:     *cgroup,
		frequency:  *freq,
		period:     *period,
		callGraph:  *callGraph && !*noCallGraph,
		output:     *output,
		bpfOnly:    *bpfOnly,
		command:    fs.Args(),
		systemWide: *all,
		args:       args,
	}
	var err error
	switch {
	case set["F"] && set["c"]:
		return nil, usagef("-F and -c are exclusive: sample by frequency or by period")
	case set["F"] && *freq == 0:
		return nil, usagef("-F must be above 0")
	case set["c"] && *period == 0:
		return nil, usagef("-c must be above 0")
	case !set["F"] && !set["c"]:
		cfg.frequency = sampler.DefaultFrequency
	}
	if set["p"] {
		if cfg.pids, err = parsePIDs(*pids); err != nil {
			return nil, usagef("-p: %v", err)
		}
	}
	targets := 0
	for _, on := range []bool{len(cfg.pids) > 0, cfg.cgroup != "", len(cfg.command) > 0} {
		if on {
			targets++
		}
	}
	switch {
	case targets > 1:
		return nil, usagef("choose one of -p, --cgroup and a command")
	case *all && (len(cfg.pids) > 0 || cfg.cgroup != ""):
		return nil, usagef("-a samples every process; it excludes -p and --cgroup")
	case set["cgroup"] && cfg.cgroup == "":
		return nil, usagef("--cgroup needs a path")
	}
	if set["C"] {
		if cfg.cpus, err = sampler.ParseCPUList(*cpus); err != nil || len(cfg.cpus) == 0 {
			return nil, usagef("-C %q: want a CPU list such as 0,2-3", *cpus)
		}
	}
	switch {
	case len(events) > 1 || len(events) == 1 && strings.Contains(events[0], ","):
		return nil, usagef("-e %s: one event per recording; record each event separately", strings.Join(events, " -e "))
	case len(events) == 0:
		cfg.event = sampler.DefaultEvent()
	default:
		if cfg.event, err = sampler.ParseEvent(events[0]); err != nil {
			return nil, usagef("-e: %v", err)
		}
	}
	if set["d"] {
		if cfg.duration, err = parseDuration(*dur); err != nil {
			return nil, usagef("-d: %v", err)
		}
	}
	if cfg.output == "" {
		return nil, usagef("-o needs a file name, or - for standard output")
	}
	return cfg, nil
}

// eventSpecs collects every -e, so that a second one is an error rather
// than silently replacing the first.
type eventSpecs []string

func (e *eventSpecs) String() string { return strings.Join(*e, ",") }

func (e *eventSpecs) Set(s string) error {
	*e = append(*e, s)
	return nil
}

// parsePIDs parses a comma-separated list of process ids.
func parsePIDs(s string) ([]int, error) {
	var pids []int
	for _, f := range strings.Split(s, ",") {
		pid, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

func runRecord(args []string, stdout, stderr io.Writer) error {
	cfg, err := parseRecordArgs(args, stderr)
	if err != nil {
		return err
	}
	return record(context.Background(), cfg, stdout, stderr)
}

// recording is what a finished recording reports in its summary.
type recording struct {
	elapsed time.Duration
	stats   sampler.Stats
	snap    *aggregate.Snapshot
	child   *childStatus
	written string
	size    int64
	// byPeriod says the recording sampled every -c events rather than at
	// a frequency: the cure for lost samples is then a larger -c.
	byPeriod bool
	// targetsExited says the recording ended because every process of -p
	// had exited.
	targetsExited bool
	// kptr says /proc/kallsyms hid kernel addresses although the
	// privilege check did not expect it (and so did not warn).
	kptr bool
	// bpfInfoErr says why BPF program info could not be read, if so and
	// the privilege check did not warn of it.
	bpfInfoErr error
}

// record samples as cfg says until ctx is done, SIGINT or SIGTERM arrives,
// the duration passes, the command exits or every process of -p has, then
// writes the profile. After a command that failed it returns an
// exitCodeError with the code to pass on.
func record(ctx context.Context, cfg *recordConfig, stdout, stderr io.Writer) error {
	// The output comes first: an unwritable path fails before sampling.
	out, err := createOutput(cfg.output, stdout)
	if err != nil {
		return err
	}
	defer out.abort()

	// Signals end the recording, not the process; they stay caught until
	// the profile is written.
	ctx, stopSignals := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	pids := cfg.pids
	var ch *child
	if len(cfg.command) > 0 {
		childOut := stdout
		if out.stdout {
			childOut = stderr // the profile goes to stdout
		}
		if ch, err = startChild(cfg.command, childOut, stderr); err != nil {
			var ce commandError
			if errors.As(err, &ce) {
				// The exit code says what it says to shells.
				fmt.Fprintf(stderr, "bpfprof record: %v\n", ce)
				return exitCodeError{ce.code}
			}
			return err
		}
		defer ch.kill()
		if !cfg.systemWide {
			pids = []int{ch.pid}
		}
	}

	// The session checks the privileges before opening anything, so that
	// a missing one is named rather than an errno from perf_event_open;
	// the command, stopped at its exec, has not run yet.
	sess, err := session.Open(session.Options{
		Sampler: sampler.Options{
			Events:    []sampler.Event{cfg.event},
			Frequency: cfg.frequency,
			Period:    cfg.period,
			CPUs:      cfg.cpus,
			PIDs:      pids,
			Cgroup:    cfg.cgroup,
			CallGraph: cfg.callGraph,
		},
		BPFOnly: cfg.bpfOnly,
		Warn:    func(w string) { fmt.Fprintf(stderr, "warning: %s\n", w) },
	})
	if err != nil {
		return err
	}
	defer sess.Close()
	privs := sess.Privileges()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, cfg.duration)
		defer cancel()
	}
	if ch != nil {
		if err := ch.release(); err != nil {
			return err
		}
		go func() {
			select {
			case <-ch.done:
				cancel()
			case <-runCtx.Done():
			}
		}()
	}
	stopProgress := startProgress(stderr, sess)
	runErr := sess.Run(runCtx)
	stopProgress()
	if runErr != nil {
		return runErr
	}

	st := sess.Stats()
	res := recording{
		elapsed:       st.Elapsed,
		byPeriod:      cfg.period > 0,
		targetsExited: sess.TargetsExited() && len(cfg.pids) > 0,
		stats:         st.Sampler,
		snap:          sess.Snapshot(),
		kptr:          st.KptrRestricted && !privs.Kallsyms,
	}
	if !privs.BPFInfo {
		res.bpfInfoErr = st.BPF.InfoErr
	}
	// The snapshot is self-contained: the rings and the symbol tables can
	// go before the profile is built, which lowers the peak memory.
	sess.Close()
	if ch != nil {
		if sess.TargetsExited() {
			// The sampler saw the command's end before the wait did.
			ch.awaitExit(5 * time.Second)
		}
		res.child = ch.stop()
	}
	p, err := pprof.Build(res.snap, pprof.Meta{
		Event:         cfg.event.String(),
		Clock:         cfg.event.IsClock(),
		Frequency:     cfg.frequency,
		Period:        cfg.period,
		Start:         st.Started,
		Duration:      st.Elapsed,
		KernelRelease: kernelRelease(),
		CommandLine:   append([]string{"bpfprof", "record"}, cfg.args...),
	})
	if err != nil {
		return err
	}
	if res.size, err = out.commit(p); err != nil {
		return err
	}
	res.written = out.name()
	summarize(stderr, &res)
	if res.child != nil {
		if code := res.child.exitCode(); code != 0 {
			return exitCodeError{code}
		}
	}
	return nil
}

// exitCodeError makes bpfprof exit with code, as perf record passes on the
// status of the command it profiled, after the profile and the summary
// have been written: there is nothing more to print for it.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// kernelRelease returns uname -r, or "" if uname fails.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// startProgress keeps a one-line progress report on stderr while recording,
// if stderr is a terminal. The returned func stops it and clears the line.
func startProgress(stderr io.Writer, sess *session.Session) func() {
	if !isTerminal(stderr) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(stderr, "\r\x1b[K")
				return
			case <-tick.C:
			}
			st := sess.Stats()
			fmt.Fprintf(stderr, "\r\x1b[Krecording %.1fs: %d samples, lost %d, BPF programs %d",
				st.Elapsed.Seconds(), st.Counters.Samples, st.Sampler.Lost+st.Sampler.LostSamples, st.Counters.ProgramsSeen)
		}
	})
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
}

// summarize prints the end-of-recording summary, on stderr always.
func summarize(w io.Writer, r *recording) {
	c := r.snap.Counters
	lost := r.stats.Lost + r.stats.LostSamples
	fmt.Fprintf(w, "recorded %s: %s", r.elapsed.Round(time.Millisecond), plural(c.Samples, "sample"))
	if c.Dropped > 0 {
		fmt.Fprintf(w, " (%d without a BPF frame left out)", c.Dropped)
	}
	fmt.Fprintf(w, ", lost %d\n", lost)
	if r.targetsExited {
		fmt.Fprintln(w, "every process of -p exited: the recording ended with them")
	}
	fmt.Fprintf(w, "BPF programs: %d in samples, %d loaded and %d unloaded while recording\n",
		c.ProgramsSeen, c.ProgLoads, c.ProgUnloads)
	cure := "a lower -F"
	if r.byPeriod {
		cure = "a larger -c"
	}
	if r.stats.Throttles > 0 {
		fmt.Fprintf(w, "warning: the kernel throttled sampling %s (over kernel.perf_event_max_sample_rate, "+
			"or sample handling over kernel.perf_cpu_time_max_percent of CPU time); use %s\n", plural(r.stats.Throttles, "time"), cure)
	}
	if r.stats.DecodeErrors > 0 {
		fmt.Fprintf(w, "warning: %s skipped\n", plural(r.stats.DecodeErrors, "malformed record"))
	}
	if lost > 0 {
		fmt.Fprintf(w, "warning: samples were lost; use %s\n", cure)
	}
	if r.kptr {
		// The privileges looked sufficient, so the cause is outside them:
		// in a container, CAP_SYSLOG does not count.
		fmt.Fprintln(w, "warning: /proc/kallsyms hid the kernel's addresses: kernel and BPF frames are unnamed; "+
			"in a container, run bpfprof on the host")
	}
	if r.bpfInfoErr != nil {
		fmt.Fprintf(w, "warning: BPF program info could not be read (%v): BPF frames have no source lines; run as root\n", r.bpfInfoErr)
	}
	if r.child != nil {
		if code := r.child.exitCode(); code != 0 {
			fmt.Fprintf(w, "command %s; bpfprof exits with %d\n", r.child, code)
		} else {
			fmt.Fprintf(w, "command %s\n", r.child)
		}
	}
	if r.written == "-" {
		fmt.Fprintf(w, "wrote the profile (%s) to standard output\n", byteSize(r.size))
		return
	}
	fmt.Fprintf(w, "wrote %s (%s); view it with: go tool pprof -http=: %s\n", r.written, byteSize(r.size), r.written)
}

// plural formats n things, as "1 sample" or "2 samples".
func plural(n uint64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// byteSize formats n bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// errNotATerminal refuses to write binary output to a terminal.
var errNotATerminal = errors.New("refusing to write a binary profile to a terminal; redirect standard output or use -o FILE")
