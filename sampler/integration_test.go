package sampler

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/privilege"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// recorder keeps copies of the records a Reader delivers, in order.
type recorder struct {
	keep func(Record) bool
	mu   sync.Mutex
	recs []Record
}

func (r *recorder) HandleRecord(rec Record) {
	if r.keep != nil && !r.keep(rec) {
		return
	}
	c := clone(rec)
	r.mu.Lock()
	r.recs = append(r.recs, c)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.recs...)
}

// session opens a Reader for opts and runs it until the test ends or stop
// is called; stop returns its Stats.
func session(t *testing.T, opts Options, rec *recorder) (stop func() Stats) {
	t.Helper()
	testutil.RequireRoot(t, "perf_event_open on every CPU")
	r, err := Open(opts)
	testutil.SkipIfNotSupported(t, err)
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, rec) }()
	var once sync.Once
	var st Stats
	stop = func() Stats {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			st = r.Stats()
			if err := r.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			t.Logf("stats: %+v", st)
		})
		return st
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitFor polls until cond holds for the records so far. The deadline only
// keeps a broken test from hanging; nothing is asserted about time.
func waitFor(t *testing.T, rec *recorder, what string, cond func([]Record) bool) []Record {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		recs := rec.snapshot()
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s (%d records kept)", what, len(recs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var sink uint64

//go:noinline
func spinWork(n uint64) uint64 {
	x := n
	for i := uint64(0); i < n; i++ {
		x = x*6364136223846793005 + i ^ x>>7
	}
	return x
}

// spinner keeps one locked OS thread busy in user space until stopped.
func spinner(t *testing.T) (tid int) {
	stop := make(chan struct{})
	tids := make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sink += spinWork(1 << 16)
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
	return <-tids
}

func isSpinFrame(ip uint64) bool {
	f := runtime.FuncForPC(uintptr(ip))
	return f != nil && (strings.HasSuffix(f.Name(), ".spinWork") || strings.HasSuffix(f.Name(), ".spinner.func1"))
}

func monotonic(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

func TestSampleBusyLoop(t *testing.T) {
	tid := spinner(t)
	pid := os.Getpid()
	t0 := monotonic(t)
	rec := &recorder{keep: func(r Record) bool { _, ok := r.(*Sample); return ok }}
	stop := session(t, Options{Events: []Event{DefaultEvent()}, Frequency: 999, CallGraph: true}, rec)
	mine := func(recs []Record) (n int) {
		for _, r := range recs {
			if s := r.(*Sample); int(s.PID) == pid && int(s.TID) == tid && isSpinFrame(s.IP) {
				n++
			}
		}
		return n
	}
	waitFor(t, rec, "20 samples in the spinning goroutine", func(recs []Record) bool { return mine(recs) >= 20 })
	st := stop()
	t1 := monotonic(t)

	others := 0
	for _, r := range rec.snapshot() {
		s := r.(*Sample)
		if s.Time < t0 || s.Time > t1 {
			t.Errorf("sample time %d outside CLOCK_MONOTONIC [%d, %d]", s.Time, t0, t1)
		}
		if s.Period == 0 {
			t.Errorf("sample without period: %+v", s)
		}
		if int(s.PID) != pid || int(s.TID) != tid || !isSpinFrame(s.IP) {
			others++
			continue
		}
		if len(s.User) == 0 || s.User[0] != s.IP {
			t.Errorf("user-space sample at %#x has user callchain %#x", s.IP, s.User)
		}
		// Frame pointers unwind the rest; a frameless leaf (spinWork) hides
		// its caller, so only ask that every frame is Go code of ours.
		if len(s.User) < 2 {
			t.Errorf("callchain of %#x has %d user frames", s.IP, len(s.User))
		}
		for _, ip := range s.User {
			if runtime.FuncForPC(uintptr(ip)) == nil {
				t.Errorf("callchain of %#x has %#x, not in this binary: %#x", s.IP, ip, s.User)
			}
		}
	}
	t.Logf("%d samples of the spinner, %d others", mine(rec.snapshot()), others)
	if st.DecodeErrors != 0 || st.Samples == 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSamplePIDs(t *testing.T) {
	tid := spinner(t)
	pid := os.Getpid()
	rec := &recorder{keep: func(r Record) bool { _, ok := r.(*Sample); return ok }}
	stop := session(t, Options{Events: []Event{DefaultEvent()}, Frequency: 999, PIDs: []int{pid}}, rec)
	waitFor(t, rec, "10 samples in the spinning goroutine", func(recs []Record) bool {
		n := 0
		for _, r := range recs {
			if s := r.(*Sample); int(s.TID) == tid && isSpinFrame(s.IP) {
				n++
			}
		}
		return n >= 10
	})
	stop()
	for _, r := range rec.snapshot() {
		if s := r.(*Sample); int(s.PID) != pid {
			t.Fatalf("sample of process %d while sampling only %d", s.PID, pid)
		}
	}
}

// cgroup2Mount finds where the cgroup v2 hierarchy is mounted.
func cgroup2Mount(t *testing.T) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" {
				return fields[4]
			}
		}
	}
	return ""
}

