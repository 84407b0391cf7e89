package aggregate_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/aggregate/aggregatetest"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

func newAggregator(t testing.TB, opts aggregate.Options) *aggregate.Aggregator {
	t.Helper()
	if opts.Resolver == nil {
		opts.Resolver = aggregatetest.NewResolver()
	}
	a, err := aggregate.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func feed(a *aggregate.Aggregator, rs []sampler.Record) {
	for _, r := range rs {
		a.HandleRecord(r)
	}
}

func TestNewNeedsResolver(t *testing.T) {
	if _, err := aggregate.New(aggregate.Options{}); err == nil {
		t.Fatal("New without a Resolver succeeded")
	}
}

func TestCounters(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()
	want := aggregate.Counters{
		Samples: 310, Kept: 310, BPFSamples: 290,
		Lost: 3, LostSamples: 2, Throttles: 1, Unthrottles: 1,
		ProgLoads: 2, ProgUnloads: 1, ProgramsSeen: 3,
	}
	if s.Counters != want {
		t.Errorf("counters\n got %+v\nwant %+v", s.Counters, want)
	}
	if got := a.Counters(); got != want {
		t.Errorf("Counters() = %+v, want %+v", got, want)
	}
	if s.Start != aggregatetest.T0 {
		t.Errorf("Start = %d, want %d", s.Start, aggregatetest.T0)
	}
	if s.End <= aggregatetest.XDPUnloaded {
		t.Errorf("End = %d, want after %d", s.End, aggregatetest.XDPUnloaded)
	}
	var count, period uint64
	for _, st := range s.Stacks {
		count += st.Count
		period += st.Period
	}
	if count != 310 || period != 310*1_001_001 {
		t.Errorf("stacks hold %d samples, period %d; want 310, %d", count, period, 310*1_001_001)
	}
}

func TestPrograms(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()
	type row struct {
		name                  string
		id                    uint32
		samples, self, period uint64
	}
	var got []row
	for _, p := range s.Programs {
		got = append(got, row{p.Prog.Name, p.Prog.ID, p.Samples, p.Self, p.Period})
	}
	// The hot program's 4 interrupted samples have their leaf in the
	// kernel; the reusing program's samples resolve by time, not to the
	// unloaded XDP program whose range it took.
	want := []row{
		{"bpfprof_hot_loop_socket", 42, 180, 176, 180 * 1_001_001},
		{"bpfprof_xdp_main", 57, 100, 100, 100 * 1_001_001},
		{"reuser", 61, 10, 10, 10 * 1_001_001},
	}
	if len(got) != len(want) {
		t.Fatalf("programs = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("program %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestLines(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()
	type row struct {
		prog          uint32
		fn, file      string
		line          uint32
		samples, self uint64
	}
	var got []row
	for _, l := range s.Lines {
		got = append(got, row{l.Prog.ID, l.Func, l.File, l.Line, l.Samples, l.Self})
	}
	want := []row{
		{42, "bpfprof_hot_loop_socket", "testdata/hot.bpf.c", 16, 8, 8},
		// The interrupted samples count on the line (the innermost BPF
		// frame) but not as its self samples.
		{42, "bpfprof_hot_loop_socket", "testdata/hot.bpf.c", 20, 172, 168},
		{57, "bpfprof_xdp_sub", "testdata/subprog.bpf.c", 20, 95, 95},
		// The main function is the innermost BPF frame only while it runs
		// itself; its call line (the caller frame, resolved at the return
		// address minus one) does not count here.
		{57, "bpfprof_xdp_main", "testdata/subprog.bpf.c", 31, 5, 5},
		{61, "reuser", "", 0, 10, 10},
	}
	if len(got) != len(want) {
		t.Fatalf("lines = %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, l := range s.Lines {
		if l.Line == 20 && l.Prog.ID == 42 && l.Source == "" {
			t.Error("hot line has no source text")
		}
	}
}

func TestStacks(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()

	seen := map[string]bool{}
	for _, st := range s.Stacks {
		key := fmt.Sprint(st.Locations, st.PID, st.TID, st.CPU, st.Comm, st.Prog)
		if seen[key] {
			t.Errorf("stack %s counted twice", key)
		}
		seen[key] = true

		leaf := s.Location(st.Locations[0])
		switch st.Comm {
		case "driver":
			if st.PID != aggregatetest.DriverPID || st.Prog == nil {
				t.Errorf("driver stack %s: pid %d prog %v", key, st.PID, st.Prog)
			}
			// Kernel frames, then the three user frames.
			if n := len(st.Locations); n < 9 {
				t.Errorf("driver stack %s has %d frames", key, n)
			}
			outer := s.Location(st.Locations[len(st.Locations)-1])
			if outer.Func != "runtime.main" || outer.Kind != symbolize.KindUser {
				t.Errorf("outermost frame %+v, want runtime.main", outer)
			}
		case "busy":
			if leaf.Kind == symbolize.KindBPF {
				if st.Prog == nil || st.Prog.Name != "reuser" {
					t.Errorf("busy BPF stack labelled %v", st.Prog)
				}
			} else if st.Prog != nil {
				t.Errorf("user-only stack labelled with program %v", st.Prog)
			}
		default:
			t.Errorf("stack with comm %q", st.Comm)
		}
	}

	// The caller frame of the subprogram is resolved at the return address
	// minus one: the call line, not the line after the call.
	found := false
	for _, f := range s.Locations {
		if f.Func == "bpfprof_xdp_main" && f.Addr == aggregatetest.XDPStart+0x29 {
			found = true
			if f.Line != 31 {
				t.Errorf("caller frame at line %d, want 31", f.Line)
			}
		}
	}
	if !found {
		t.Error("no caller frame for bpfprof_xdp_main at the return address minus one")
	}

	// Locations are interned: each (mapping, address) once.
	type key struct {
		m    *symbolize.Mapping
		addr uint64
	}
	locs := map[key]bool{}
	for _, f := range s.Locations {
		if f.Mapping == nil {
			continue
		}
		k := key{f.Mapping, f.Addr}
		if locs[k] {
			t.Errorf("location %s+%#x interned twice", f.Mapping.File, f.Addr)
		}
		locs[k] = true
	}
}

func TestBPFOnly(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true, BPFOnly: true})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()
	if s.Samples != 310 || s.Kept != 290 || s.Dropped != 20 {
		t.Errorf("samples %d kept %d dropped %d, want 310 290 20", s.Samples, s.Kept, s.Dropped)
	}
	for _, st := range s.Stacks {
		if st.Prog == nil {
			t.Errorf("stack without a BPF frame kept: %v", st.Locations)
		}
	}
	for _, f := range s.Locations {
		if f.Mapping != nil && f.Mapping.File == "/usr/bin/busy" && f.Kind == symbolize.KindUser {
			if f.Addr == 0x7f0000004000-1 {
				t.Error("a dropped sample's frames were interned")
			}
		}
	}
}

func TestNoCallGraph(t *testing.T) {
	a := newAggregator(t, aggregate.Options{})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()
	for _, st := range s.Stacks {
		if len(st.Locations) != 1 {
			t.Errorf("stack of %d frames without call graph", len(st.Locations))
		}
	}
	if len(s.Programs) != 3 || s.BPFSamples != 290-4 {
		// Samples interrupted in the kernel have no BPF frame without
		// their call chain.
		t.Errorf("%d programs, %d BPF samples; want 3, %d", len(s.Programs), s.BPFSamples, 290-4)
	}
}

func TestSampleWithoutCallchain(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 5}, IP: aggregatetest.HotStart + 0x20, PID: 1, TID: 1, Period: 1})
	a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 6}, IP: aggregatetest.DriverStart + 0x2000, PID: aggregatetest.DriverPID, TID: 1, Period: 1})
	s := a.Snapshot()
	if len(s.Stacks) != 2 {
		t.Fatalf("%d stacks, want 2", len(s.Stacks))
	}
	if f := s.Location(s.Stacks[0].Locations[0]); f.Kind != symbolize.KindBPF || f.Addr != aggregatetest.HotStart+0x20 {
		t.Errorf("kernel IP resolved to %+v", f)
	}
	if f := s.Location(s.Stacks[1].Locations[0]); f.Func != "main.main" {
		t.Errorf("user IP resolved to %+v", f)
	}
}

