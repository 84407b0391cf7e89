package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/stat"
)

// TestStatHelperProcess runs a program BPF_PROG_TEST_RUN times when started
// by a stat test as its command: BPFPROF_STAT_RUN=ID:N; or, with
// BPFPROF_STAT_ARGS, bpfprof stat with those arguments.
func TestStatHelperProcess(t *testing.T) {
	if args, ok := os.LookupEnv("BPFPROF_STAT_ARGS"); ok {
		os.Exit(run(append([]string{"stat"}, strings.Fields(args)...), os.Stdout, os.Stderr))
	}
	spec := os.Getenv("BPFPROF_STAT_RUN")
	if spec == "" {
		t.Skip("helper process of the stat tests")
	}
	idStr, nStr, _ := strings.Cut(spec, ":")
	id, _ := strconv.ParseUint(idStr, 10, 32)
	n, _ := strconv.Atoi(nStr)
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(9)
	}
	defer prog.Close()
	data := make([]byte, 64)
	// One call per 1000 runs keeps each system call short.
	for n > 0 {
		r := min(n, 1000)
		if _, err := prog.Run(&ebpf.RunOptions{Data: data, Repeat: uint32(r)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(9)
		}
		n -= r
	}
	os.Exit(0)
}

// loadHot loads the hot testdata program and returns its ID.
func loadHot(t *testing.T) (*testprogs.Object, bpfprog.ID) {
	t.Helper()
	testutil.RequireRoot(t, "load BPF programs, perf events")
	obj, id := progtest.Load(t, testprogs.Hot)
	return obj, bpfprog.ID(id)
}