func TestSampleCgroup(t *testing.T) {
	testutil.RequireRoot(t, "creating a cgroup")
	root := cgroup2Mount(t)
	if root == "" {
		testutil.SkipOrFail(t, "no cgroup v2 hierarchy mounted")
	}
	dir := filepath.Join(root, fmt.Sprintf("bpfprof-sampler-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })

	child := exec.Command("sh", "-c", "read x; while :; do :; done")
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait(); in.Close() })
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(child.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{keep: func(r Record) bool { _, ok := r.(*Sample); return ok }}
	stop := session(t, Options{Events: []Event{DefaultEvent()}, Frequency: 999, Cgroup: dir}, rec)
	fmt.Fprintln(in)
	waitFor(t, rec, "10 samples of the shell loop in the cgroup", func(recs []Record) bool { return len(recs) >= 10 })
	stop()
	for _, r := range rec.snapshot() {
		if s := r.(*Sample); int(s.PID) != child.Process.Pid {
			t.Fatalf("sample of process %d, outside the cgroup (only %d is in it)", s.PID, child.Process.Pid)
		}
	}
}

func TestEnableOnExec(t *testing.T) {
	testutil.RequireRoot(t, "perf_event_open")
	// The shell waits for a line, then execs a busy program; sampling must
	// start at that exec, not before.
	child := exec.Command("sh", "-c", "read x; exec yes")
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	t.Cleanup(func() { child.Process.Kill(); child.Wait(); in.Close() })

	rec := &recorder{keep: func(r Record) bool {
		switch r := r.(type) {
		case *Sample:
			return true
		case *Comm:
			return int(r.PID) == pid
		}
		return false
	}}
	stop := session(t, Options{Events: []Event{DefaultEvent()}, Frequency: 999, PIDs: []int{pid}, EnableOnExec: true}, rec)
	fmt.Fprintln(in)
	recs := waitFor(t, rec, "10 samples of yes", func(recs []Record) bool {
		n := 0
		for _, r := range recs {
			if s, ok := r.(*Sample); ok && int(s.PID) == pid {
				n++
			}
		}
		return n >= 10
	})
	stop()
	var execAt uint64
	for _, r := range recs {
		if c, ok := r.(*Comm); ok && c.Exec && c.Comm == "yes" {
			execAt = c.Time
			break
		}
	}
	if execAt == 0 {
		t.Fatal("no COMM record for the exec of yes")
	}
	for _, r := range recs {
		if s, ok := r.(*Sample); ok && s.Time < execAt {
			t.Errorf("sample at %d before the exec at %d", s.Time, execAt)
		}
	}
}

// kallsymsRange returns the address range of a kernel function.
func kallsymsRange(t *testing.T, name string) (start, end uint64) {
	syms, err := testutil.ReadKallsyms()
	if err != nil {
		t.Fatal(err)
	}
	var addrs []uint64
	found := false
	for _, ks := range syms {
		addrs = append(addrs, ks.Addr)
		if ks.Name == name && !found {
			start, found = ks.Addr, true
		}
	}
	switch {
	case !found:
		testutil.SkipIfNotSupported(t, fmt.Errorf("kernel function %s: %w by this kernel (not in /proc/kallsyms)", name, ErrNotSupported))
	case start == 0:
		testutil.SkipOrFail(t, fmt.Sprintf("/proc/kallsyms shows %s at address 0: kptr_restrict hides kernel addresses", name))
	}
	end = ^uint64(0)
	for _, a := range addrs {
		if a > start && a < end {
			end = a
		}
	}
	return start, end
}

func TestBPFProgramLifecycle(t *testing.T) {
	testutil.RequireRoot(t, "loading BPF programs")
	testStart, testEnd := kallsymsRange(t, "bpf_test_run")

	rec := &recorder{keep: func(r Record) bool {
		switch r := r.(type) {
		case *KSymbol, *BPFEvent:
			return true
		case *Sample:
			return r.IP >= 1<<63 // kernel addresses: the JIT range is among them
		}
		return false
	}}
	stop := session(t, Options{Events: []Event{DefaultEvent()}, Frequency: 4000, CallGraph: true}, rec)

	// Load only once sampling runs, so the side-band must report it.
	obj, info := progtest.LoadInfo(t, testprogs.Hot)
	id, _ := info.ID()
	addrs, ok1 := info.JitedKsymAddrs()
	lens, ok2 := info.JitedFuncLens()
	if !ok1 || !ok2 || len(addrs) != 1 || len(lens) != 1 {
		t.Fatalf("JIT info: addrs %v (%v), lens %v (%v)", addrs, ok1, lens, ok2)
	}
	jitStart, jitEnd := uint64(addrs[0]), uint64(addrs[0])+uint64(lens[0])
	name := "bpf_prog_" + info.Tag + "_" + testprogs.HotFunc
	t.Logf("program %d %s at %#x-%#x", id, name, jitStart, jitEnd)

	isReg := func(r Record, unregister bool) bool {
		k, ok := r.(*KSymbol)
		return ok && k.Name == name && k.Addr == jitStart && k.Len == lens[0] && k.Type == KSymbolBPF && k.Unregister == unregister
	}
	isEvent := func(r Record, typ BPFEventType) bool {
		e, ok := r.(*BPFEvent)
		return ok && e.Type == typ && e.ProgID == uint32(id) && fmt.Sprintf("%x", e.Tag) == info.Tag
	}
	inProgram := func(r Record) bool {
		s, ok := r.(*Sample)
		if !ok || s.IP < jitStart || s.IP >= jitEnd {
			return false
		}
		for _, ip := range s.Kernel {
			if ip >= testStart && ip < testEnd {
				return true
			}
		}
		return false
	}

	ctx, cancel := context.WithCancel(context.Background())
	driven := make(chan error, 1)
	go func() { _, err := testprogs.Drive(ctx, obj.Program(), 0); driven <- err }()
	recs := waitFor(t, rec, "KSYMBOL, PROG_LOAD and 20 samples inside the program under bpf_test_run", func(recs []Record) bool {
		var reg, load bool
		n := 0
		for _, r := range recs {
			reg = reg || isReg(r, false)
			load = load || isEvent(r, BPFEventProgLoad)
			if inProgram(r) {
				n++
			}
		}
		return reg && load && n >= 20
	})
	cancel()
	if err := <-driven; err != nil {
		t.Fatal(err)
	}

	// The symbol reaches the handler before any sample in it, whichever
	// CPU took the sample.
	for _, r := range recs {
		if isReg(r, false) {
			break
		}
		if s, ok := r.(*Sample); ok && s.IP >= jitStart && s.IP < jitEnd {
			t.Fatalf("sample at %#x on cpu %d delivered before the KSYMBOL of %s", s.IP, s.CPU, name)
		}
	}

	if err := obj.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, rec, "KSYMBOL unregister and PROG_UNLOAD", func(recs []Record) bool {
		var unreg, unload bool
		for _, r := range recs {
			unreg = unreg || isReg(r, true)
			unload = unload || isEvent(r, BPFEventProgUnload)
		}
		return unreg && unload
	})
	if st := stop(); st.DecodeErrors != 0 {
		t.Errorf("decode errors: %+v", st)
	}
}

