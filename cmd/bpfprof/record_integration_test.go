package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/google/pprof/profile"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/pprof"
	"github.com/bpfprof/bpfprof/sampler"
)

func TestMain(m *testing.M) {
	// record catches signals; the os/signal package's goroutine that this
	// starts runs for ever once started. Start it before the leak check
	// counts goroutines.
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt)
	signal.Stop(c)

	code := testutil.LeakCheck(m)
	bpfprofBuild.remove()
	os.Exit(code)
}

// repoRoot is where `go tool pprof -list` finds the BPF sources.
const repoRoot = "../.."

// driveProgram loads a testdata object and runs its program flat out with
// BPF_PROG_TEST_RUN until the returned func is called, which also unloads it.
func driveProgram(t *testing.T, name string) (stop func()) {
	t.Helper()
	_, stop = driveProgramID(t, name)
	return stop
}

// driveProgramID is driveProgram that also returns the program's ID: other
// tests on the machine load the same testdata programs, under the same
// names, so a test that checks its own program's samples picks them by ID.
func driveProgramID(t *testing.T, name string) (id int64, stop func()) {
	t.Helper()
	pid, stop := progtest.Drive(t, name)
	return int64(pid), stop
}

// loadProgramID loads a testdata object until the end of the test and
// returns its program, to drive with testprogs.DriveUntilRan while a
// recording runs, and the program's ID.
func loadProgramID(t *testing.T, name string) (*ebpf.Program, int64) {
	t.Helper()
	obj, id := progtest.Load(t, name)
	return obj.Program(), int64(id)
}

// onlineCPUCount is the number of CPUs record samples by default.
func onlineCPUCount(t *testing.T) int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	cpus, err := sampler.ParseCPUList(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return len(cpus)
}

// whileSampling runs cmd, which samples until its context ends, calls
// during once the sampling has started (done is closed if cmd ends
// first: during should return then), then ends cmd and fails the test on
// its error (skips it for a missing privilege) or if it ended by itself.
func whileSampling(t *testing.T, cmd func(ctx context.Context) error, during func(done <-chan struct{})) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = cmd(ctx)
	}()
	defer func() { cancel(); <-done }()
	waitSampling(t, os.Getpid(), done, func() string { return fmt.Sprint(err) })
	during(done)
	select {
	case <-done:
		testutil.SkipIfNoPermission(t, err)
		t.Fatalf("ended before it was stopped: %v", err)
	default:
	}
	cancel()
	<-done
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
}

// waitSampling waits until process pid has its perf events open, three per
// CPU: the side-band, the BPF_EVENT side-band (a ring of its own) and the
// sampling event, opened in that order CPU by CPU. Counting fewer let a
// test go on before the last CPU's sampling event was open: the
// TestRecordPIDExits target then exited while record still opened it (once
// in 20 suite runs under load: "open cpu-clock on cpu 1: every process in
// [1337] has exited"). The recording has started. It
// fails the test if that does not happen while the process lives; if the
// recording ended (exited is closed), with what said says it said then.
func waitSampling(t *testing.T, pid int, exited <-chan struct{}, said func() string) {
	t.Helper()
	want := 3 * onlineCPUCount(t)
	deadline := time.After(2 * time.Minute) // a hang, not a measurement
	for {
		if n := perfEventFDs(pid); n >= want {
			return
		}
		select {
		case <-exited:
			t.Fatalf("the recording ended before it started sampling: %s", said())
		case <-deadline:
			if pid == os.Getpid() {
				// Where the command run in this process stands.
				buf := make([]byte, 1<<20)
				t.Logf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
			}
			t.Fatalf("process %d has %d of its %d perf events open", pid, perfEventFDs(pid), want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func perfEventFDs(pid int) int {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && target == "anon_inode:[perf_event]" {
			n++
		}
	}
	return n
}

func readProfile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	return p
}

// goPprof runs `go tool pprof args...` from the repository root.
func goPprof(t *testing.T, args ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		testutil.SkipOrFail(t, "go is not on PATH: "+err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, append([]string{"tool", "pprof"}, args...)...)
	cmd.Dir = repoRoot
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go tool pprof %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// recordOK runs bpfprof record in-process and fails the test unless it
// succeeds. It returns stderr.
func recordOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"record"}, args...), &out, &errOut)
	if code != 0 {
		t.Fatalf("bpfprof record %s: exit code %d\n%s", strings.Join(args, " "), code, errOut.String())
	}
	return out.String(), errOut.String()
}

