package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/sampler"
)

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"5":      5 * time.Second,
		"2.5":    2500 * time.Millisecond,
		"5s":     5 * time.Second,
		"1m30s":  90 * time.Second,
		"250ms":  250 * time.Millisecond,
		" 3s ":   3 * time.Second,
		"1h":     time.Hour,
		"0.001":  time.Millisecond,
		"1.5h":   90 * time.Minute,
		"100us":  100 * time.Microsecond,
		"3e1":    30 * time.Second,
		"1m0.5s": 60500 * time.Millisecond,
	}
	for in, want := range good {
		got, err := parseDuration(in)
		if err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "0s", "-1", "-5s", "abc", "5 s", "NaN", "Inf", "1e300", "5x", "s"} {
		if got, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseRecordArgs(t *testing.T) {
	cfg, err := parseRecordArgs(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	// The defaults of frequency and event are the sampler's and the
	// session's to pick: parsing opens nothing.
	if cfg.output != "bpfprof.pb.gz" || !cfg.callGraph || cfg.frequency != 0 || cfg.period != 0 ||
		cfg.duration != 0 || cfg.pids != nil || cfg.cpus != nil || cfg.bpfOnly || len(cfg.command) != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
	if cfg.eventSet || cfg.events() != nil {
		t.Errorf("default event %v set while parsing", cfg.event)
	}

	cfg, err = parseRecordArgs([]string{"-a", "-C", "0,2-3", "-c", "100000", "-e", "task-clock", "--no-call-graph",
		"-d", "1m30s", "-o", "-", "--bpf-only"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.cpus, []int{0, 2, 3}) || cfg.period != 100000 || cfg.frequency != 0 || cfg.event.String() != "task-clock" ||
		cfg.callGraph || cfg.duration != 90*time.Second || cfg.output != "-" || !cfg.bpfOnly {
		t.Errorf("parsed %+v", cfg)
	}

	cfg, err = parseRecordArgs([]string{"-p", "12,34", "-F", "999", "-g"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.pids, []int{12, 34}) || cfg.frequency != 999 || !cfg.callGraph {
		t.Errorf("parsed %+v", cfg)
	}

	for _, args := range [][]string{
		{"-F", "99", "--", "sleep", "1"},
		{"-F", "99", "sleep", "1"},
	} {
		cfg, err = parseRecordArgs(args, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.command, []string{"sleep", "1"}) {
			t.Errorf("%q: command %q", args, cfg.command)
		}
	}
	cfg, err = parseRecordArgs([]string{"-a", "--", "sleep", "1"}, &bytes.Buffer{})
	if err != nil || !cfg.systemWide || len(cfg.command) != 2 {
		t.Errorf("-a with a command: %+v, %v", cfg, err)
	}
	for _, args := range [][]string{{"-g=false"}, {"--no-call-graph"}, {"-g", "--no-call-graph"}} {
		if cfg, err = parseRecordArgs(args, &bytes.Buffer{}); err != nil || cfg.callGraph {
			t.Errorf("%q: call graph %v, %v; want none", args, cfg != nil && cfg.callGraph, err)
		}
	}
	cfg, err = parseRecordArgs([]string{"-e", "page-faults"}, &bytes.Buffer{})
	if err != nil || cfg.event.String() != "page-faults" {
		t.Errorf("-e page-faults: %+v, %v", cfg, err)
	}
	cfg, err = parseRecordArgs([]string{"--", "sh", "-c", "exit 3", "-d", "1"}, &bytes.Buffer{})
	if err != nil || !slices.Equal(cfg.command, []string{"sh", "-c", "exit 3", "-d", "1"}) || cfg.duration != 0 {
		t.Errorf("flags after the command belong to it: %+v, %v", cfg, err)
	}
}

// TestParseRecordArgsLong checks perf's long forms and the flags perf users
// reach for.
func TestParseRecordArgsLong(t *testing.T) {
	cfg, err := parseRecordArgs([]string{"--all-cpus", "--cpu=0,2-3", "--count", "100000", "--event", "task-clock",
		"--duration=1m30s", "--output", "-", "--bpf-only", "--quiet"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.systemWide || !slices.Equal(cfg.cpus, []int{0, 2, 3}) || cfg.period != 100000 || cfg.event.String() != "task-clock" ||
		cfg.duration != 90*time.Second || cfg.output != "-" || !cfg.bpfOnly || !cfg.quiet || cfg.verbose {
		t.Errorf("parsed %+v", cfg)
	}
	cfg, err = parseRecordArgs([]string{"--pid", "12", "--freq", "99", "--call-graph", "fp", "-v", "-G", "/sys/fs/cgroup"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "choose one of") {
		t.Errorf("-p with -G: %+v, %v", cfg, err)
	}
	cfg, err = parseRecordArgs([]string{"--pid", "12", "--freq", "99", "--call-graph", "fp", "-v"}, &bytes.Buffer{})
	if err != nil || !slices.Equal(cfg.pids, []int{12}) || cfg.frequency != 99 || !cfg.callGraph || !cfg.verbose {
		t.Errorf("parsed %+v, %v", cfg, err)
	}
	cfg, err = parseRecordArgs([]string{"-u", "0", "-aq"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "excludes -p, -u") {
		t.Errorf("-u with -a: %+v, %v", cfg, err)
	}
	cfg, err = parseRecordArgs([]string{"-u", "root"}, &bytes.Buffer{})
	if err != nil || !cfg.uidSet || cfg.uid != 0 {
		t.Errorf("-u root: %+v, %v", cfg, err)
	}
	cfg, err = parseRecordArgs([]string{"-qd1", "-F99", "sleep", "-d", "5"}, &bytes.Buffer{})
	if err != nil || !cfg.quiet || cfg.duration != time.Second || cfg.frequency != 99 || !slices.Equal(cfg.command, []string{"sleep", "-d", "5"}) {
		t.Errorf("grouped short flags: %+v, %v", cfg, err)
	}
	if max, err := os.ReadFile(maxSampleRate); err == nil {
		cfg, err = parseRecordArgs([]string{"-F", "max"}, &bytes.Buffer{})
		if err != nil || fmt.Sprint(cfg.frequency) != strings.TrimSpace(string(max)) {
			t.Errorf("-F max: %+v, %v; want %s Hz", cfg, err, max)
		}
	}
}

func TestRecordUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-F", "99", "-c", "1000"}, "-F and -c are exclusive"},
		{[]string{"-F", "0"}, "-F: must be above 0"},
		{[]string{"-c", "0"}, "-c must be above 0"},
		{[]string{"-p", "12,x"}, `"x" is not a process id`},
		{[]string{"-p", "0"}, "not a process id"},
		{[]string{"-p", "1", "--", "true"}, "choose one of"},
		{[]string{"-p", "1", "--cgroup", "/sys/fs/cgroup"}, "choose one of"},
		{[]string{"-a", "-p", "1"}, "-a samples every process"},
		{[]string{"-a", "--cgroup", "/sys/fs/cgroup"}, "-a samples every process"},
		{[]string{"-C", "x"}, "want a CPU list"},
		{[]string{"-C", "3-1"}, "want a CPU list"},
		{[]string{"-e", "bogus"}, "valid events"},
		{[]string{"-e", "cpu-clock", "-e", "page-faults"}, "-e cpu-clock -e page-faults: one event per recording"},
		{[]string{"-e", "cpu-clock,page-faults"}, "one event per recording"},
		{[]string{"-d", "soon"}, "bad duration"},
		{[]string{"-d", "0"}, "not positive"},
		{[]string{"-o", ""}, "-o needs a file name"},
		{[]string{"--cgroup", ""}, "--cgroup needs a path"},
		{[]string{"-x"}, "unknown shorthand flag"},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"-F", "lots"}, `"lots" is not a frequency`},
		{[]string{"--call-graph", "dwarf"}, "--call-graph dwarf is not supported"},
		{[]string{"--call-graph", "lbr"}, "not supported"},
		{[]string{"--call-graph", "fp", "--no-call-graph"}, "exclusive"},
		{[]string{"-q", "-v"}, "-q and -v are exclusive"},
		{[]string{"-u", "no-such-user-here"}, `no user "no-such-user-here"`},
		{[]string{"-u", "0", "-p", "1"}, "choose one of"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"record"}, tc.args...), &stdout, &stderr)
		if code != 2 {
			t.Errorf("%q: exit code %d, want 2", tc.args, code)
		}
		first, _, _ := strings.Cut(stderr.String(), "\n")
		if !strings.HasPrefix(first, "bpfprof record: ") || !strings.Contains(first, tc.want) {
			t.Errorf("%q: stderr %q, want one line with %q", tc.args, stderr.String(), tc.want)
		}
	}
}

func TestRecordHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"record", "-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"Usage: bpfprof record", "-F HZ", "-no-call-graph", "-bpf-only", "-o FILE", "DURATION"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestRecordUnwritableOutput needs no privilege: the output is checked
// before anything else.
func TestRecordUnwritableOutput(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/proc/nonexistent/x.pb.gz", "cannot write the profile to /proc/nonexistent/x.pb.gz: no such file or directory"},
		{t.TempDir(), "it is a directory"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"record", "-d", "1", "-o", tc.path}, &stdout, &stderr)
		if code != 1 {
			t.Errorf("%s: exit code %d, want 1", tc.path, code)
		}
		if got := stderr.String(); got != "bpfprof record: "+tc.want+"\n" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: stderr %q, want %q", tc.path, got, tc.want)
		}
		if strings.Count(stderr.String(), "\n") != 1 || strings.Contains(stderr.String(), "recorded") {
			t.Errorf("%s: more than the error was printed (did it sample?):\n%s", tc.path, stderr.String())
		}
	}
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1536: "1.5 KiB", 3 << 20: "3.0 MiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSummaryLostCure checks that the advice on lost samples and throttling
// names the flag the recording used.
func TestSummaryLostCure(t *testing.T) {
	for _, tc := range []struct {
		byPeriod  bool
		frequency uint64
		want      string
	}{
		{false, 4000, "use a lower -F"},
		{true, 0, "use a larger -c"},
	} {
		var w bytes.Buffer
		summarize(&w, &recording{
			snap:      &aggregate.Snapshot{},
			stats:     sampler.Stats{LostSamples: 7, Throttles: 2, Samples: 10},
			byPeriod:  tc.byPeriod,
			frequency: tc.frequency,
			elapsed:   100 * time.Millisecond,
			cpus:      1,
			written:   "x.pb.gz",
		})
		out := w.String()
		if n := strings.Count(out, tc.want); n != 2 {
			t.Errorf("by period %v: %q appears %d times, want 2 (lost, throttled):\n%s", tc.byPeriod, tc.want, n, out)
		}
		if !strings.Contains(out, ", lost 7\n") {
			t.Errorf("summary lacks the lost count:\n%s", out)
		}
	}
}

