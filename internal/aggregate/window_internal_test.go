package aggregate

import (
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/aggregate/aggregatetest"
	"github.com/bpfprof/bpfprof/sampler"
)

// TestWindowForgetsProcesses: with a Window, the per-process caches of
// processes not sampled for a window go, also when their EXIT record was
// lost; a process sampled all along keeps its cache.
func TestWindowForgetsProcesses(t *testing.T) {
	const (
		window = time.Second
		step   = 10 * time.Millisecond
		procs  = 2000 // 20 s of processes, one per step, none seen exiting
	)
	a, err := New(Options{CallGraph: true, Window: window, Resolver: aggregatetest.NewResolver()})
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for r := range procs {
		now := uint64(aggregatetest.T0) + uint64(r)*uint64(step)
		for _, pid := range []uint32{aggregatetest.DriverPID, uint32(10_000 + r)} {
			a.HandleRecord(&sampler.Sample{
				Common: sampler.Common{Time: now}, PID: pid, TID: pid, Period: 1,
				Kernel: []uint64{aggregatetest.HotStart}, User: []uint64{aggregatetest.DriverStart + 0x1030},
			})
		}
		a.hmu.Lock()
		most = max(most, len(a.procs))
		a.hmu.Unlock()
	}
	// A window and a half of processes at most: compaction runs every
	// half window.
	if limit := int(3*window/step/2) + 2; most > limit {
		t.Errorf("%d processes cached at most over %d, want at most %d", most, procs, limit)
	}
	a.hmu.Lock()
	defer a.hmu.Unlock()
	if pc := a.procs[aggregatetest.DriverPID]; pc == nil || len(pc.locs) == 0 {
		t.Errorf("the process sampled all along lost its cache: %+v", pc)
	}
}