// checkSummary checks the summary that record prints on stderr at the end.
func checkSummary(t *testing.T, stderr, written string) {
	t.Helper()
	for _, re := range []string{
		`(?m)^recorded [0-9.]+m?s: \d+ samples?.*, lost \d+$`,
		`(?m)^BPF programs: \d+ in samples, \d+ loaded and \d+ unloaded while recording$`,
		`(?m)^wrote ` + regexp.QuoteMeta(written) + ` \(`,
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("summary does not match %s:\n%s", re, stderr)
		}
	}
	if strings.Contains(stderr, "\r") {
		t.Errorf("progress written to a stderr that is not a terminal:\n%q", stderr)
	}
}

// bpfLines sums the samples whose leaf is in a BPF program by source line.
func bpfLines(p *profile.Profile) map[string]int64 {
	lines := map[string]int64{}
	for _, s := range p.Sample {
		leaf := s.Location[0]
		if leaf.Mapping == nil || !strings.HasPrefix(leaf.Mapping.File, "[bpf] ") || len(leaf.Line) == 0 {
			continue
		}
		l := leaf.Line[0]
		lines[fmt.Sprintf("%s:%d", l.Function.Filename, l.Line)] += s.Value[0]
	}
	return lines
}

func topOf(m map[string]int64) (string, int64) {
	var top string
	var n int64
	for k, v := range m {
		if v > n || v == n && k < top {
			top, n = k, v
		}
	}
	return top, n
}

// TestRecordHotProgram records the machine while the hot-loop program runs
// and reads the profile with go tool pprof as a user would.
func TestRecordHotProgram(t *testing.T) {
	testutil.RequireRoot(t, "perf events and BPF programs")
	file, line, err := testprogs.Marker(testprogs.Hot, "hot")
	if err != nil {
		t.Fatal(err)
	}
	hotLine := fmt.Sprintf("%s:%d", file, line)

	prog, id := loadProgramID(t, testprogs.Hot)
	path := filepath.Join(t.TempDir(), "hot.pb.gz")
	cfg, err := parseRecordArgs([]string{"-F", "999", "-o", path}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	whileSampling(t, func(ctx context.Context) error { return record(ctx, cfg, &bytes.Buffer{}, &stderr) }, func(<-chan struct{}) {
		// A second of CPU time in the program is ~1000 samples of it at
		// 999 Hz; the program stays loaded until the recording has ended.
		progtest.RunFor(t, prog, time.Second)
	})
	checkSummary(t, stderr.String(), path)

	p := readProfile(t, path)
	if p.Mapping[0].File != pprof.SystemWideFile {
		t.Errorf("system-wide profile's main mapping is %q, want %q", p.Mapping[0].File, pprof.SystemWideFile)
	}
	if top, n := topOf(bpfLines(p)); top != hotLine {
		t.Errorf("top BPF line %s (%d samples), want %s; all: %v", top, n, hotLine, bpfLines(p))
	}
	var hot, underTestRun int64
	for _, s := range p.Sample {
		// Ours by ID: a copy another test loaded and unloaded before
		// its info could be read has the name (from its kernel symbol)
		// but, rightly, type "unknown".
		if ids := s.NumLabel["bpf_prog_id"]; len(ids) != 1 || ids[0] != id {
			continue
		}
		hot += s.Value[0]
		if !s.HasLabel("bpf_prog_type", "socket_filter") || !s.HasLabel("bpf_prog_name", testprogs.HotFunc) {
			t.Errorf("hot sample labels %v %v", s.Label, s.NumLabel)
		}
		if hasFunction(s, "bpf_test_run") {
			underTestRun += s.Value[0]
		}
	}
	if hot == 0 {
		t.Fatal("no sample labelled with the hot program")
	}
	// The kernel cannot unwind from the JIT image's prologue, before it has
	// set up its frame pointer: those few samples lack their kernel callers.
	if underTestRun < hot*9/10 {
		t.Errorf("only %d of %d hot samples have bpf_test_run under them", underTestRun, hot)
	}

	t.Run("top-lines", func(t *testing.T) {
		out := goPprof(t, "-top", "-lines", path)
		for _, row := range strings.Split(out, "\n") {
			if strings.Contains(row, ".bpf.c:") {
				if !strings.Contains(row, testprogs.HotFunc+" "+hotLine) {
					t.Errorf("first BPF row %q, want %s\n%s", row, hotLine, out)
				}
				return
			}
		}
		t.Errorf("no BPF source line in:\n%s", out)
	})
	t.Run("tagfocus", func(t *testing.T) {
		out := goPprof(t, "-tags", "-tagfocus", "bpf_prog_name="+testprogs.HotFunc, path)
		if names := tagValues(out, "bpf_prog_name"); len(names) != 1 || names[0] != testprogs.HotFunc {
			t.Errorf("-tagfocus kept samples of programs %q, want only %s:\n%s", names, testprogs.HotFunc, out)
		}
		// Other test packages may drive a program of the same name at the
		// same time: ours must be among the processes kept, nothing else
		// can be said of them.
		if pids := tagValues(out, "pid"); !slices.Contains(pids, strconv.Itoa(os.Getpid())) {
			t.Errorf("-tagfocus kept samples of processes %q, not of ours (%d):\n%s", pids, os.Getpid(), out)
		}
		out = goPprof(t, "-top", "-tagfocus", "bpf_prog_name="+testprogs.HotFunc, path)
		if !strings.Contains(out, "bpf_test_run") || !strings.Contains(out, testprogs.HotFunc) {
			t.Errorf("focused -top lacks %s or bpf_test_run:\n%s", testprogs.HotFunc, out)
		}
	})
	t.Run("list", func(t *testing.T) {
		out := goPprof(t, "-list", testprogs.HotFunc, path)
		if !strings.Contains(out, "MARK: hot") || !regexp.MustCompile(`(?m)^\s+\S+\s+\S+\s+`+strconv.Itoa(line)+`:`).MatchString(out) {
			t.Errorf("-list does not show the source with the hot line %d:\n%s", line, out)
		}
	})
}

// tagValues returns the values of one tag in the output of pprof -tags.
func tagValues(out, tag string) []string {
	var vals []string
	in := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(strings.TrimSpace(l), tag+": Total"):
			in = true
		case in && strings.TrimSpace(l) == "":
			return vals
		case in:
			if _, v, ok := strings.Cut(l, "): "); ok {
				vals = append(vals, v)
			}
		}
	}
	return vals
}