// TestSummaryWording checks the summary's counts in the singular and that
// the throttling warning names both limits behind it.
func TestSummaryWording(t *testing.T) {
	var w bytes.Buffer
	summarize(&w, &recording{
		snap:      &aggregate.Snapshot{Counters: aggregate.Counters{Samples: 1}},
		stats:     sampler.Stats{Throttles: 1, Samples: 1},
		frequency: 4000,
		written:   "x.pb.gz",
	})
	out := w.String()
	for _, want := range []string{": 1 sample, lost 0\n", "throttled sampling 1 time, which cost about 94% of the samples",
		"kernel.perf_event_max_sample_rate", "kernel.perf_cpu_time_max_percent", "use a lower -F"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestPrintWritten: how to view a profile is said only of a regular file;
// a device or FIFO is named, standard output said.
func TestPrintWritten(t *testing.T) {
	for _, tc := range []struct {
		name    string
		regular bool
		want    string
	}{
		{"x.pb.gz", true, "wrote x.pb.gz (2.0 KiB); view it with: go tool pprof -http=: x.pb.gz\n"},
		{"/dev/null", false, "wrote the profile (2.0 KiB) to /dev/null\n"},
		{"-", false, "wrote the profile (2.0 KiB) to standard output\n"},
	} {
		var w bytes.Buffer
		printWritten(&w, tc.name, tc.regular, 2048)
		if w.String() != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, w.String(), tc.want)
		}
	}
}

