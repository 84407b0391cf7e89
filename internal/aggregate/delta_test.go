package aggregate_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/aggregate/aggregatetest"
	"github.com/bpfprof/bpfprof/sampler"
)

// stackSum adds up the counts of stacks by their labels and locations.
func stackSum(m map[string]uint64, stacks []aggregate.Stack) map[string]uint64 {
	if m == nil {
		m = map[string]uint64{}
	}
	for _, st := range stacks {
		m[fmt.Sprint(st.PID, st.TID, st.CPU, st.Comm, st.Locations)] += st.Count
	}
	return m
}

// TestDeltas checks that each Delta holds what was counted since the one
// before: two feeds of the same records give two equal Deltas, an empty
// interval an empty one, and the Deltas add up to the final Snapshot.
func TestDeltas(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	tr := a.NewTracker()
	empty := tr.Next()
	if len(empty.Stacks)+len(empty.Programs)+len(empty.Lines)+len(empty.Addrs) != 0 || empty.Samples != 0 {
		t.Fatalf("first Delta of an empty aggregate: %+v", empty)
	}

	feed(a, aggregatetest.Records())
	d1 := tr.Next()
	first := a.Snapshot()
	if d1.Counters != first.Counters || d1.Start != first.Start || d1.End != first.End {
		t.Errorf("first Delta counters %+v [%d,%d], snapshot %+v [%d,%d]", d1.Counters, d1.Start, d1.End, first.Counters, first.Start, first.End)
	}
	if fmt.Sprint(d1.Programs) != fmt.Sprint(first.Programs) || fmt.Sprint(d1.Lines) != fmt.Sprint(first.Lines) ||
		fmt.Sprint(d1.Addrs) != fmt.Sprint(first.Addrs) || fmt.Sprint(d1.Stacks) != fmt.Sprint(first.Stacks) {
		t.Errorf("first Delta differs from the snapshot:\n%+v\n%+v", d1, first)
	}

	if d := tr.Next(); len(d.Stacks)+len(d.Programs)+len(d.Lines)+len(d.Addrs) != 0 || d.Samples != 0 || d.Start != d.End || d.End != d1.End {
		t.Errorf("Delta of an empty interval: %+v", d)
	}

	// The records again, but the second time at later times: the same
	// counts, the program already seen.
	rs := aggregatetest.Records()
	feed(a, rs)
	d2 := tr.Next()
	if d2.Samples != d1.Samples || d2.Kept != d1.Kept || d2.Lost != d1.Lost || d2.ProgramsSeen != 0 {
		t.Errorf("second Delta counters %+v, want those of the first %+v but no new programs", d2.Counters, d1.Counters)
	}
	for _, p := range []struct {
		name string
		a, b any
	}{{"programs", d1.Programs, d2.Programs}, {"lines", d1.Lines, d2.Lines}, {"addrs", d1.Addrs, d2.Addrs}} {
		if fmt.Sprint(p.a) != fmt.Sprint(p.b) {
			t.Errorf("%s of the second Delta differ:\n%v\n%v", p.name, p.b, p.a)
		}
	}

	last := a.Snapshot()
	sum := stackSum(stackSum(nil, d1.Stacks), d2.Stacks)
	want := stackSum(nil, last.Stacks)
	if fmt.Sprint(sum) != fmt.Sprint(want) {
		t.Errorf("Deltas add up to %v, snapshot has %v", sum, want)
	}
	for _, p := range last.Programs {
		var n uint64
		for _, d := range []*aggregate.Delta{d1, d2} {
			for _, dp := range d.Programs {
				if dp.Prog == p.Prog {
					n += dp.Samples
				}
			}
		}
		if n != p.Samples {
			t.Errorf("program %d: Deltas sum to %d samples, snapshot has %d", p.Prog.ID, n, p.Samples)
		}
	}
}

// TestTrackersAreIndependent checks that two consumers each get every
// count once.
func TestTrackersAreIndependent(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	t1, t2 := a.NewTracker(), a.NewTracker()
	feed(a, aggregatetest.Records())
	if d := t1.Next(); d.Samples == 0 {
		t.Fatal("no samples in the first tracker's Delta")
	}
	if d := t2.Next(); d.Samples != a.Counters().Samples {
		t.Errorf("second tracker: %d samples, want %d", d.Samples, a.Counters().Samples)
	}
}