func hasFunction(s *profile.Sample, name string) bool {
	for _, l := range s.Location {
		for _, ln := range l.Line {
			if ln.Function.Name == name {
				return true
			}
		}
	}
	return false
}

func stackString(s *profile.Sample) string {
	var names []string
	for _, l := range s.Location {
		for _, ln := range l.Line {
			names = append(names, ln.Function.Name)
		}
	}
	return strings.Join(names, " <- ")
}

// TestRecordProgramLoadedDuringRecording loads, drives and unloads a program
// with a subprogram while recording: it must still be named in the profile.
func TestRecordProgramLoadedDuringRecording(t *testing.T) {
	testutil.RequireRoot(t, "perf events and BPF programs")
	path := filepath.Join(t.TempDir(), "subprog.pb.gz")
	cfg, err := parseRecordArgs([]string{"-F", "999", "-o", path}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	var id int64
	whileSampling(t, func(ctx context.Context) error { return record(ctx, cfg, &bytes.Buffer{}, &stderr) }, func(<-chan struct{}) {
		// Half a second of CPU time in the program is ~500 samples at
		// 999 Hz however busy the machine; the recording ends only after
		// the kernel has reported the unload, and then drains its rings.
		id = int64(progtest.DriveUntilRan(t, testprogs.Subprog, 500*time.Millisecond))
	})
	checkSummary(t, stderr.String(), path)
	m := regexp.MustCompile(`(\d+) loaded and (\d+) unloaded`).FindStringSubmatch(stderr.String())
	if m == nil || m[1] == "0" || m[2] == "0" {
		t.Errorf("summary does not count the program's load and unload:\n%s", stderr.String())
	}

	p := readProfile(t, path)
	file, line, err := testprogs.Marker(testprogs.Subprog, "sub-hot")
	if err != nil {
		t.Fatal(err)
	}
	// Ours by ID: other tests load the same program, and a copy unloaded
	// before its info could be read is named from its kernel symbols only,
	// its subprogram without a file.
	var sub, main int64
	ours := map[uint64]bool{}
	for _, s := range p.Sample {
		if ids := s.NumLabel["bpf_prog_id"]; len(ids) != 1 || ids[0] != id {
			continue
		}
		if !s.HasLabel("bpf_prog_name", testprogs.SubprogFunc) {
			t.Errorf("sample of program %d labelled %v", id, s.Label)
		}
		main += s.Value[0]
		if hasFunction(s, testprogs.SubprogSubFunc) {
			sub += s.Value[0]
		}
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				if l.Function != nil {
					ours[l.Function.ID] = true
				}
			}
		}
	}
	if main == 0 || sub == 0 {
		t.Fatalf("%d samples labelled %s, %d of them in %s", main, testprogs.SubprogFunc, sub, testprogs.SubprogSubFunc)
	}
	lines := bpfLines(p)
	if lines[fmt.Sprintf("%s:%d", file, line)] == 0 {
		t.Errorf("no sample on the subprogram's hot line %s:%d: %v", file, line, lines)
	}
	for _, f := range p.Function {
		if ours[f.ID] && f.Name == testprogs.SubprogSubFunc && (f.Filename != file || !strings.HasPrefix(f.SystemName, "bpf_prog_")) {
			t.Errorf("subprogram function %+v", f)
		}
	}
}