// TestSummaryThrottleThreshold checks that throttling which cost under
// throttleWarnShare of the samples is no warning, and that -v still counts
// it.
func TestSummaryThrottleThreshold(t *testing.T) {
	// 10 s at 4000 Hz on 2 CPUs: 80000 samples. Each throttle costs
	// about 16 of them (4 ms at 4000 Hz).
	for _, tc := range []struct {
		throttles uint64
		verbose   bool
		warn      bool
		mention   bool
	}{
		{0, false, false, false},
		{3, false, false, false},
		{3, true, false, true},
		{49, false, false, false}, // 784 of 80784: 0.97%
		{51, false, true, true},   // 816 of 80816: 1.01%
	} {
		var w bytes.Buffer
		summarize(&w, &recording{
			snap:      &aggregate.Snapshot{},
			stats:     sampler.Stats{Throttles: tc.throttles, Samples: 80000},
			frequency: 4000,
			elapsed:   10 * time.Second,
			cpus:      2,
			verbose:   tc.verbose,
			written:   "x.pb.gz",
		})
		out := w.String()
		if got := strings.Contains(out, "warning: the kernel throttled"); got != tc.warn {
			t.Errorf("%d throttles: warning %v, want %v:\n%s", tc.throttles, got, tc.warn, out)
		}
		if got := strings.Contains(out, "throttled sampling"); got != tc.mention {
			t.Errorf("%d throttles, verbose %v: mentioned %v, want %v:\n%s", tc.throttles, tc.verbose, got, tc.mention, out)
		}
	}
}