func TestSnapshotIsImmutable(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	rs := aggregatetest.Records()
	feed(a, rs)
	s := a.Snapshot()
	stacks := append([]aggregate.Stack(nil), s.Stacks...)
	locs := len(s.Locations)
	progs := append([]aggregate.Program(nil), s.Programs...)
	feed(a, aggregatetest.Records())
	for i := range stacks {
		if s.Stacks[i].Count != stacks[i].Count {
			t.Fatalf("snapshot stack %d changed from %d to %d", i, stacks[i].Count, s.Stacks[i].Count)
		}
	}
	if len(s.Locations) != locs || s.Programs[0] != progs[0] {
		t.Fatal("snapshot changed")
	}
	s2 := a.Snapshot()
	if s2.Samples != 2*s.Samples || len(s2.Stacks) != len(s.Stacks) {
		t.Errorf("second snapshot: %d samples in %d stacks; want %d in %d", s2.Samples, len(s2.Stacks), 2*s.Samples, len(s.Stacks))
	}
}

// TestConcurrentSnapshots is for the race detector: readers take snapshots
// while samples arrive.
func TestConcurrentSnapshots(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				s := a.Snapshot()
				var n uint64
				for _, st := range s.Stacks {
					n += st.Count
					for _, id := range st.Locations {
						_ = s.Location(id).Func
					}
				}
				if n != s.Kept {
					t.Errorf("snapshot stacks hold %d samples, counters say %d", n, s.Kept)
					return
				}
			}
		})
	}
	for range 20 {
		feed(a, aggregatetest.Records())
	}
	close(done)
	wg.Wait()
}