// TestRecordToStdout writes the profile to standard output, keeping only
// samples with a BPF frame.
func TestRecordToStdout(t *testing.T) {
	testutil.RequireRoot(t, "perf events and BPF programs")
	stop := driveProgram(t, testprogs.Hot)
	stdout, stderr := recordOK(t, "-F", "999", "-d", "1", "--bpf-only", "-o", "-")
	stop()
	if !strings.Contains(stderr, "to standard output") || !strings.Contains(stderr, "lost ") {
		t.Errorf("summary:\n%s", stderr)
	}
	p, err := profile.Parse(strings.NewReader(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range p.Sample {
		if _, ok := s.Label["bpf_prog_name"]; !ok {
			t.Fatalf("--bpf-only kept a sample without a BPF frame: %s", stackString(s))
		}
	}
}

// TestRecordPeriodNoCallGraph samples every 2 ms of CPU time without call
// chains.
func TestRecordPeriodNoCallGraph(t *testing.T) {
	testutil.RequireRoot(t, "perf events and BPF programs")
	stop := driveProgram(t, testprogs.Hot)
	path := filepath.Join(t.TempDir(), "c.pb.gz")
	_, stderr := recordOK(t, "-c", "2000000", "--no-call-graph", "-e", "cpu-clock", "-d", "1", "-o", path)
	stop()
	checkSummary(t, stderr, path)
	p := readProfile(t, path)
	if p.PeriodType == nil || p.PeriodType.Type != "cpu" || p.Period != 2000000 {
		t.Errorf("period %v %d, want cpu 2000000", p.PeriodType, p.Period)
	}
	var hot int64
	for _, s := range p.Sample {
		if len(s.Location) != 1 {
			t.Fatalf("a stack of %d frames without call graphs", len(s.Location))
		}
		if s.HasLabel("bpf_prog_name", testprogs.HotFunc) {
			hot += s.Value[0]
		}
	}
	if hot == 0 {
		t.Error("no samples in the hot program")
	}
}

// recordExit runs bpfprof record in-process, as main does, and fails the
// test unless it exits with code. It returns stderr.
func recordExit(t *testing.T, code int, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	got := run(append([]string{"record"}, args...), &out, &errOut)
	if got != code {
		t.Fatalf("bpfprof record %s: exit code %d, want %d\n%s", strings.Join(args, " "), got, code, errOut.String())
	}
	return errOut.String()
}

// TestRecordCommand profiles a command from its start to its end, and
// exits with the command's status as perf record does.
func TestRecordCommand(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	path := filepath.Join(t.TempDir(), "cmd.pb.gz")
	script := `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; exit 3`
	stderr := recordExit(t, 3, "-F", "999", "-o", path, "--", "sh", "-c", script)
	checkSummary(t, stderr, path)
	if !strings.Contains(stderr, "command exited with status 3; bpfprof exits with 3\n") {
		t.Errorf("summary lacks the command's exit status:\n%s", stderr)
	}
	if strings.Contains(stderr, "bpfprof record:") {
		t.Errorf("the exit code was reported as an error:\n%s", stderr)
	}
	p := readProfile(t, path)
	if len(p.Sample) == 0 {
		t.Fatal("no samples of the command")
	}
	pids := map[int64]bool{}
	for _, s := range p.Sample {
		if !s.HasLabel("comm", "sh") {
			t.Errorf("sample of another process: %v %v", s.Label, s.NumLabel)
		}
		pids[s.NumLabel["pid"][0]] = true
	}
	if len(pids) != 1 {
		t.Errorf("samples of processes %v, want only the command's", pids)
	}
}

// TestRecordCommandKilled passes on a command's death by a signal as a
// shell does, 128 plus the signal, after writing the profile.
func TestRecordCommandKilled(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	path := filepath.Join(t.TempDir(), "killed.pb.gz")
	stderr := recordExit(t, 128+9, "-F", "999", "-o", path, "--", "sh", "-c", "kill -KILL $$")
	checkSummary(t, stderr, path)
	if !strings.Contains(stderr, "command was killed by signal 9 (killed); bpfprof exits with 137\n") {
		t.Errorf("summary lacks how the command ended:\n%s", stderr)
	}
	readProfile(t, path)
}

// TestRecordSystemWideCommand samples every process while a command runs,
// as perf record -a -- sleep 1 does.
func TestRecordSystemWideCommand(t *testing.T) {
	testutil.RequireRoot(t, "perf events and BPF programs")
	stop := driveProgram(t, testprogs.Hot)
	path := filepath.Join(t.TempDir(), "a.pb.gz")
	_, stderr := recordOK(t, "-a", "-F", "999", "-o", path, "--", "sleep", "1")
	stop()
	checkSummary(t, stderr, path)
	if !strings.Contains(stderr, "command exited with status 0") {
		t.Errorf("summary lacks the command's exit status:\n%s", stderr)
	}
	p := readProfile(t, path)
	var hot int64
	for _, s := range p.Sample {
		if s.HasLabel("bpf_prog_name", testprogs.HotFunc) {
			hot += s.Value[0]
		}
	}
	if hot == 0 {
		t.Error("no samples of the hot program, which runs outside the command")
	}
}

// TestRecordPID samples one running process by its id.
func TestRecordPID(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	busy := exec.Command("sha256sum", "/dev/zero")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		busy.Process.Kill()
		busy.Wait()
	}()
	path := filepath.Join(t.TempDir(), "p.pb.gz")
	_, stderr := recordOK(t, "-p", strconv.Itoa(busy.Process.Pid), "-F", "999", "-d", "1", "-o", path)
	checkSummary(t, stderr, path)
	p := readProfile(t, path)
	if len(p.Sample) == 0 {
		t.Fatal("no samples of the process")
	}
	if !strings.HasSuffix(p.Mapping[0].File, "/sha256sum") {
		t.Errorf("main mapping of -p sha256sum is %q", p.Mapping[0].File)
	}
	for _, s := range p.Sample {
		if pid := s.NumLabel["pid"]; len(pid) != 1 || pid[0] != int64(busy.Process.Pid) || !s.HasLabel("comm", "sha256sum") {
			t.Fatalf("sample of another process: %v %v", s.Label, s.NumLabel)
		}
	}
}

// TestRecordPIDExits records a process with -p and no duration: when it
// exits, the recording ends by itself and writes the profile, as perf
// record -p does.
func TestRecordPIDExits(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	// cat lives until its input closes: long enough to be found by -p.
	target := exec.Command("cat")
	stdin, err := target.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := target.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		target.Process.Kill()
		target.Wait()
	}()
	path := filepath.Join(t.TempDir(), "exits.pb.gz")
	var code int
	var stderr bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		code = run([]string{"record", "-p", strconv.Itoa(target.Process.Pid), "-F", "999", "-o", path}, &bytes.Buffer{}, &stderr)
	}()
	waitSampling(t, os.Getpid(), done, func() string { return fmt.Sprintf("exit %d: %s", code, stderr.String()) })
	stdin.Close()
	target.Wait()
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a hang, not a measurement
		t.Fatal("the recording did not end when its only process exited")
	}
	if code != 0 {
		t.Fatalf("exit code %d\n%s", code, stderr.String())
	}
	checkSummary(t, stderr.String(), path)
	if !strings.Contains(stderr.String(), "every process of -p exited") {
		t.Errorf("summary does not say why the recording ended:\n%s", stderr.String())
	}
	readProfile(t, path)
}

