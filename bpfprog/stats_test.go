package bpfprog

import (
	"math"
	"testing"
	"time"
)

func sample(id ID, load, at int64, runTime time.Duration, runs, misses uint64) Sample {
	return Sample{ID: id, LoadTime: load, Time: at, RunStats: RunStats{RunTime: runTime, RunCount: runs, RecursionMisses: misses}}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestDelta(t *testing.T) {
	const s = int64(time.Second)
	prev := &Snapshot{Time: 100 * s, Samples: []Sample{
		sample(1, 10*s, 100*s, 1*time.Second, 1000, 0),
		sample(2, 20*s, 100*s, 0, 0, 0),               // idle
		sample(3, 30*s, 100*s, time.Second, 10, 0),    // unloaded before cur
		sample(5, 50*s, 100*s, time.Second, 100, 1),   // ID reused in cur
		sample(6, 60*s, 100*s, 2*time.Second, 500, 2), // busy
	}}
	cur := &Snapshot{Time: 102 * s, Samples: []Sample{
		// Read 2s after prev: 1000 runs of 1ms each = 1s in the
		// program: 500 runs/s, 1ms average, 50% of a CPU.
		sample(1, 10*s, 102*s, 2*time.Second, 2000, 0),
		sample(2, 20*s, 102*s, 0, 0, 0),
		// Loaded at 101s, after prev: counts since load, over 1s.
		sample(4, 101*s, 102*s, 100*time.Millisecond, 50, 0),
		sample(5, 101500*int64(time.Millisecond), 102*s, 0, 5, 0),
		// Read 4s after prev (a slow snapshot): the period is the
		// program's own, so 4s of run time over 4s is 100%.
		sample(6, 60*s, 104*s, 6*time.Second, 900, 5),
	}}
	rates := Delta(prev, cur)
	want := []Rate{
		{ID: 1, Period: 2 * time.Second, Runs: 1000, RunTime: time.Second, RunsPerSec: 500, AvgRunNs: 1e6, CPUPercent: 50},
		{ID: 2, Period: 2 * time.Second},
		{ID: 3, Gone: true},
		{ID: 4, New: true, Period: time.Second, Runs: 50, RunTime: 100 * time.Millisecond, RunsPerSec: 50, AvgRunNs: 2e6, CPUPercent: 10},
		{ID: 5, Gone: true},
		{ID: 5, New: true, Period: 500 * time.Millisecond, Runs: 5, RunsPerSec: 10},
		{ID: 6, Period: 4 * time.Second, Runs: 400, RunTime: 4 * time.Second, RecursionMisses: 3, RunsPerSec: 100, AvgRunNs: 1e7, CPUPercent: 100},
	}
	if len(rates) != len(want) {
		t.Fatalf("Delta gave %d rates, want %d: %+v", len(rates), len(want), rates)
	}
	for i, w := range want {
		g := rates[i]
		if g.ID != w.ID || g.New != w.New || g.Gone != w.Gone || g.Period != w.Period || g.Runs != w.Runs ||
			g.RunTime != w.RunTime || g.RecursionMisses != w.RecursionMisses ||
			!near(g.RunsPerSec, w.RunsPerSec) || !near(g.AvgRunNs, w.AvgRunNs) || !near(g.CPUPercent, w.CPUPercent) {
			t.Errorf("rate %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestDeltaNewProgramLoadedBeforePrev(t *testing.T) {
	// A program missing from prev but loaded before it (it was being
	// loaded while prev was taken) counts from prev's start.
	const s = int64(time.Second)
	prev := &Snapshot{Time: 10 * s}
	cur := &Snapshot{Time: 12 * s, Samples: []Sample{sample(1, 5*s, 12*s, time.Second, 10, 0)}}
	r := Delta(prev, cur)
	if len(r) != 1 || !r[0].New || r[0].Period != 2*time.Second || !near(r[0].CPUPercent, 50) {
		t.Errorf("Delta = %+v", r)
	}
}

func TestDeltaNilPrev(t *testing.T) {
	// Without a first snapshot, rates are averages since load.
	const s = int64(time.Second)
	cur := &Snapshot{Time: 20 * s, Samples: []Sample{sample(1, 10*s, 20*s, time.Second, 100, 0)}}
	r := Delta(nil, cur)
	if len(r) != 1 || r[0].Period != 10*time.Second || !near(r[0].RunsPerSec, 10) || !near(r[0].CPUPercent, 10) {
		t.Errorf("Delta(nil, cur) = %+v", r)
	}
	if got := Delta(nil, nil); len(got) != 0 {
		t.Errorf("Delta(nil, nil) = %+v", got)
	}
}

func TestDeltaZeroPeriod(t *testing.T) {
	snap := &Snapshot{Time: 5, Samples: []Sample{sample(1, 1, 5, time.Second, 10, 0)}}
	r := Delta(snap, snap)
	if len(r) != 1 || r[0].Period != 0 || r[0].RunsPerSec != 0 || r[0].CPUPercent != 0 || r[0].Runs != 0 {
		t.Errorf("Delta(s, s) = %+v", r)
	}
}

func TestSnapshotOf(t *testing.T) {
	progs := []Program{
		{ID: 9, Stats: RunStats{RunCount: 3}, loadTime: 1, readAt: 30},
		{ID: 4, Stats: RunStats{RunCount: 2}, loadTime: 2, readAt: 20},
	}
	snap := SnapshotOf(progs)
	if snap.Time != 20 || len(snap.Samples) != 2 || snap.Samples[0].ID != 4 || snap.Samples[1].ID != 9 ||
		snap.Samples[1].Time != 30 || snap.Samples[1].LoadTime != 1 || snap.Samples[1].RunCount != 3 {
		t.Errorf("SnapshotOf = %+v", snap)
	}
}
