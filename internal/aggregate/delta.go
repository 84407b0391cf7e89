package aggregate

import (
	"slices"
	"sync"

	"github.com/bpfprof/bpfprof/symbolize"
)

// Delta is what an Aggregator counted between two calls of Tracker.Next:
// the per-interval view of a live display. Like a Snapshot it is immutable
// and shares the Aggregator's locations.
type Delta struct {
	// Start and End are the perf clock times the interval covers: End of
	// the previous Delta (Start of the first record for the first) to the
	// latest record received; equal when nothing arrived.
	Start, End uint64
	// Counters are the counts of the interval; ProgramsSeen the programs
	// first seen in it.
	Counters
	// Locations holds every resolved frame so far, as in a Snapshot.
	Locations []symbolize.Frame
	// Stacks, Programs, Lines and Addrs are those with samples in the
	// interval, with the interval's counts, ordered as in a Snapshot.
	Stacks   []Stack
	Programs []Program
	Lines    []Line
	Addrs    []Addr
}

// Location returns the frame of location id (from 1).
func (d *Delta) Location(id uint32) *symbolize.Frame { return &d.Locations[id-1] }

// Tracker takes the Deltas of one Aggregator for one consumer. It keeps the
// counts of its previous Delta in compact arrays (some bytes per distinct
// stack, program, line and address), never old Snapshots, so a view that
// asks every second for hours holds no more than the Aggregator does. Each
// consumer takes its own Tracker; Next may be called from one goroutine at
// a time. The previous counts are guarded by the Aggregator's lock, so that
// a compaction (Options.Window) can renumber them.
type Tracker struct {
	a  *Aggregator
	mu sync.Mutex

	stacks   []pair
	progs    []triple
	lines    []triple
	addrs    []triple
	counters Counters
	end      uint64
}

type pair struct{ n, period uint64 }

type triple struct{ samples, self, period uint64 }

// NewTracker returns a Tracker whose first Delta holds everything counted
// so far. Close it when done with it: the Aggregator keeps its Trackers'
// counts in step when Options.Window drops entries.
func (a *Aggregator) NewTracker() *Tracker {
	t := &Tracker{a: a}
	a.mu.Lock()
	a.trackers = append(a.trackers, t)
	a.mu.Unlock()
	return t
}

// Close lets the Aggregator forget the Tracker.
func (t *Tracker) Close() {
	a := t.a
	a.mu.Lock()
	defer a.mu.Unlock()
	a.trackers = slices.DeleteFunc(a.trackers, func(x *Tracker) bool { return x == t })
}

// Next returns what was counted since the previous Next (since the
// Aggregator began, the first time). It takes the Aggregator's lock for one
// pass over its distinct stacks, programs, lines and addresses, comparing
// counts, and copies only what changed.
func (t *Tracker) Next() *Delta {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.a
	a.mu.Lock()
	d := &Delta{
		Start:     t.end,
		End:       a.end,
		Counters:  a.counters.sub(t.counters),
		Locations: a.locs[:len(a.locs):len(a.locs)],
	}
	if t.end == 0 {
		d.Start = a.start
	}
	t.counters, t.end = a.counters, a.end

	t.stacks = grow(t.stacks, len(a.stacks))
	for i := range a.stacks {
		st, p := &a.stacks[i], &t.stacks[i]
		if st.count == p.n {
			continue
		}
		ds := Stack{
			Locations: st.locs,
			PID:       st.pid,
			TID:       st.tid,
			CPU:       st.cpu,
			Comm:      a.comms[st.comm],
			Count:     st.count - p.n,
			Period:    st.period - p.period,
		}
		if st.prog != 0 {
			ds.Prog = a.progs[st.prog-1].prog
		}
		d.Stacks = append(d.Stacks, ds)
		*p = pair{st.count, st.period}
	}
	t.progs = grow(t.progs, len(a.progs))
	for i := range a.progs {
		pc, p := &a.progs[i], &t.progs[i]
		if pc.samples == p.samples {
			continue
		}
		d.Programs = append(d.Programs, Program{Prog: pc.prog, Samples: pc.samples - p.samples, Self: pc.self - p.self, Period: pc.time - p.period})
		*p = triple{pc.samples, pc.self, pc.time}
	}
	t.lines = grow(t.lines, len(a.lines))
	for i := range a.lines {
		l, p := &a.lines[i], &t.lines[i]
		if l.samples == p.samples {
			continue
		}
		d.Lines = append(d.Lines, Line{
			Prog: l.prog, Func: l.fn, File: l.file, Line: l.line, Source: l.source,
			Samples: l.samples - p.samples, Self: l.self - p.self, Period: l.time - p.period,
		})
		*p = triple{l.samples, l.self, l.time}
	}
	t.addrs = grow(t.addrs, len(a.addrs))
	for i := range a.addrs {
		ac, p := &a.addrs[i], &t.addrs[i]
		if ac.samples == p.samples {
			continue
		}
		d.Addrs = append(d.Addrs, a.addr(ac, ac.samples-p.samples, ac.self-p.self, ac.period-p.period))
		*p = triple{ac.samples, ac.self, ac.period}
	}
	a.mu.Unlock()

	sortPrograms(d.Programs)
	sortLines(d.Lines)
	sortAddrs(d.Addrs)
	return d
}

// grow extends s with zeros to length n.
func grow[T any](s []T, n int) []T {
	if n > len(s) {
		s = append(s, make([]T, n-len(s))...)
	}
	return s
}

// sub returns c minus the earlier counters o.
func (c Counters) sub(o Counters) Counters {
	return Counters{
		Samples:      c.Samples - o.Samples,
		Kept:         c.Kept - o.Kept,
		Dropped:      c.Dropped - o.Dropped,
		BPFSamples:   c.BPFSamples - o.BPFSamples,
		Lost:         c.Lost - o.Lost,
		LostSamples:  c.LostSamples - o.LostSamples,
		Throttles:    c.Throttles - o.Throttles,
		Unthrottles:  c.Unthrottles - o.Unthrottles,
		ProgLoads:    c.ProgLoads - o.ProgLoads,
		ProgUnloads:  c.ProgUnloads - o.ProgUnloads,
		ProgramsSeen: c.ProgramsSeen - o.ProgramsSeen,
		Expired:      c.Expired - o.Expired,
	}
}