func TestZeroAllocsForKnownStacks(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	rs := aggregatetest.Records()
	feed(a, rs)
	allocs := testing.AllocsPerRun(10, func() { feed(a, rs) })
	if allocs != 0 {
		t.Errorf("%v allocations per run of %d records with known stacks", allocs, len(rs))
	}
}

// BenchmarkHandleSample measures the hot path with the fake resolver:
// samples of known stacks, as in a steady recording.
func BenchmarkHandleSample(b *testing.B) {
	var samples []sampler.Record
	for _, r := range aggregatetest.Records() {
		if _, ok := r.(*sampler.Sample); ok {
			samples = append(samples, r)
		}
	}
	a := newAggregator(b, aggregate.Options{CallGraph: true})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		a.HandleRecord(samples[n%len(samples)])
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkSnapshot measures the cost of a live reader's copy.
func BenchmarkSnapshot(b *testing.B) {
	a := newAggregator(b, aggregate.Options{CallGraph: true})
	feed(a, aggregatetest.Records())
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Snapshot()
	}
}

// countingResolver counts the addresses and names it is asked for.
type countingResolver struct {
	*aggregatetest.Resolver
	kernels, users, comms int
}

func (r *countingResolver) Kernel(addr, time uint64) symbolize.Frame {
	r.kernels++
	return r.Resolver.Kernel(addr, time)
}

func (r *countingResolver) User(pid uint32, addr, time uint64) symbolize.Frame {
	r.users++
	return r.Resolver.User(pid, addr, time)
}

func (r *countingResolver) Comm(pid uint32) string {
	r.comms++
	return r.Resolver.Comm(pid)
}

