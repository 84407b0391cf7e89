package annotate

import (
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/symbolize"
)

// The symbolizer names kernel addresses for listings.
var _ KernelSymbols = (*symbolize.Symbolizer)(nil)

func TestCountsFromSnapshot(t *testing.T) {
	mine, other := &symbolize.Prog{ID: 9}, &symbolize.Prog{ID: 10}
	s := &aggregate.Snapshot{
		Start: 1000, End: 1000 + uint64(2*time.Second),
		Counters: aggregate.Counters{Samples: 500},
		Programs: []aggregate.Program{{Prog: mine, Samples: 120, Self: 100}, {Prog: other, Samples: 50, Self: 50}},
		Lines: []aggregate.Line{
			{Prog: mine, Func: "sub", File: "p.c", Line: 21, Samples: 95, Self: 90},
			{Prog: mine, Func: "main", File: "p.c", Line: 10, Samples: 25, Self: 10},
			{Prog: other, Func: "x", File: "q.c", Line: 1, Samples: 50, Self: 50},
		},
		Addrs: []aggregate.Addr{
			{Prog: mine, Addr: 0xffffffffa0001002, Func: "sub", Self: 60},
			{Prog: mine, Addr: 0xffffffffa0001005, Func: "sub", Self: 30},
			{Prog: mine, Addr: 0xffffffffa0000001, Func: "main", Self: 10},
			{Prog: other, Addr: 0xffffffffb0000000, Self: 50},
		},
	}
	c := CountsFromSnapshot(s, 9)
	if c.Total != 500 || c.Program != 100 || c.Period != 2*time.Second || len(c.ByAddr) != 3 || c.ByLine[LineKey{Func: "sub", File: "p.c", Line: 21}] != 90 {
		t.Fatalf("counts %+v", c)
	}
	l, err := Build(synthetic(t), c, Options{JIT: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Samples != 100 || l.Share != 20 || l.Functions[1].Samples != 90 || l.Functions[1].Lines[1].HotRank != 1 {
		t.Errorf("listing from the snapshot: samples %d share %v, sub %+v", l.Samples, l.Share, l.Functions[1].Lines)
	}
	d := &aggregate.Delta{Start: s.Start, End: s.End, Counters: s.Counters, Programs: s.Programs, Lines: s.Lines, Addrs: s.Addrs}
	if cd := CountsFromDelta(d, 9); cd.Program != c.Program || len(cd.ByAddr) != len(c.ByAddr) {
		t.Errorf("delta counts %+v, snapshot's %+v", cd, c)
	}
}