// TestRecordCommandNotFound checks that a command that cannot be run exits
// as it would in a shell, 127 or 126, with one line saying why.
func TestRecordCommandNotFound(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		command string
		code    int
		says    string
	}{
		{"bpfprof-no-such-command", 127, "command bpfprof-no-such-command: executable file not found in $PATH"},
		{"/nonexistent", 127, "command /nonexistent: no such file or directory"},
		{notExec, 126, "command " + notExec + ": permission denied"},
		{dir, 126, "command " + dir + ": is a directory"},
	} {
		out := filepath.Join(dir, "x.pb.gz")
		var stdout, stderr bytes.Buffer
		code := run([]string{"record", "-o", out, "--", tc.command}, &stdout, &stderr)
		if want := "bpfprof record: " + tc.says + "\n"; code != tc.code || stderr.String() != want {
			t.Errorf("%s: exit code %d, stderr %q; want %d, %q", tc.command, code, stderr.String(), tc.code, want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: left %s behind", tc.command, out)
		}
	}
}

// TestRecordUnsupportedEvent asks for a hardware event where there is no
// PMU (this VM): one line saying what to do, exit 1, nothing left behind.
func TestRecordUnsupportedEvent(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	if sampler.DefaultEvent().String() == "cycles" {
		t.Skip("this machine has a hardware PMU")
	}
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"record", "-e", "cycles", "-d", "1", "-o", filepath.Join(dir, "x.pb.gz")}, &stdout, &stderr)
	want := "bpfprof record: cycles: not supported on this machine (no hardware PMU?); try -e cpu-clock\n"
	if code != 1 || stderr.String() != want {
		t.Errorf("exit code %d, stderr %q; want 1, %q", code, stderr.String(), want)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left %v behind", entries)
	}
}

