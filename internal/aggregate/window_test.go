package aggregate_test

import (
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/aggregate/aggregatetest"
	"github.com/bpfprof/bpfprof/sampler"
)

// TestWindow runs an hour of a live view over a machine whose processes
// come and go: with a Window, stacks, locations and programs stay bounded,
// the stacks sampled all along keep their counts, and a Tracker's Deltas
// stay exact across the compactions.
func TestWindow(t *testing.T) {
	const (
		window  = time.Second
		round   = 100 * time.Millisecond
		rounds  = 600 // a minute of rounds; the bound shows after 15
		churned = 20  // stacks of short-lived processes per round
	)
	a := newAggregator(t, aggregate.Options{CallGraph: true, Window: window})
	tr := a.NewTracker()
	defer tr.Close()
	// Stacks sampled every round: the hot loop in the driver's threads.
	steady := aggregatetest.Synthetic(50, 0)
	var maxStacks, maxLocs int
	for r := range rounds {
		now := uint64(aggregatetest.T0) + uint64(r)*uint64(round)
		for i, s := range steady {
			s.Time = now + uint64(i)
			a.HandleRecord(s)
		}
		// A new process each round, in code no one else runs (user
		// addresses of an unknown process are its own locations), also
		// in the hot loop: new stacks, locations and lines of the same
		// program.
		pid := uint32(10_000 + r)
		for i := range churned {
			a.HandleRecord(&sampler.Sample{
				Common: sampler.Common{Time: now + 1000 + uint64(i)}, PID: pid, TID: pid, Period: 1,
				Kernel: []uint64{aggregatetest.HotStart + uint64(i)},
				User:   []uint64{0x7f0000100000 + uint64(i)*16, 0x7f0000200000},
			})
		}
		d := tr.Next()
		if d.Samples != uint64(len(steady)+churned) {
			t.Fatalf("round %d: delta of %d samples, want %d", r, d.Samples, len(steady)+churned)
		}
		var n uint64
		for _, st := range d.Stacks {
			n += st.Count
			if st.Count != 1 {
				t.Fatalf("round %d: stack of pid %d tid %d counts %d in the delta, want 1", r, st.PID, st.TID, st.Count)
			}
			for _, id := range st.Locations {
				if id == 0 || int(id) > len(d.Locations) {
					t.Fatalf("round %d: location %d of %d", r, id, len(d.Locations))
				}
			}
		}
		if n != d.Samples {
			t.Fatalf("round %d: delta stacks count %d, want %d", r, n, d.Samples)
		}
		var prog uint64
		for _, p := range d.Programs {
			prog += p.Samples
		}
		if prog != d.Samples {
			t.Fatalf("round %d: delta programs count %d, want %d", r, prog, d.Samples)
		}
		s := a.Snapshot()
		maxStacks, maxLocs = max(maxStacks, len(s.Stacks)), max(maxLocs, len(s.Locations))
		for _, ad := range s.Addrs {
			if f := s.Location(ad.Location); f.Addr != ad.Addr || f.Prog != ad.Prog {
				t.Fatalf("round %d: address %+v at location %+v", r, ad, f)
			}
		}
	}
	// At most 1.5 windows of churn, plus the steady stacks.
	perRound := int(window/round) * 3 / 2
	if limit := len(steady) + (perRound+2)*churned; maxStacks > limit {
		t.Errorf("up to %d stacks with a window of %v, want at most %d", maxStacks, window, limit)
	}
	t.Logf("at most %d stacks, %d locations", maxStacks, maxLocs)
	if maxLocs > 1000 {
		t.Errorf("up to %d locations with a window of %v", maxLocs, window)
	}
	s := a.Snapshot()
	if s.Expired == 0 {
		t.Error("no stack expired")
	}
	for _, st := range s.Stacks {
		if st.PID == aggregatetest.DriverPID && st.Count != rounds {
			t.Errorf("steady stack of tid %d counts %d, want %d", st.TID, st.Count, rounds)
		}
	}
	if ps, next := a.ProgramsSeen(0); len(ps) != 1 || next != 1 {
		t.Errorf("programs seen %v, next %d", ps, next)
	}
}