func TestHardwareEventUnsupported(t *testing.T) {
	testutil.RequireRoot(t, "perf_event_open on every CPU")
	if hasPMU() {
		t.Skip("this machine has a hardware PMU: cycles opens")
	}
	r, err := Open(Options{Events: []Event{cycles}})
	if err == nil {
		r.Close()
		t.Fatal("cycles opened on a machine without a PMU")
	}
	if want := "cycles: not supported on this machine (no hardware PMU?); try -e cpu-clock"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("error %v does not wrap ErrNotSupported", err)
	}
}

func TestSampleCycles(t *testing.T) {
	tid := spinner(t)
	rec := &recorder{keep: func(r Record) bool { s, ok := r.(*Sample); return ok && int(s.TID) == tid }}
	ev, err := ParseEvent("cycles:u")
	if err != nil {
		t.Fatal(err)
	}
	session(t, Options{Events: []Event{ev, DefaultEvent()}, Frequency: 999}, rec) // skips without a PMU
	waitFor(t, rec, "cycles samples of the spinner", func(recs []Record) bool {
		for _, r := range recs {
			if r.(*Sample).Event == 0 {
				return true
			}
		}
		return false
	})
}

func TestTwoEvents(t *testing.T) {
	tid := spinner(t)
	rec := &recorder{keep: func(r Record) bool { s, ok := r.(*Sample); return ok && int(s.TID) == tid }}
	clock, err := ParseEvent("cpu-clock")
	if err != nil {
		t.Fatal(err)
	}
	task, err := ParseEvent("task-clock:u")
	if err != nil {
		t.Fatal(err)
	}
	session(t, Options{Events: []Event{clock, task}, Period: 1_000_000}, rec)
	waitFor(t, rec, "samples of both events", func(recs []Record) bool {
		var seen [2]bool
		for _, r := range recs {
			s := r.(*Sample)
			seen[s.Event] = true
			if s.Period != 1_000_000 {
				t.Fatalf("period %d with Period 1000000", s.Period)
			}
		}
		return seen[0] && seen[1]
	})
}

