package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/outfile"
	"github.com/bpfprof/bpfprof/pprof"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/session"
)

const recordSynopsis = "[-a | -p PID,... | -u USER | -G PATH] [-C CPUS] [-F HZ|max | -c PERIOD] [-e EVENT] [-g | --no-call-graph] [-d DURATION] [--bpf-only] [-o FILE] [-q | -v] [[--] COMMAND [ARGS]]"

// defaultOutput is where record writes without -o, like perf's perf.data.
const defaultOutput = "bpfprof.pb.gz"

// recordConfig is a parsed record command line.
type recordConfig struct {
	pids   []int
	cpus   []int
	cgroup string
	// frequency is -F, 0 without it: the sampler then picks the default
	// (4000 Hz, or less if the kernel's limit is).
	frequency uint64
	period    uint64
	// event is -e, if eventSet; else the session picks the default, which
	// takes opening an event to find out.
	event     sampler.Event
	eventSet  bool
	callGraph bool
	duration  time.Duration
	output    string
	bpfOnly   bool
	quiet     bool
	verbose   bool
	// uid, with uidSet, samples the processes of this user that run when
	// the recording starts (and their children), as perf record -u does.
	uid    int
	uidSet bool
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
	fs.SetInterspersed(false) // flags after the command are the command's
	all := fs.BoolP("all-cpus", "a", false, "sample every process on every CPU (the default); with a command, while it runs")
	pids := fs.StringP("pid", "p", "", "sample only the processes `PIDS` (comma-separated) with their threads; children they start are followed while the processes live, as the recording ends when they exit (as perf's does)")
	uid := fs.StringP("uid", "u", "", "sample only the processes of `USER` (name or uid) running when the recording starts, with their children")
	cpus := fs.StringP("cpu", "C", "", "sample only these `CPUS`, as a list such as 0,2-3")
	cgroup := fs.StringP("cgroup", "G", "", "sample only the processes of this cgroup v2 `PATH` (e.g. /sys/fs/cgroup/system.slice)")
	freq := fs.StringP("freq", "F", "", "sample at this frequency in `HZ` per CPU (default 4000, as perf), or max for kernel.perf_event_max_sample_rate")
	period := fs.Uint64P("count", "c", 0, "sample every `PERIOD` events (nanoseconds for cpu-clock); excludes -F")
	var events eventSpecs
	fs.VarP(&events, "event", "e", "sample this `EVENT`, such as cpu-clock, page-faults, cycles (default cycles with a hardware PMU, else cpu-clock); one per recording")
	callGraph := fs.BoolP("call-graph-fp", "g", true, "record call graphs (the default), walking frame pointers")
	mode := fs.String("call-graph", "", "record call graphs by `MODE`: fp (frame pointers, the default; -g is --call-graph fp), as no other is supported")
	noCallGraph := fs.Bool("no-call-graph", false, "record only the sampled instruction, no call graphs (wins over -g)")
	dur := fs.StringP("duration", "d", "", "stop after `DURATION` (5, 2.5, 1m30s); default: until Ctrl-C, or until the command or the -p processes exit")
	output := fs.StringP("output", "o", defaultOutput, "write the profile to `FILE` (- for standard output)")
	bpfOnly := fs.Bool("bpf-only", false, "keep only samples with a BPF frame in their stack")
	quiet := fs.BoolP("quiet", "q", false, "print only errors: no progress line, no summary, no warnings")
	verbose := fs.BoolP("verbose", "v", false, "also say what is sampled, and every counter in the summary")
	// perf spells it -g alone; the long name is only there because pflag
	// wants one.
	fs.Lookup("call-graph-fp").Hidden = true
	if err := fs.parse(args); err != nil {
		return nil, err
	}
	set := fs.Changed

	cfg := &recordConfig{
		cgroup:     *cgroup,
		period:     *period,
		callGraph:  *callGraph && !*noCallGraph,
		output:     *output,
		bpfOnly:    *bpfOnly,
		quiet:      *quiet,
		verbose:    *verbose,
		command:    fs.Args(),
		systemWide: *all,
		args:       args,
	}
	var err error
	switch {
	case set("freq") && set("count"):
		return nil, usagef("-F and -c are exclusive: sample by frequency or by period")
	case set("freq"):
		if cfg.frequency, err = parseFrequency(*freq); err != nil {
			return nil, usagef("-F: %v", err)
		}
	case set("count") && *period == 0:
		return nil, usagef("-c must be above 0")
	}
	switch {
	case *quiet && *verbose:
		return nil, usagef("-q and -v are exclusive")
	case set("call-graph") && *noCallGraph:
		return nil, usagef("--call-graph and --no-call-graph are exclusive")
	case set("call-graph"):
		switch m, _, _ := strings.Cut(*mode, ","); m {
		case "fp":
			cfg.callGraph = true
		case "dwarf", "lbr":
			return nil, usagef("--call-graph %s is not supported: bpfprof walks frame pointers (--call-graph fp)", m)
		default:
			return nil, usagef("--call-graph %q: want fp", *mode)
		}
	}
	if set("uid") {
		if cfg.uid, err = parseUser(*uid); err != nil {
			return nil, usagef("-u: %v", err)
		}
		cfg.uidSet = true
	}
	if set("pid") {
		if cfg.pids, err = parsePIDs(*pids); err != nil {
			return nil, usagef("-p: %v", err)
		}
	}
	targets := 0
	for _, on := range []bool{len(cfg.pids) > 0, cfg.cgroup != "", len(cfg.command) > 0, cfg.uidSet} {
		if on {
			targets++
		}
	}
	switch {
	case targets > 1:
		return nil, usagef("choose one of -p, -u, --cgroup and a command")
	case *all && (len(cfg.pids) > 0 || cfg.cgroup != "" || cfg.uidSet):
		return nil, usagef("-a samples every process; it excludes -p, -u and --cgroup")
	case set("cgroup") && cfg.cgroup == "":
		return nil, usagef("--cgroup needs a path")
	}
	if set("cpu") {
		if cfg.cpus, err = sampler.ParseCPUList(*cpus); err != nil || len(cfg.cpus) == 0 {
			return nil, usagef("-C %q: want a CPU list such as 0,2-3", *cpus)
		}
	}
	switch {
	case len(events) > 1 || len(events) == 1 && strings.Contains(events[0], ","):
		return nil, usagef("-e %s: one event per recording; record each event separately", strings.Join(events, " -e "))
	case len(events) == 1:
		if cfg.event, err = sampler.ParseEvent(events[0]); err != nil {
			return nil, usagef("-e: %v", err)
		}
		cfg.eventSet = true
	}
	if set("duration") {
		if cfg.duration, err = parseDuration(*dur); err != nil {
			return nil, usagef("-d: %v", err)
		}
	}
	if cfg.output == "" {
		return nil, usagef("-o needs a file name, or - for standard output")
	}
	return cfg, nil
}