// TestAddrs checks the samples by JIT address: adding up to each
// program's samples, the self ones (leaf in BPF code, at the exact
// instruction) to its self count.
func TestAddrs(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()
	self, samples := map[uint32]uint64{}, map[uint32]uint64{}
	for _, ad := range s.Addrs {
		if ad.Samples == 0 || ad.Self > ad.Samples || ad.Prog == nil || s.Location(ad.Location).Addr != ad.Addr {
			t.Errorf("bad address count %+v", ad)
		}
		self[ad.Prog.ID] += ad.Self
		samples[ad.Prog.ID] += ad.Samples
	}
	for _, p := range s.Programs {
		if self[p.Prog.ID] != p.Self || samples[p.Prog.ID] != p.Samples {
			t.Errorf("program %d: addresses have %d samples, %d self; the program %d, %d",
				p.Prog.ID, samples[p.Prog.ID], self[p.Prog.ID], p.Samples, p.Self)
		}
	}
	// The fixture's hot loop: 200 samples less the 20 busy ones, the 8
	// in the prologue and the 4 in the kernel under the loop (not self)
	// fall on the loop's three addresses in turn.
	hot := aggregate.SelfByAddr(s.Addrs, 42)
	want := map[uint64]uint64{
		aggregatetest.HotStart + 0x4:  8,
		aggregatetest.HotStart + 0x20: 56,
		aggregatetest.HotStart + 0x30: 55,
		aggregatetest.HotStart + 0x40: 57,
	}
	if fmt.Sprint(hot) != fmt.Sprint(want) {
		t.Errorf("self samples of the hot program by address %v, want %v", hot, want)
	}
	// The 4 samples in the timer interrupt count at the loop's call
	// site, as the byte before the return address, but not as self.
	for _, ad := range s.Addrs {
		if ad.Addr == aggregatetest.HotStart+0x43 && (ad.Samples != 4 || ad.Self != 0) {
			t.Errorf("address under the interrupt: %+v, want 4 samples, none self", ad)
		}
	}
}

// TestPayers checks that Payers adds up stacks by program, process and
// CPU.
func TestPayers(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	feed(a, aggregatetest.Records())
	s := a.Snapshot()
	ps := aggregate.Payers(s.Stacks)
	var total uint64
	for i, p := range ps {
		total += p.Samples
		if i > 0 && p.Samples > ps[i-1].Samples {
			t.Errorf("payers not sorted by samples: %v", ps)
		}
	}
	if total != s.Kept {
		t.Errorf("payers sum to %d samples, %d kept", total, s.Kept)
	}
	if ps[0].Prog == nil || ps[0].Prog.ID != 42 || ps[0].PID != aggregatetest.DriverPID || ps[0].Comm != "driver" || ps[0].CPU != 0 {
		t.Errorf("top payer %+v, want the driver on CPU 0 in program 42", ps[0])
	}
}

// TestLiveViewMemoryFlat takes 3600 Deltas and Snapshots, as an hour of a
// view refreshing every second does, of an aggregate whose samples keep
// hitting the same stacks, and checks that the live heap does not grow.
func TestLiveViewMemoryFlat(t *testing.T) {
	const stacks, refreshes, perRefresh = 2000, 3600, 100
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	tr := a.NewTracker()
	samples := aggregatetest.Synthetic(stacks, 1)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var base uint64
	for i := range refreshes {
		// A slice of the stacks each second, as a live machine does.
		for _, s := range samples[(i*97)%stacks:][:min(perRefresh, stacks-(i*97)%stacks)] {
			s.Time += stacks
			a.HandleRecord(s)
		}
		d := tr.Next()
		snap := a.Snapshot()
		if d.Samples == 0 || len(snap.Stacks) > stacks {
			t.Fatalf("refresh %d: %d samples in the delta, %d stacks", i, d.Samples, len(snap.Stacks))
		}
		if i == 100 {
			base = heap()
		}
	}
	grown := int64(heap()) - int64(base)
	t.Logf("live heap %+d bytes from refresh 100 to %d", grown, refreshes)
	if grown > 1<<20 {
		t.Errorf("live heap grew by %d bytes over %d refreshes of %d stacks", grown, refreshes, stacks)
	}
}

// bigAggregate returns an aggregate of n distinct stacks.
func bigAggregate(b *testing.B, n int) (*aggregate.Aggregator, []*sampler.Sample) {
	a := newAggregator(b, aggregate.Options{CallGraph: true})
	samples := aggregatetest.Synthetic(n, 1)
	for _, s := range samples {
		a.HandleRecord(s)
	}
	return a, samples
}

// BenchmarkSnapshot100k measures a live view's full copy of an aggregate
// of 100,000 distinct stacks.
func BenchmarkSnapshot100k(b *testing.B) {
	a, _ := bigAggregate(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Snapshot()
	}
}

// BenchmarkDelta100k measures a Delta of an aggregate of 100,000 distinct
// stacks in which 1% of the stacks got a sample since the last one.
func BenchmarkDelta100k(b *testing.B) {
	a, samples := bigAggregate(b, 100_000)
	tr := a.NewTracker()
	tr.Next()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		for range 1000 {
			a.HandleRecord(samples[i%len(samples)])
			i += 97
		}
		b.StartTimer()
		_ = tr.Next()
	}
}

func TestProgramsSeen(t *testing.T) {
	a := newAggregator(t, aggregate.Options{CallGraph: true})
	if ps, next := a.ProgramsSeen(0); len(ps) != 0 || next != 0 {
		t.Fatalf("programs before any sample: %v, next %d", ps, next)
	}
	feed(a, aggregatetest.Records())
	all, next := a.ProgramsSeen(0)
	if len(all) != 3 || all[0].ID != 42 || all[1].ID != 57 || all[2].ID != 61 || next != 3 {
		t.Fatalf("programs seen %v, next %d; want 42, 57, 61 in that order, next 3", all, next)
	}
	if ps, next := a.ProgramsSeen(2); len(ps) != 1 || ps[0].ID != 61 || next != 3 {
		t.Errorf("programs from 2: %v, next %d", ps, next)
	}
	if ps, next := a.ProgramsSeen(5); ps != nil || next != 3 {
		t.Errorf("programs from 5: %v, next %d", ps, next)
	}
}