func TestCloseStopsRun(t *testing.T) {
	testutil.RequireRoot(t, "perf_event_open on every CPU")
	r, err := Open(Options{Events: []Event{DefaultEvent()}, Frequency: 99, RingPages: 1})
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	running := make(chan struct{})
	var once sync.Once
	go func() {
		done <- r.Run(context.Background(), HandlerFunc(func(Record) { once.Do(func() { close(running) }) }))
	}()
	// Close while Run runs: once it has delivered a record.
	select {
	case <-running:
	case err := <-done:
		t.Fatalf("Run returned before any record: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("Run after Close: %v", err)
	}
	if r.TargetsExited() {
		t.Error("TargetsExited of a system-wide Reader")
	}
	if err := r.Run(context.Background(), HandlerFunc(func(Record) {})); err == nil {
		t.Error("second Run succeeded")
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestGroupCounters(t *testing.T) {
	tid := spinner(t)
	var evs []Event
	for _, spec := range []string{"cpu-clock", "task-clock", "page-faults"} {
		e, err := ParseEvent(spec)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	rec := &recorder{keep: func(r Record) bool { s, ok := r.(*Sample); return ok && int(s.TID) == tid }}
	stop := session(t, Options{Events: evs, Frequency: 999, Group: true}, rec)
	recs := waitFor(t, rec, "20 samples of the spinner", func(recs []Record) bool { return len(recs) >= 20 })
	stop()
	var last uint64
	for _, r := range recs {
		s := r.(*Sample)
		if s.Event != 0 || len(s.Counters) != 3 {
			t.Fatalf("sample of event %d with counters %+v", s.Event, s.Counters)
		}
		for i, c := range s.Counters {
			if c.Event != i {
				t.Fatalf("counter %d is of event %d: %+v", i, c.Event, s.Counters)
			}
		}
		// Both clocks count nanoseconds of the same CPU: the counts grow.
		if s.Counters[0].Value == 0 || s.Counters[1].Value == 0 {
			t.Fatalf("zero clock counts: %+v", s.Counters)
		}
		if s.CPU == recs[0].common().CPU && s.Counters[0].Value < last {
			t.Errorf("cpu-clock count went back from %d to %d", last, s.Counters[0].Value)
		}
		if s.CPU == recs[0].common().CPU {
			last = s.Counters[0].Value
		}
	}
}

func TestSidebandProcessLifecycle(t *testing.T) {
	self := uint32(os.Getpid())
	rec := &recorder{keep: func(r Record) bool {
		switch r := r.(type) {
		case *Fork:
			return r.PPID == self
		case *Comm:
			return r.Exec
		case *Mmap2:
			return strings.HasSuffix(r.Filename, "/true")
		case *Exit:
			return true
		}
		return false
	}}
	stop := session(t, Options{Events: []Event{DefaultEvent()}, Frequency: 99}, rec)
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	child := uint32(cmd.Process.Pid)
	recs := waitFor(t, rec, "FORK, COMM, MMAP2 and EXIT of true", func(recs []Record) bool {
		var fork, comm, mmap, exit bool
		for _, r := range recs {
			switch r := r.(type) {
			case *Fork:
				fork = fork || r.PID == child
			case *Comm:
				comm = comm || (r.PID == child && r.Comm == "true")
			case *Mmap2:
				mmap = mmap || r.PID == child
			case *Exit:
				exit = exit || r.PID == child
			}
		}
		return fork && comm && mmap && exit
	})
	stop()
	var last uint64
	for _, r := range recs {
		if m, ok := r.(*Mmap2); ok && m.PID == child {
			if len(m.BuildID) == 0 && m.Ino == 0 {
				t.Errorf("MMAP2 of %s has neither build ID nor inode: %+v", m.Filename, m)
			}
			if m.Prot&unix.PROT_EXEC == 0 || m.Len == 0 {
				t.Errorf("MMAP2 of %s: %+v", m.Filename, m)
			}
			t.Logf("mmap2 %s %#x+%#x build id %x", m.Filename, m.Addr, m.Len, m.BuildID)
		}
		// One process's records follow each other: even across rounds
		// they come in time order.
		if c := r.common(); c.Time < last {
			t.Errorf("records out of time order: %d after %d", c.Time, last)
		} else {
			last = c.Time
		}
	}
}

// TestSidebandTimesWithOtherSessions: with several perf sessions listening,
// the kernel inflates the size of KSYMBOL and BPF_EVENT records for all but
// the first; their time and CPU must still be read right in every session.
func TestSidebandTimesWithOtherSessions(t *testing.T) {
	testutil.RequireRoot(t, "loading BPF programs")
	keep := func(r Record) bool {
		switch r.(type) {
		case *KSymbol, *BPFEvent:
			return true
		}
		return false
	}
	// Every record of these kinds is checked, also those of programs that
	// other processes load meanwhile: the window starts before the
	// sessions open, not at this test's own load.
	before := monotonic(t)
	var recs []*recorder
	for range 3 {
		rec := &recorder{keep: keep}
		session(t, Options{Events: []Event{DefaultEvent()}, Frequency: 99}, rec)
		recs = append(recs, rec)
	}
	obj, _ := progtest.Load(t, testprogs.Subprog)
	if err := obj.Close(); err != nil {
		t.Fatal(err)
	}
	for i, rec := range recs {
		got := waitFor(t, rec, "the PROG_UNLOAD", func(rs []Record) bool {
			n := 0
			for _, r := range rs {
				if e, ok := r.(*BPFEvent); ok && e.Type == BPFEventProgUnload {
					n++
				}
			}
			return n >= 1
		})
		after := monotonic(t)
		online, err := onlineCPUs()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			c := r.common()
			if c.Time < before || c.Time > after || !slices.Contains(online, int(c.CPU)) {
				t.Errorf("session %d: %T at time %d cpu %d, want time in [%d, %d]", i, r, c.Time, c.CPU, before, after)
			}
		}
	}
}

// TestPIDModeEndsWhenTargetsExit: like perf record -p, Run returns by itself
// once the process sampled and the children it forked have all exited,
// delivering what is left in the rings.
func TestPIDModeEndsWhenTargetsExit(t *testing.T) {
	testutil.RequireRoot(t, "perf_event_open")
	// The shell waits for a line, then forks cat (which inherits the
	// events) and waits for it to read stdin to its end, then counts a
	// while and exits.
	child := exec.Command("sh", "-c", "read x; cat; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
	in, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pid := child.Process.Pid
	t.Cleanup(func() { in.Close(); child.Process.Kill(); child.Wait() })

	r, err := Open(Options{Events: []Event{DefaultEvent()}, Frequency: 999, PIDs: []int{pid}})
	testutil.SkipIfNotSupported(t, err)
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rec := &recorder{keep: func(r Record) bool {
		switch r := r.(type) {
		case *Fork:
			return int(r.PPID) == pid
		case *Sample:
			return int(r.PID) == pid
		}
		return false
	}}
	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background(), rec) }()
	fmt.Fprintln(in)
	in.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(60 * time.Second): // only keeps a broken Run from hanging the test
		r.Close()
		<-done
		t.Fatal("Run still running after the target and its child exited")
	}
	if !r.TargetsExited() {
		t.Error("Run returned, but TargetsExited is false")
	}
	var fork bool
	samples := 0
	for _, r := range rec.snapshot() {
		switch r.(type) {
		case *Fork:
			fork = true
		case *Sample:
			samples++
		}
	}
	t.Logf("%d samples of the shell; stats %+v", samples, r.Stats())
	if !fork || samples == 0 {
		t.Errorf("fork of cat seen: %v, samples of the shell: %d; want both", fork, samples)
	}
}

// perTaskHelperEnv marks the run of this test binary, as another user, that
// TestPerTaskSideband starts.
const perTaskHelperEnv = "BPFPROF_SAMPLER_PER_TASK_HELPER"

// TestPerTaskSideband: a user without CAP_PERFMON, at the default
// kernel.perf_event_paranoid of 2, may sample user space of its own
// processes. The system-wide side-band is refused; Open falls back to
// side-band events on the target's threads, which still report its
// children's FORK, COMM and EXIT. As root, the test runs this test binary
// as nobody to check that.
func TestPerTaskSideband(t *testing.T) {
	if os.Getenv(perTaskHelperEnv) == "1" {
		perTaskSideband(t)
		return
	}
	testutil.RequireRoot(t, "running the test binary as another user")
	bin := testutil.WorldExecutableSelf(t)
	cmd := testutil.AsNobody(bin, []string{perTaskHelperEnv + "=1"}, nil, "-test.run=^TestPerTaskSideband$", "-test.v", "-test.count=1")
	out, err := cmd.CombinedOutput()
	t.Logf("as uid 65534:\n%s", out)
	if err != nil {
		t.Fatalf("as uid 65534: %v", err)
	}
	switch {
	case strings.Contains(string(out), "--- SKIP: TestPerTaskSideband"):
		t.Skip("skipped as uid 65534 (see above)")
	case !strings.Contains(string(out), "--- PASS: TestPerTaskSideband"):
		t.Fatal("as uid 65534: the test did not run")
	}
}

// perTaskSideband is TestPerTaskSideband as the unprivileged user.
func perTaskSideband(t *testing.T) {
	p, err := privilege.Read()
	if err != nil {
		t.Fatal(err)
	}
	if CanSampleSystemWide(p) || !CanSample(p) {
		testutil.SkipOrFail(t, fmt.Sprintf("needs kernel.perf_event_paranoid 1 or 2 without CAP_PERFMON (have %+v)", p))
	}
	ev, err := ParseEvent("cpu-clock:u")
	if err != nil {
		t.Fatal(err)
	}
	tid := spinner(t)
	self := uint32(os.Getpid())
	rec := &recorder{keep: func(r Record) bool {
		switch r := r.(type) {
		case *Sample:
			return true
		case *Fork:
			return r.PPID == self
		case *Comm:
			return r.Exec
		case *Exit:
			return r.PID != self
		}
		return false
	}}
	r, err := Open(Options{Events: []Event{ev}, Frequency: 999, PIDs: []int{int(self)}, CallGraph: true, RingPages: 8})
	if err != nil {
		t.Fatalf("Open of a PID-mode Reader without privileges: %v", err)
	}
	defer r.Close()
	if !r.PerTaskSideband() {
		t.Error("PerTaskSideband is false, yet a system-wide side-band needs CAP_PERFMON")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, rec) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	child := uint32(cmd.Process.Pid)
	defer func() {
		if !t.Failed() {
			return
		}
		// Which of the child's records came, and whether the kernel
		// dropped any: a record lost, or a thread Open did not follow.
		var task []string
		for _, r := range rec.snapshot() {
			switch r.(type) {
			case *Fork, *Comm, *Exit:
				task = append(task, fmt.Sprintf("%T%+v", r, r))
			}
		}
		t.Logf("child %d; stats %+v; warnings %q; side-band records %v", child, r.Stats(), r.Warnings(), task)
	}()
	recs := waitFor(t, rec, "10 samples of the spinner, and the FORK, COMM and EXIT of true", func(recs []Record) bool {
		var fork, comm, exit bool
		n := 0
		for _, r := range recs {
			switch r := r.(type) {
			case *Sample:
				if int(r.TID) == tid && isSpinFrame(r.IP) {
					n++
				}
			case *Fork:
				fork = fork || r.PID == child
			case *Comm:
				comm = comm || (r.PID == child && r.Comm == "true")
			case *Exit:
				exit = exit || r.PID == child
			}
		}
		return n >= 10 && fork && comm && exit
	})
	for _, r := range recs {
		if s, ok := r.(*Sample); ok && s.PID != self && s.PID != child {
			t.Fatalf("sample of process %d while sampling only %d", s.PID, self)
		}
	}
}