// events returns the events to ask the session for: -e, or none for the
// default.
func (cfg *recordConfig) events() []sampler.Event {
	if !cfg.eventSet {
		return nil
	}
	return []sampler.Event{cfg.event}
}

// eventSpecs collects every -e, so that a second one is an error rather
// than silently replacing the first.
type eventSpecs []string

func (e *eventSpecs) String() string { return strings.Join(*e, ",") }

// Type names the value in pflag's messages.
func (e *eventSpecs) Type() string { return "event" }

func (e *eventSpecs) Set(s string) error {
	*e = append(*e, s)
	return nil
}

// maxSampleRate is the sysctl that -F max reads.
const maxSampleRate = "/proc/sys/kernel/perf_event_max_sample_rate"

// parseFrequency parses -F: a number of Hz above 0, or "max" for the
// kernel's limit, as perf record takes it.
func parseFrequency(s string) (uint64, error) {
	if s == "max" {
		b, err := os.ReadFile(maxSampleRate)
		if err != nil {
			return 0, fmt.Errorf("max: %w", err)
		}
		hz, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || hz == 0 {
			return 0, fmt.Errorf("max: %s holds %q, not a frequency", maxSampleRate, strings.TrimSpace(string(b)))
		}
		return hz, nil
	}
	hz, err := strconv.ParseUint(s, 10, 64)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a frequency: give Hz (999) or max", s)
	case hz == 0:
		return 0, errors.New("must be above 0")
	}
	return hz, nil
}

// parseUser parses -u: a user name or a numeric uid.
func parseUser(s string) (int, error) {
	if uid, err := strconv.ParseUint(s, 10, 32); err == nil {
		return int(uid), nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return 0, fmt.Errorf("no user %q: give a user name or a uid", s)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return 0, fmt.Errorf("user %q has uid %q, not a number", s, u.Uid)
	}
	return uid, nil
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
	regular bool // written is a regular file
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
	// frequency is -F, 0 with -c; cpus how many CPUs were sampled.
	frequency uint64
	cpus      int
	// verbose asks for every counter, not only the worrying ones.
	verbose bool
}