// testBuild builds a Go package once, into a temporary directory that
// remove deletes whether the build succeeded or not.
type testBuild struct {
	pkg  string
	once sync.Once
	mu   sync.Mutex
	dir  string // "" until made, and after remove
	bin  string
	err  error
}

// bpfprofBuild is the binary of the tests that run bpfprof as a user does;
// TestMain removes it.
var bpfprofBuild = &testBuild{pkg: "."}

func (b *testBuild) build() (string, error) {
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "bpfprof-test-")
		if err != nil {
			b.err = err
			return
		}
		b.mu.Lock()
		b.dir = dir
		b.mu.Unlock()
		bin := filepath.Join(dir, "bpfprof")
		if out, err := exec.Command("go", "build", "-o", bin, b.pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
			return
		}
		b.bin = bin
	})
	return b.bin, b.err
}

// remove deletes the build's directory, if it made one.
func (b *testBuild) remove() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
		b.dir = ""
	}
}

// buildBinary builds bpfprof once for the tests that run it as a user does.
func buildBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		testutil.SkipOrFail(t, "go is not on PATH: "+err.Error())
	}
	bin, err := bpfprofBuild.build()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestBuildRemovedOnFailure checks that a build that fails leaves no
// temporary directory behind once removed, as TestMain does.
func TestBuildRemovedOnFailure(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		testutil.SkipOrFail(t, "go is not on PATH: "+err.Error())
	}
	b := &testBuild{pkg: "./bpfprof-no-such-package"}
	if _, err := b.build(); err == nil {
		t.Fatal("building a missing package succeeded")
	}
	b.mu.Lock()
	dir := b.dir
	b.mu.Unlock()
	if dir == "" {
		t.Fatal("the failed build made no directory to test the removal with")
	}
	b.remove()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after remove: %v", dir, err)
	}
}