// TestCaches checks that user frames and process names are resolved once
// per process until a record says the process changed, kernel text frames
// once.
func TestCaches(t *testing.T) {
	res := &countingResolver{Resolver: aggregatetest.NewResolver()}
	a := newAggregator(t, aggregate.Options{Resolver: res, CallGraph: true})
	pid := uint32(aggregatetest.DriverPID)
	user := []uint64{aggregatetest.DriverStart + 0x3010, aggregatetest.DriverStart + 0x2020}
	sample := func() {
		a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 1}, PID: pid, TID: pid, Period: 1,
			Kernel: []uint64{aggregatetest.HotStart + 0x20, aggregatetest.KernelStart + 0x1010}, User: user})
	}
	check := func(what string, users, comms int) {
		t.Helper()
		if res.users != users || res.comms != comms {
			t.Errorf("%s: %d user addresses and %d names resolved, want %d and %d", what, res.users, res.comms, users, comms)
		}
	}
	sample()
	check("first sample", 2, 1)
	sample()
	sample()
	check("same stack again", 2, 1)
	// The kernel's text is resolved once, BPF addresses every time: JIT
	// ranges are reused.
	if res.kernels != 4 {
		t.Errorf("%d kernel addresses resolved, want 4", res.kernels)
	}

	a.HandleRecord(&sampler.Comm{PID: pid, TID: pid + 1, Comm: "worker"})
	sample()
	check("after a thread's rename", 2, 1)

	res.Comms[pid] = "renamed"
	a.HandleRecord(&sampler.Comm{PID: pid, TID: pid, Comm: "renamed"})
	sample()
	check("after the process's rename", 2, 2)

	a.HandleRecord(&sampler.Mmap2{PID: pid, TID: pid, Addr: 0x1000, Len: 0x1000})
	sample()
	check("after a new mapping", 4, 2)

	a.HandleRecord(&sampler.Comm{PID: pid, TID: pid, Comm: "other", Exec: true})
	sample()
	check("after an exec", 6, 3)

	a.HandleRecord(&sampler.Exit{PID: pid, TID: pid + 1})
	sample()
	check("after a thread's exit", 6, 3)
	a.HandleRecord(&sampler.Exit{PID: pid, TID: pid})
	sample()
	check("after the process's exit", 8, 4)

	// Addresses in no mapping are asked for every time.
	a.HandleRecord(&sampler.Sample{PID: pid, TID: pid, User: []uint64{0x10000}})
	a.HandleRecord(&sampler.Sample{PID: pid, TID: pid, User: []uint64{0x10000}})
	check("unmapped addresses", 10, 4)

	s := a.Snapshot()
	comms := map[string]uint64{}
	for _, st := range s.Stacks {
		comms[st.Comm] += st.Count
	}
	if comms["driver"] != 4 || comms["renamed"] != 7 {
		t.Errorf("samples by name %v, want driver 4, renamed 7", comms)
	}
}

// askingResolver records the user addresses it is asked for.
type askingResolver struct {
	*aggregatetest.Resolver
	users []uint64
}

func (r *askingResolver) User(pid uint32, addr, time uint64) symbolize.Frame {
	r.users = append(r.users, addr)
	return r.Resolver.User(pid, addr, time)
}