// TestChildExitCode checks the code passed on for each way a command ends.
func TestChildExitCode(t *testing.T) {
	for _, tc := range []struct {
		script   string
		signaled bool // bpfprof stopped it
		code     int
		says     string
	}{
		{"exit 0", false, 0, "exited with status 0"},
		{"exit 3", false, 3, "exited with status 3"},
		{"kill -KILL $$", false, 137, "was killed by signal 9 (killed)"},
		{"kill -INT $$", false, 130, "was killed by signal 2 (interrupt)"},
		// Stopped at the end of the recording: it ended as asked.
		{"kill -TERM $$", true, 0, "was still running at the end of the recording and was stopped (terminated)"},
		{"exit 143", true, 0, "exited with status 143"},
		// A Ctrl-C reaches the command too: it ended by itself.
		{"kill -INT $$", true, 130, "was killed by signal 2 (interrupt)"},
	} {
		cmd := exec.Command("sh", "-c", tc.script)
		cmd.Run()
		if cmd.ProcessState == nil {
			t.Fatalf("%s: did not run", tc.script)
		}
		st := &childStatus{state: cmd.ProcessState, signaled: tc.signaled}
		if got := st.exitCode(); got != tc.code {
			t.Errorf("%s (signaled %v): exit code %d, want %d", tc.script, tc.signaled, got, tc.code)
		}
		if got := st.String(); got != tc.says {
			t.Errorf("%s (signaled %v): %q, want %q", tc.script, tc.signaled, got, tc.says)
		}
	}
	if got := (&childStatus{err: errors.New("no child")}).exitCode(); got != 1 {
		t.Errorf("unknown status: exit code %d, want 1", got)
	}
}

func TestUserProcesses(t *testing.T) {
	dir := t.TempDir()
	for pid, status := range map[string]string{
		"10":   "Name:\ta\nUid:\t1000\t1000\t1000\t1000\n",
		"11":   "Name:\tb\nUid:\t0\t1000\t0\t0\n",
		"12":   "Name:\tc\nUid:\t1000\t0\t0\t0\n",
		"13":   "Name:\tself\nUid:\t1000\t1000\t1000\t1000\n",
		"14":   "Name:\tbroken\nUid:\n",
		"self": "Uid:\t1000\t1000\t1000\t1000\n",
	} {
		if err := os.Mkdir(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pid, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := userProcesses(dir, 1000, 13)
	slices.Sort(pids)
	if err != nil || !slices.Equal(pids, []int{10, 12}) {
		t.Errorf("uid 1000: %v, %v; want [10 12] (real uids, self left out)", pids, err)
	}
	if pids, err := userProcesses(dir, 4242, 13); err == nil || !strings.Contains(err.Error(), "no process of uid 4242") {
		t.Errorf("uid 4242: %v, %v; want an error", pids, err)
	}
}

// TestProgressLine checks that the progress line fits every width, down to
// a 30-column terminal and below.
func TestProgressLine(t *testing.T) {
	long := progressLine(12345*time.Millisecond, 123456, 7, 3, 200)
	if long != "recording 12.3s: 123456 samples, lost 7, BPF programs 3" {
		t.Errorf("wide terminal: %q", long)
	}
	for width := 1; width <= 80; width++ {
		line := progressLine(12345*time.Millisecond, 123456789, 1234567, 42, width)
		if len(line) >= width && line != "" {
			t.Errorf("width %d: %q has %d columns", width, line, len(line))
		}
		if width >= 30 && !strings.Contains(line, "123456789") {
			t.Errorf("width %d: %q lost the sample count", width, line)
		}
	}
}

// TestRecordGonePID: a -p process that is not running is named in one line,
// exit 1, and no profile is left behind (the sampler itself skips a process
// that exits after -u listed it, so -p is checked first).
func TestRecordGonePID(t *testing.T) {
	out := filepath.Join(t.TempDir(), "p.pb.gz")
	var stdout, stderr bytes.Buffer
	code := run([]string{"record", "-d", "1", "-o", out, "-p", "1073741824"}, &stdout, &stderr)
	msg := stderr.String()
	if code != 1 || !strings.Contains(msg, "no process 1073741824 is running") || strings.Count(msg, "\n") != 1 {
		t.Errorf("exit %d, stderr %q; want 1 and one line naming the process", code, msg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("%s was written", out)
	}
}
