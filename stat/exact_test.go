package stat

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
)

func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(m)) }

// hotProgram loads the hot testdata program and reads it back.
func hotProgram(tb testing.TB) (*testprogs.Object, *bpfprog.Program) {
	tb.Helper()
	testutil.RequireRoot(tb, "load BPF programs, perf events")
	obj, id := progtest.Load(tb, testprogs.Hot)
	p, err := bpfprog.Get(bpfprog.ID(id), bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
	if err != nil {
		tb.Fatal(err)
	}
	return obj, p
}

// TestFentryExact counts the hot program exactly with fentry/fexit where
// the kernel allows it (Debian's 6.1 under QEMU): fexit's run count equals
// the stats fd's, cpu-clock read through bpf_perf_event_read_value gives a
// plausible time per run, and the latency buckets add up to the runs. Where
// fentry on BPF programs is refused (this host's 6.18) it checks that the
// refusal is the one-line reason stat shows, and does not fail.
func TestFentryExact(t *testing.T) {
	testutil.KernelMatrix(t)
	obj, p := hotProgram(t)
	clock, _ := sampler.ParseEvent("cpu-clock")
	task, _ := sampler.ParseEvent("task-clock")
	fe, err := OpenFentry([]sampler.Event{clock, task}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer fe.Close()
	if err := fe.Attach(p); err != nil {
		if kernel, ok := testutil.InGuest(); ok {
			t.Fatalf("exact counting must work on %s: %v", kernel, err)
		}
		if !errors.Is(err, errs.ErrNotSupported) {
			t.Fatalf("attach refused without a reason stat can show: %v", err)
		}
		t.Logf("fallback here (stat prints \"exact counting unavailable: %v; counts are sampled\")", err)
		return
	}
	defer fe.Detach(p.ID)
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	before, _ := bpfprog.Get(p.ID, bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
	const n = 2000
	if _, err := obj.Program().Run(&ebpf.RunOptions{Data: make([]byte, 64), Repeat: n}); err != nil {
		t.Fatal(err)
	}
	after, _ := bpfprog.Get(p.ID, bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
	c, ok := fe.Read(p.ID)
	if !ok {
		t.Fatal("no counts")
	}
	// A signal may make cilium/ebpf restart the test run: compare with
	// the stats fd, which counts every run, rather than with n.
	runs := after.Stats.RunCount - before.Stats.RunCount
	if c.Runs != runs || runs < n {
		t.Errorf("fexit counted %d runs, stats fd %d; want equal and at least %d", c.Runs, runs, n)
	}
	if c.Failed != 0 {
		t.Errorf("%d readings failed", c.Failed)
	}
	statsPerRun := float64(after.Stats.RunTime-before.Stats.RunTime) / float64(n)
	for i, name := range []string{"cpu-clock", "task-clock"} {
		perRun := float64(c.Events[i].Counter) / float64(n)
		t.Logf("%s via bpf_perf_event_read_value: %.0f ns per run (enabled %d ns, running %d ns); stats fd: %.0f ns per run",
			name, perRun, c.Events[i].Enabled, c.Events[i].Running, statsPerRun)
		// Plausible: more than nothing, and at most a millisecond for
		// a loop of 512 iterations even under QEMU's TCG.
		if perRun <= 0 || perRun > float64(time.Millisecond) || c.Events[i].Running == 0 {
			t.Errorf("%s %+v: %.0f ns per run is not plausible", name, c.Events[i], perRun)
		}
	}
	var sum uint64
	for _, b := range c.Hist {
		sum += b
	}
	if sum != runs {
		t.Errorf("latency buckets sum to %d, want %d", sum, runs)
	}
}

// BenchmarkRunCost is the cost of one run of the hot program as the
// kernel's BPF_PROG_TEST_RUN measures it: with run-time stats off, on, on
// while sampling every CPU at 999 Hz, and with fentry/fexit counters
// (where the kernel allows them). The kernel's own figure for stats is
// about 20 ns per run (two clock reads).
func BenchmarkRunCost(b *testing.B) {
	obj, p := hotProgram(b)
	prog := obj.Program()
	data := make([]byte, 64)
	run := func(b *testing.B) {
		var total time.Duration
		for b.Loop() {
			_, d, err := prog.Benchmark(data, 1000, nil)
			if err != nil {
				b.Fatal(err)
			}
			total += d
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/run")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("stats-off", run)
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	b.Run("stats-on", run)
	clock, _ := sampler.ParseEvent("cpu-clock")
	rd, err := sampler.Open(sampler.Options{Events: []sampler.Event{clock}, Frequency: 999})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- rd.Run(b.Context(), sampler.HandlerFunc(func(sampler.Record) {})) }()
	b.Run("stats-sampling-999Hz", run)
	rd.Close()
	<-done
	fe, err := OpenFentry([]sampler.Event{clock}, true)
	if err != nil {
		b.Fatal(err)
	}
	defer fe.Close()
	if err := fe.Attach(p); err != nil {
		b.Logf("fentry-fexit: not measured here: %v", err)
		return
	}
	b.Run("stats-fentry-fexit", run)
}