// record samples as cfg says until ctx is done, SIGINT or SIGTERM arrives,
// the duration passes, the command exits or every process of -p has, then
// writes the profile. After a command that failed it returns an
// exitCodeError with the code to pass on.
func record(ctx context.Context, cfg *recordConfig, stdout, stderr io.Writer) error {
	// The output comes first: an unwritable path fails before sampling.
	out, err := outfile.Create(cfg.output, stdout)
	if err != nil {
		return err
	}
	defer out.Abort()

	// Signals end the recording, not the process; they stay caught until
	// the profile is written. SIGHUP (the terminal closed, ssh dropped)
	// too: a recording that loses its terminal still writes its profile.
	ctx, stopSignals := notifyEnd(ctx)
	defer stopSignals()
	// Nor may a write to a closed terminal or pipe kill the process
	// before the profile is written: caught, SIGPIPE makes such writes
	// fail instead. (Caught, not ignored: the command inherits the
	// default again at its exec.)
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)

	pids := cfg.pids
	for _, pid := range cfg.pids {
		// Checked here: the sampler skips a process that exits between
		// a listing and its open (-u), which -p must not do silently.
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, fs.ErrNotExist) {
			return errs.New(errs.ErrNotFound, fmt.Sprintf("-p: no process %d is running", pid))
		}
	}
	if cfg.uidSet {
		if pids, err = userProcesses("/proc", cfg.uid, os.Getpid()); err != nil {
			return err
		}
	}
	var ch *child
	if len(cfg.command) > 0 {
		childOut := stdout
		if out.Name() == "-" {
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
			Events:    cfg.events(),
			Frequency: cfg.frequency,
			Period:    cfg.period,
			CPUs:      cfg.cpus,
			PIDs:      pids,
			Cgroup:    cfg.cgroup,
			CallGraph: cfg.callGraph,
		},
		BPFOnly: cfg.bpfOnly,
		Warn: func(w string) {
			if !cfg.quiet {
				fmt.Fprintf(stderr, "warning: %s\n", w)
			}
		},
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
	event, freq := sess.Events()[0], sess.Frequency()
	if cfg.verbose {
		describe(stderr, cfg, event, freq, pids, sess.CPUs())
	}
	stopProgress := func() {}
	if !cfg.quiet {
		stopProgress = startProgress(stderr, sess)
	}
	runErr := sess.Run(runCtx)
	stopProgress()
	if runErr != nil {
		return runErr
	}

	st := sess.Stats()
	res := recording{
		elapsed:       st.Elapsed,
		frequency:     freq,
		cpus:          len(sess.CPUs()),
		verbose:       cfg.verbose,
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
		Event:         event.String(),
		Clock:         event.IsClock(),
		Frequency:     freq,
		Period:        cfg.period,
		Start:         st.Started,
		Duration:      st.Elapsed,
		KernelRelease: kernelRelease(),
		CommandLine:   append([]string{"bpfprof", "record"}, cfg.args...),
		SystemWide:    len(pids) == 0 && cfg.cgroup == "",
	})
	if err != nil {
		return err
	}
	if res.size, err = out.Commit(func(w io.Writer) error { return pprof.Write(w, p) }); err != nil {
		return err
	}
	res.written, res.regular = out.Name(), out.Regular()
	if !cfg.quiet {
		summarize(stderr, &res)
	}
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
			line := progressLine(st.Elapsed, st.Counters.Samples, st.Sampler.Lost+st.Sampler.LostSamples,
				st.Counters.ProgramsSeen, terminalWidth(stderr))
			fmt.Fprintf(stderr, "\r\x1b[K%s", line)
		}
	})
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
}

// progressLine is the progress report, shortened to fit width columns
// less one (a line that fills the last column wraps on some terminals, and
// a wrapped line is not erased by \r).
func progressLine(elapsed time.Duration, samples, lost uint64, progs int, width int) string {
	secs := elapsed.Seconds()
	for _, line := range []string{
		fmt.Sprintf("recording %.1fs: %d samples, lost %d, BPF programs %d", secs, samples, lost, progs),
		fmt.Sprintf("%.1fs: %d samples, lost %d, BPF %d", secs, samples, lost, progs),
		fmt.Sprintf("%.0fs %d smp %d lost %d bpf", secs, samples, lost, progs),
		fmt.Sprintf("%.0fs %d smp", secs, samples),
		fmt.Sprintf("%.0fs", secs),
	} {
		if len(line) < width {
			return line
		}
	}
	return "" // too narrow for anything
}

