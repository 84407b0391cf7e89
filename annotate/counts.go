package annotate

import (
	"time"

	"github.com/bpfprof/bpfprof/internal/aggregate"
)

// CountsFromSnapshot takes the heat of program id from an aggregate
// snapshot: its self samples by JIT address and by source line, its self
// samples in all, every sample taken, and the time the snapshot covers.
// Event and the run statistics are the caller's to add.
func CountsFromSnapshot(s *aggregate.Snapshot, id uint32) Counts {
	return countsFrom(s.Counters, s.Start, s.End, s.Programs, s.Lines, s.Addrs, id)
}

// CountsFromDelta is CountsFromSnapshot for one interval of a Tracker: the
// heat of program id in that interval only.
func CountsFromDelta(d *aggregate.Delta, id uint32) Counts {
	return countsFrom(d.Counters, d.Start, d.End, d.Programs, d.Lines, d.Addrs, id)
}

func countsFrom(c aggregate.Counters, start, end uint64, progs []aggregate.Program, lines []aggregate.Line, addrs []aggregate.Addr, id uint32) Counts {
	out := Counts{Total: c.Samples, ByAddr: map[uint64]uint64{}, ByLine: map[LineKey]uint64{}}
	if end > start {
		out.Period = time.Duration(end - start)
	}
	for _, p := range progs {
		if p.Prog != nil && p.Prog.ID == id {
			out.Program += p.Self
		}
	}
	for _, a := range addrs {
		if a.Prog != nil && a.Prog.ID == id && a.Self > 0 {
			out.ByAddr[a.Addr] += a.Self
		}
	}
	for _, l := range lines {
		if l.Prog != nil && l.Prog.ID == id && l.Self > 0 {
			out.ByLine[LineKey{Func: l.Func, File: l.File, Line: l.Line}] += l.Self
		}
	}
	return out
}