func statRun(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		t.Setenv(k, v)
	}
	var out, errb lockedBuffer
	code = run(append([]string{"stat"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// lockedBuffer is written by stat and, for a command, by os/exec's copying
// goroutine at the same time.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStatExactRunCount drives the hot program exactly N times from the
// command stat runs: the run count is exactly N, run time and ns per run
// are the stats fd's, and the sampled cpu-clock time in the program agrees
// with its run time.
//
// 'make test-kernels' runs it on kernels where fentry on BPF programs works
// (Debian 6.1, 6.12), where the counts must be exact; on the host it shows
// the fallback and the sampled counts.
func TestStatExactRunCount(t *testing.T) {
	testutil.KernelMatrix(t)
	_, id := loadHot(t)
	// About 0.5 s in the program at ~800 ns per run on the host, enough
	// samples to judge; the guest, 30x slower under TCG, counts exactly
	// and needs fewer.
	n := 600000
	_, guest := testutil.InGuest()
	if guest {
		n = 20000
	}
	before := progStats(t, id)
	// Without Go's preemption signals the kernel never interrupts a
	// BPF_PROG_TEST_RUN, which cilium/ebpf would restart from the start
	// (more runs than asked).
	out, stderr, code := statRun(t, []string{"BPFPROF_STAT_RUN=" + fmt.Sprintf("%d:%d", id, n), "GODEBUG=asyncpreemptoff=1"},
		"--json", "--latency", "id", fmt.Sprint(id), "--", os.Args[0], "-test.run=^TestStatHelperProcess$")
	after := progStats(t, id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := parseJSONRows(t, out)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1:\n%s", len(rows), out)
	}
	r := rows[0]
	if r.Runs != uint64(n) {
		t.Errorf("run count %d, want exactly %d", r.Runs, n)
	}
	if got, want := r.RunTimeNs, int64(after.RunTime-before.RunTime); got != want {
		t.Errorf("run time %d ns, stats fd says %d ns", got, want)
	}
	if want := float64(r.RunTimeNs) / float64(r.Runs); math.Abs(r.NsPerRun-want) > 1e-6*want {
		t.Errorf("ns per run %.3f, want %.3f", r.NsPerRun, want)
	}
	// Host: fentry is refused, the count is sampled and said so once.
	ev := r.Events[0]
	if ev.Event != "cpu-clock" {
		t.Fatalf("event %q, want cpu-clock", ev.Event)
	}
	if guest && ev.Method != "exact" {
		t.Fatalf("cpu-clock %s in the guest, where fentry works: %s", ev.Method, stderr)
	}
	switch ev.Method {
	case "exact":
		if r.ExactRuns == nil || *r.ExactRuns != uint64(n) {
			t.Errorf("fexit counted %v runs, want %d", r.ExactRuns, n)
		}
		if ev.MetricValue == nil || *ev.MetricValue <= 0 || *ev.MetricValue > 1e6 || ev.RunningNs == 0 {
			t.Errorf("cpu-clock %+v: no plausible ns per run", ev)
		}
		var sum uint64
		if r.Latency != nil {
			for _, b := range r.Latency.Buckets {
				sum += b.Count
			}
		}
		if sum != uint64(n) {
			t.Errorf("latency buckets sum to %d, want %d", sum, n)
		}
	case "sampled":
		if !strings.Contains(stderr, "--latency: no histogram where counts are sampled") || r.Latency != nil {
			t.Errorf("--latency without exact counting: no note, or a histogram %+v:\n%s", r.Latency, stderr)
		}
		if strings.Count(stderr, "exact counting unavailable: ") != 1 || !strings.Contains(stderr, "counts are sampled") {
			t.Errorf("no single fallback message:\n%s\n%s", stderr, out)
		}
		// With n samples of a Poisson-like process the relative error
		// is about 1/sqrt(n): at >= 200 samples (999 Hz over ~0.5 s
		// in the program) that is <= 7%; 35% is five sigma, and leaves
		// room for the samples on the program's entry and exit path,
		// which the stats clock counts but whose IP is outside the
		// JIT image.
		if ev.Samples < 200 {
			t.Fatalf("only %d samples in the program: machine too busy to judge", ev.Samples)
		}
		sampledNs := *ev.Value * 1e6
		if rel := math.Abs(sampledNs-float64(r.RunTimeNs)) / float64(r.RunTimeNs); rel > 0.35 {
			t.Errorf("sampled cpu-clock %.0f ns vs run time %d ns: off by %.0f%%, want within 35%%", sampledNs, r.RunTimeNs, 100*rel)
		}
	default:
		t.Errorf("cpu-clock method %q", ev.Method)
	}
}

func progStats(t *testing.T, id bpfprog.ID) bpfprog.RunStats {
	t.Helper()
	p, err := bpfprog.Get(id, bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
	if err != nil {
		t.Fatal(err)
	}
	return p.Stats
}

func parseJSONRows(t *testing.T, out string) []stat.JSONRow {
	t.Helper()
	var rows []stat.JSONRow
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r stat.JSONRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

// drive runs prog flat out until the test ends.
func drive(t *testing.T, obj *testprogs.Object) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { testprogs.Drive(ctx, obj.Program(), 0) })
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// TestStatIntervals: -I 200ms over 1 s gives 5 blocks that add up to the
// totals.
func TestStatIntervals(t *testing.T) {
	obj, id := loadHot(t)
	drive(t, obj)
	out, stderr, code := statRun(t, nil, "--json", "-I", "200ms", "-d", "1", "id", fmt.Sprint(id))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := parseJSONRows(t, out)
	var blocks []stat.JSONRow
	var total *stat.JSONRow
	for i := range rows {
		if rows[i].Interval != nil {
			blocks = append(blocks, rows[i])
		} else {
			total = &rows[i]
		}
	}
	if len(blocks) != 5 || total == nil {
		t.Fatalf("%d interval rows and totals %v, want 5 and totals:\n%s", len(blocks), total != nil, out)
	}
	var runs uint64
	var runTime int64
	var samples uint64
	end := 0.0
	for i, b := range blocks {
		if *b.Interval <= end {
			t.Errorf("interval %d ends at %.3f s, not after the one before (%.3f s)", i, *b.Interval, end)
		}
		end = *b.Interval
		runs += b.Runs
		runTime += b.RunTimeNs
		samples += b.Events[0].Samples
	}
	if runs != total.Runs || runTime != total.RunTimeNs || samples != total.Events[0].Samples {
		t.Errorf("intervals sum to %d runs, %d ns, %d samples; totals %d, %d, %d",
			runs, runTime, samples, total.Runs, total.RunTimeNs, total.Events[0].Samples)
	}
	if total.Runs == 0 {
		t.Error("no runs counted")
	}
	if math.Abs(float64(total.ElapsedNs)/1e9-end) > 1e-6 {
		t.Errorf("totals span %d ns, the last interval ends at %.9f s", total.ElapsedNs, end)
	}
}

// TestStatCSVAndText: -x , gives perf's fields; the text layout has the
// sampled marker and its footnote.
func TestStatCSVAndText(t *testing.T) {
	obj, id := loadHot(t)
	drive(t, obj)
	out, stderr, code := statRun(t, nil, "-x", ",", "-d", "0.3", "-e", "cpu-clock,cycles", "id", fmt.Sprint(id))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, out)
	}
	byEvent := map[string][]string{}
	for _, r := range recs {
		if len(r) != 9 {
			t.Fatalf("%d fields, want 9: %q", len(r), r)
		}
		if r[0] != fmt.Sprintf("%s-%d", testprogs.HotFunc, id) {
			t.Errorf("program field %q", r[0])
		}
		byEvent[r[3]] = r
	}
	if v, err := strconv.ParseUint(byEvent["runs"][1], 10, 64); err != nil || v == 0 {
		t.Errorf("runs %q", byEvent["runs"][1])
	}
	if _, err := strconv.ParseFloat(byEvent["cpu-clock"][1], 64); err != nil || byEvent["cpu-clock"][2] != "msec" {
		t.Errorf("cpu-clock %q", byEvent["cpu-clock"])
	}
	if c := byEvent["cycles"]; c == nil || (c[1] != "<not supported>" && c[8] != "exact" && c[8] != "sampled") {
		t.Errorf("cycles %q", c)
	}

	out, stderr, code = statRun(t, nil, "-d", "0.3", "id", fmt.Sprint(id))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Performance counter stats for BPF program '" + testprogs.HotFunc, " runs ", "msec run time", "ns per run", "seconds time elapsed"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "~") != strings.Contains(out, stat.Footnote) {
		t.Errorf("sampled marker and footnote disagree:\n%s", out)
	}
}

// TestStatErrors: one-line errors and their exit codes.
func TestStatErrors(t *testing.T) {
	testutil.RequireRoot(t, "list BPF programs")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"id", "2147483000", "-d", "0.1"}, 1, "no BPF program with id 2147483000"},
		{[]string{"-e", "no-such-event"}, 2, `event "no-such-event": not found`},
		{[]string{"-r", "0"}, 2, "-r must be"},
		{[]string{"-r", "2"}, 2, "-r needs -d"},
		{[]string{"--json", "-x", ","}, 2, "exclusive"},
		{[]string{"--sort", "nope"}, 2, "unknown sort column"},
		{[]string{"bogus"}, 2, "unexpected argument"},
	} {
		_, stderr, code := statRun(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}

// TestStatCommandExitStatus passes the command's status on.
func TestStatCommandExitStatus(t *testing.T) {
	testutil.RequireRoot(t, "list BPF programs, perf events")
	_, stderr, code := statRun(t, nil, "--", "sh", "-c", "exit 7")
	if code != 7 {
		t.Errorf("exit %d, want 7: %s", code, stderr)
	}
}

// TestStatHardwarePMU counts cycles and instructions of a driven program
// where the machine has a PMU, and skips with the reason where it has not.
func TestStatHardwarePMU(t *testing.T) {
	obj, id := loadHot(t)
	cycles, _ := sampler.ParseEvent("cycles")
	fd, err := sampler.OpenCounter(cycles, 0)
	testutil.SkipIfNotSupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	drive(t, obj)
	out, stderr, code := statRun(t, nil, "--json", "-d", "0.5", "-e", "cycles,instructions", "id", fmt.Sprint(id))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := parseJSONRows(t, out)
	if len(rows) != 1 || len(rows[0].Events) != 2 {
		t.Fatalf("rows:\n%s", out)
	}
	insn := rows[0].Events[1]
	if insn.Value == nil || *insn.Value <= 0 || insn.MetricUnit != "insn per cycle" {
		t.Errorf("instructions %+v, want a count and insn per cycle", insn)
	}
}

// TestStatSignals: Ctrl-C, SIGTERM, SIGHUP and SIGQUIT end an open-ended
// stat, which prints its totals and exits 0.
func TestStatSignals(t *testing.T) {
	obj, id := loadHot(t)
	drive(t, obj)
	bin := buildBinary(t)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "stat", "-I", "100ms", "id", fmt.Sprint(id))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr lockedBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Counting runs once the first interval is out.
			sc := bufio.NewScanner(stdout)
			var out strings.Builder
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), " runs ") {
					break
				}
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			for sc.Scan() {
				out.WriteString(sc.Text() + "\n")
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			if !strings.Contains(out.String(), "seconds time elapsed") {
				t.Errorf("no totals after %v:\n%s", sig, out.String())
			}
		})
	}
}