// terminalWidth returns the columns of terminal w, or 80 if it cannot
// tell. Asked at every update, it follows resizes.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
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
	if share := throttledShare(r); share >= throttleWarnShare {
		fmt.Fprintf(w, "warning: the kernel throttled sampling %s, which cost about %.0f%% of the samples (over "+
			"kernel.perf_event_max_sample_rate, or sample handling over kernel.perf_cpu_time_max_percent of CPU time); use %s\n",
			plural(r.stats.Throttles, "time"), 100*share, cure)
	} else if r.verbose && r.stats.Throttles > 0 {
		fmt.Fprintf(w, "the kernel throttled sampling %s, which cost about %.1f%% of the samples\n", plural(r.stats.Throttles, "time"), 100*share)
	}
	if r.verbose {
		st := r.stats
		fmt.Fprintf(w, "records %d (samples %d), lost %d records and %d samples, unknown records %d, %s read in %d wake-ups\n",
			st.Records, st.Samples, st.Lost, st.LostSamples, st.Unknown, byteSize(int64(st.Bytes)), st.Wakeups)
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
	printWritten(w, r.written, r.regular, r.size)
}

// printWritten says where a profile of size bytes went: to standard output
// ("-"), to a device, FIFO or descriptor, or to a regular file, then with
// how to view it.
func printWritten(w io.Writer, name string, regular bool, size int64) {
	switch {
	case name == "-":
		fmt.Fprintf(w, "wrote the profile (%s) to standard output\n", byteSize(size))
	case !regular:
		fmt.Fprintf(w, "wrote the profile (%s) to %s\n", byteSize(size), name)
	default:
		fmt.Fprintf(w, "wrote %s (%s); view it with: go tool pprof -http=: %s\n", name, byteSize(size), name)
	}
}

// throttleWarnShare is the share of samples that throttling must have cost
// before the summary warns of it: a throttle or two in a long recording
// costs nothing worth a change of -F.
const throttleWarnShare = 0.01

// throttleTick is how long a throttled event stays off: until the next
// timer tick, 4 ms at the CONFIG_HZ=250 of most distributions' kernels.
const throttleTick = 4 * time.Millisecond

// throttledShare estimates the share of samples throttling cost: each
// throttle stops one event for about a tick, a tick's worth of samples at
// the event's rate (-F, or with -c the rate the recording saw).
func throttledShare(r *recording) float64 {
	if r.stats.Throttles == 0 {
		return 0
	}
	rate := float64(r.frequency)
	if rate == 0 && r.elapsed > 0 && r.cpus > 0 {
		rate = float64(r.stats.Samples) / r.elapsed.Seconds() / float64(r.cpus)
	}
	lost := float64(r.stats.Throttles) * rate * throttleTick.Seconds()
	if lost == 0 {
		return 0
	}
	return lost / (lost + float64(r.stats.Samples))
}

// describe says, for -v, what the recording samples.
func describe(w io.Writer, cfg *recordConfig, event sampler.Event, freq uint64, pids []int, cpus []int) {
	how := fmt.Sprintf("%d Hz", freq)
	if cfg.period > 0 {
		how = fmt.Sprintf("every %d events", cfg.period)
	}
	what := "every process"
	switch {
	case cfg.cgroup != "":
		what = "cgroup " + cfg.cgroup
	case len(pids) > 0:
		what = fmt.Sprintf("%d processes and their children", len(pids))
	}
	graph := "call graphs by frame pointers"
	if !cfg.callGraph {
		graph = "no call graphs"
	}
	fmt.Fprintf(w, "sampling %s at %s on CPUs %s: %s, %s\n", event, how, sampler.FormatCPUList(cpus), what, graph)
}

// userProcesses returns the processes under procDir whose real uid is uid,
// leaving out self: what perf record -u samples.
func userProcesses(procDir string, uid, self int) ([]int, error) {
	ents, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile(procDir + "/" + e.Name() + "/status")
		if err != nil {
			continue // gone meanwhile
		}
		if real, ok := statusUID(b); ok && real == uid {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("-u: no process of uid %d is running: %w", uid, errs.ErrNotFound)
	}
	return pids, nil
}

// statusUID returns the real uid from the "Uid:" line of /proc/PID/status.
func statusUID(status []byte) (int, bool) {
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, "Uid:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, false
		}
		uid, err := strconv.Atoi(f[0])
		return uid, err == nil
	}
	return 0, false
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