// TestImpossibleUserAddresses checks that user addresses no code can run
// at, such as the 0 that ends frame-pointer call chains, are left out of
// stacks rather than becoming an "[unknown]" root.
func TestImpossibleUserAddresses(t *testing.T) {
	res := &askingResolver{Resolver: aggregatetest.NewResolver()}
	a := newAggregator(t, aggregate.Options{Resolver: res, CallGraph: true})
	pid := uint32(aggregatetest.DriverPID)
	main, runtimeMain := uint64(aggregatetest.DriverStart+0x2020), uint64(aggregatetest.DriverStart+0x1030)
	for _, user := range [][]uint64{
		{aggregatetest.DriverStart + 0x3010, main, runtimeMain, 0},
		{aggregatetest.DriverStart + 0x3010, 0x10, main, 0xffffffff81000000, 0x2d006b2d00672cff, runtimeMain, 4095},
		// A leaf that is not there: its caller is still a return address.
		{0, main, runtimeMain, 0},
	} {
		a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 1}, PID: pid, TID: pid, Period: 1, User: user})
	}
	a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 1}, PID: pid, TID: pid, Period: 1, User: []uint64{0, 0}})

	for _, addr := range res.users[:len(res.users)-1] {
		if addr < 4096 || addr >= 1<<56 {
			t.Errorf("the resolver was asked for user address %#x", addr)
		}
	}
	s := a.Snapshot()
	if s.Kept != 4 {
		t.Fatalf("%d samples kept, want 4", s.Kept)
	}
	var stacks []string
	for _, st := range s.Stacks {
		var names []string
		for _, id := range st.Locations {
			f := s.Location(id)
			names = append(names, fmt.Sprintf("%s@%#x", f.Func, f.Addr))
		}
		stacks = append(stacks, fmt.Sprint(names))
	}
	want := []string{
		"[syscall.Syscall6@0x403010 main.main@0x40201f runtime.main@0x40102f]",
		"[main.main@0x40201f runtime.main@0x40102f]",
		// Nothing but impossible addresses: one unknown leaf.
		"[[unknown]@0x0]",
	}
	if fmt.Sprint(stacks) != fmt.Sprint(want) {
		t.Errorf("stacks\n got %q\nwant %q", stacks, want)
	}
	if s.Stacks[0].Count != 2 {
		t.Errorf("the first two chains counted as %d samples of one stack, want 2", s.Stacks[0].Count)
	}
}

// TestUnknownKernelAddressesNotCached checks that a kernel-half address
// outside the kernel's text that nothing names (a JIT image whose program
// the resolver has not seen load yet) is asked for again, not remembered as
// unknown for good as the kernel's text is.
func TestUnknownKernelAddressesNotCached(t *testing.T) {
	res := &countingResolver{Resolver: aggregatetest.NewResolver()}
	a := newAggregator(t, aggregate.Options{Resolver: res, CallGraph: true})
	stray := uint64(aggregatetest.XDPStart + 0x10000)
	for range 3 {
		a.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: 1}, PID: 1, TID: 1, Period: 1,
			Kernel: []uint64{stray, aggregatetest.KernelStart + 0x1010}})
	}
	// The stray leaf every time, the kernel text caller once.
	if res.kernels != 4 {
		t.Errorf("%d kernel addresses resolved, want 4", res.kernels)
	}
}

// TestUnmappedUserCallers checks that a user call chain ends at the first
// caller in no mapping (junk read as a return address when unwinding through
// code without frame pointers), while a user leaf in no mapping stays.
func TestUnmappedUserCallers(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	pid := uint32(aggregatetest.DriverPID)
	syscall, main, runtimeMain := uint64(aggregatetest.DriverStart+0x3010), uint64(aggregatetest.DriverStart+0x2020), uint64(aggregatetest.DriverStart+0x1030)
	const junk = 0x7ffd12345678 // a stack address: in no file mapping
	for _, s := range []sampler.Sample{
		{User: []uint64{syscall, main, junk, runtimeMain}},
		{User: []uint64{junk, main, runtimeMain}},
		{Kernel: []uint64{aggregatetest.KernelStart + 0x1010}, User: []uint64{junk, main, junk}},
	} {
		s.Time, s.PID, s.TID, s.Period = 1, pid, pid, 1
		a.HandleRecord(&s)
	}

	snap := a.Snapshot()
	var stacks []string
	for _, st := range snap.Stacks {
		var names []string
		for _, id := range st.Locations {
			f := snap.Location(id)
			names = append(names, fmt.Sprintf("%s@%#x", f.Func, f.Addr))
		}
		stacks = append(stacks, fmt.Sprint(names))
	}
	want := []string{
		"[syscall.Syscall6@0x403010 main.main@0x40201f]",
		"[[unknown]@0x7ffd12345678 main.main@0x40201f runtime.main@0x40102f]",
		"[do_syscall_64@0xffffffff81001010 [unknown]@0x7ffd12345677 main.main@0x40201f]",
	}
	if fmt.Sprint(stacks) != fmt.Sprint(want) {
		t.Errorf("stacks\n got %q\nwant %q", stacks, want)
	}
}