// TestStatProgramLoadedMeanwhile: a program that matches the selection
// when it loads, after counting began, is counted from its load: the runs
// the stats fd counted for it, all of them.
func TestStatProgramLoadedMeanwhile(t *testing.T) {
	testutil.RequireRoot(t, "load BPF programs, perf events")
	bin := buildBinary(t)
	// The hot program under a kernel name no other test uses, so that
	// nothing matches it when stat starts: not even this test run by
	// another test binary at the same time.
	name := fmt.Sprintf("bpfprof_s%d", os.Getpid()%1000000)

	cmd := exec.Command(bin, "stat", "-j", "-I", "100ms", "name", name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(2 * time.Minute) // a hang, not a measurement
	for !strings.Contains(stderr.String(), "no program matches name "+name+" yet") {
		if time.Now().After(deadline) {
			t.Fatalf("stat never said it waits for %s: %s", name, stderr.String())
		}
		if strings.Contains(stderr.String(), "bpfprof stat:") {
			t.Fatalf("stat failed: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling stat's note, not timing anything
	}
	obj, id := progtest.LoadAs(t, testprogs.Hot, name)
	if _, err := obj.Program().Run(&ebpf.RunOptions{Data: make([]byte, 64), Repeat: 5000}); err != nil {
		t.Fatal(err)
	}
	runs := progStats(t, bpfprog.ID(id)).RunCount
	if runs < 5000 {
		t.Fatalf("stats fd counted %d runs, want at least 5000", runs)
	}
	// Wait for intervals that have seen every run.
	sc := bufio.NewScanner(stdout)
	var seen uint64
	for seen < runs && sc.Scan() {
		var r stat.JSONRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		if r.ID == uint32(id) {
			seen += r.Runs
		}
	}
	cmd.Process.Signal(os.Interrupt)
	var total *stat.JSONRow
	for sc.Scan() {
		var r stat.JSONRow
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Interval == nil && r.ID == uint32(id) {
			total = &r
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if total == nil || total.Runs != runs || !total.New {
		t.Errorf("totals %+v, want %d runs, loaded meanwhile\n%s", total, runs, stderr.String())
	}
}

// TestStatRepeatSortTop: -r gives perf's variance field, --sort and --top
// keep the busiest of two driven programs.
func TestStatRepeatSortTop(t *testing.T) {
	hot, hotID := loadHot(t)
	_, subID := progtest.Load(t, testprogs.Subprog)
	drive(t, hot)
	out, stderr, code := statRun(t, nil, "-r", "2", "-d", "0.2", "-x", ";", "--sort", "id", "--top", "1",
		"id", fmt.Sprint(hotID), "id", fmt.Sprint(subID))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rd := csv.NewReader(strings.NewReader(out))
	rd.Comma = ';'
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	first := min(hotID, bpfprog.ID(subID))
	for _, r := range recs {
		if len(r) != 10 || !strings.HasSuffix(r[4], "%") {
			t.Fatalf("%q: want 10 fields, the variance after the event", r)
		}
		if !strings.HasSuffix(r[0], fmt.Sprintf("-%d", first)) {
			t.Errorf("row of %s, want only program %d (--sort id --top 1)", r[0], first)
		}
	}
}

// TestStatWithoutRoot: without privileges, one line naming the missing
// capability and exit 1.
func TestStatWithoutRoot(t *testing.T) {
	testutil.RequireRoot(t, "run bpfprof as another user")
	bin := testutil.WorldExecutableSelf(t)
	cmd := testutil.AsNobody(bin, []string{"BPFPROF_STAT_ARGS=-d 1"}, nil, "-test.run=^TestStatHelperProcess$")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr %q", err, stderr.String())
	}
	msg := stderr.String()
	if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "bpfprof stat: ") || !strings.Contains(msg, "CAP_SYS_ADMIN") {
		t.Errorf("stderr %q, want one line naming CAP_SYS_ADMIN", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}