// TestRecordInterrupt stops the built binary with SIGINT (Ctrl-C) halfway:
// the profile it writes is complete and holds the samples so far.
func TestRecordInterrupt(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "int.pb.gz")
	prog, _ := loadProgramID(t, testprogs.Hot)

	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "record", "-F", "999", "-o", path)
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill() // on a failure before the signal; a no-op after the exit
			exited := make(chan struct{})
			var waitErr error
			go func() { waitErr = cmd.Wait(); close(exited) }()
			waitSampling(t, cmd.Process.Pid, exited, func() string { return fmt.Sprintf("%v: %s", waitErr, stderr.String()) })
			// The signal comes once the kernel has sampled the program
			// ~200 times, not after a fixed time.
			progtest.RunFor(t, prog, 200*time.Millisecond)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			<-exited
			if waitErr != nil {
				t.Fatalf("%v\n%s", waitErr, stderr.String())
			}
			checkSummary(t, stderr.String(), path)
			p := readProfile(t, path)
			if len(p.Sample) == 0 {
				t.Fatal("interrupted profile has no samples")
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %v, want only the profile", entries)
			}
		})
	}
}

// TestRecordHangupCommand: SIGHUP (the terminal closed, ssh dropped) ends
// a recording of a command as SIGTERM does: the profile is written, no
// temporary file is left, and the command is stopped, not left orphaned.
func TestRecordHangupCommand(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	bin := buildBinary(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "hup.pb.gz")
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "record", "-F", "999", "-o", path, "--", "sleep", "600")
	cmd.Stderr = &stderr
	// A command left orphaned keeps stderr's pipe open: Wait must not
	// wait for it, or a bpfprof that dies on SIGHUP hangs the test
	// for the command's 600 s instead of failing it.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // on a failure before the signal; a no-op after the exit
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	waitSampling(t, cmd.Process.Pid, exited, func() string { return fmt.Sprintf("%v: %s", waitErr, stderr.String()) })
	children := childrenOf(cmd.Process.Pid)
	if len(children) != 1 {
		t.Fatalf("bpfprof has children %v, want the command", children)
	}
	// Whatever happens, the command does not outlive the test: killed
	// while it is still our sleep (its pid not yet reused).
	t.Cleanup(func() {
		if b, err := os.ReadFile("/proc/" + children[0] + "/cmdline"); err == nil && string(b) == "sleep\x00600\x00" {
			if pid, err := strconv.Atoi(children[0]); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	<-exited
	if waitErr != nil {
		t.Fatalf("%v\n%s", waitErr, stderr.String())
	}
	checkSummary(t, stderr.String(), path)
	readProfile(t, path)
	if _, err := os.Stat(fmt.Sprintf("/proc/%s", children[0])); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the command (pid %s) outlived bpfprof: %v", children[0], err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %v, want only the profile", entries)
	}
}

// TestRecordQuitTwice: a recording stuck finishing (its -o a FIFO that no
// one reads) ends on a second Ctrl-\, as a Go program does on its first:
// the first SIGQUIT ends the sampling, the next one is Go's default again.
func TestRecordQuitTwice(t *testing.T) {
	testutil.RequireRoot(t, "perf events")
	bin := buildBinary(t)
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "record", "-F", "99", "-o", fifo)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // on a failure; a no-op after the exit
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	waitSampling(t, cmd.Process.Pid, exited, func() string { return fmt.Sprintf("%v: %s", waitErr, stderr.String()) })
	// Until the first SIGQUIT is handled, later ones are caught too: send
	// them until the process is gone.
	deadline := time.After(time.Minute) // a hang, not a measurement
	for quit := true; quit; {
		if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
		select {
		case <-exited:
			quit = false
		case <-deadline:
			t.Fatalf("record did not end on repeated SIGQUITs; stderr:\n%s", stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), "SIGQUIT: quit") {
		t.Errorf("ended with %v, want Go's SIGQUIT exit (2, goroutine dump); stderr:\n%s", waitErr, stderr.String())
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the FIFO is now %v (%v)", fi, err)
	}
}

// childrenOf lists the child processes of pid, of all its threads.
func childrenOf(pid int) []string {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []string
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		out = append(out, strings.Fields(string(b))...)
	}
	return out
}

// TestRecordUnwritableOutputBinary runs the built binary with an output it
// cannot write: exit 1 with one line, before any sampling.
func TestRecordUnwritableOutputBinary(t *testing.T) {
	bin := buildBinary(t)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "record", "-o", "/proc/nonexistent/x.pb.gz")
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v", err)
	}
	want := "bpfprof record: cannot write the profile to /proc/nonexistent/x.pb.gz: no such file or directory\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}
