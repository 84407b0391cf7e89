// Package stat counts what chosen BPF programs cost over an interval, as
// perf stat -b and bpftool prog profile do: runs and run time from the
// kernel's run-time stats, and per event either an exact count (fentry and
// fexit counters on the program, see Exact) or a sampled estimate (samples
// whose instruction pointer lies in the program's JIT image, times their
// period).
//
// A Counter only consumes: the caller feeds it samples and program
// load/unload events (bpfprof stat: as the Handler of a RawOnly
// session.Session, which runs the sampling pipeline), and asks it for Blocks (one per
// interval, and the totals), which the render functions print in perf
// stat's layouts.
package stat

import (
	"time"

	"github.com/bpfprof/bpfprof/bpfprog"
)

// Method says how an event's count for a program was obtained.
type Method int

// Methods of counting.
const (
	// NotSupported: the machine lacks the event (perf's <not supported>).
	NotSupported Method = iota
	// NotCounted: the counter never ran while the program did (perf's
	// <not counted>).
	NotCounted
	// Exact: read by fentry/fexit counters at the program's entry and
	// exit.
	Exact
	// Sampled: estimated from samples in the program's JIT image.
	Sampled
)

// Event is one event of -e as the counter uses it.
type Event struct {
	// Name is perf's name of the event, with modifiers.
	Name string
	// Clock: the event counts nanoseconds (cpu-clock, task-clock) and is
	// shown in msec.
	Clock bool
	// Supported is false where the machine lacks the event; Reason says
	// why.
	Supported bool
	Reason    string
}

// Value is one event's count for one program over a block.
type Value struct {
	Method Method
	// Count is the count, scaled by Enabled/Running for a multiplexed
	// exact counter; for a sampled one the sum of the samples' periods.
	Count float64
	// Raw is the unscaled count.
	Raw uint64
	// Enabled and Running are the ns the exact counter was enabled and
	// actually counting while the program ran; equal unless multiplexed.
	Enabled, Running uint64
	// Samples is the number of samples behind a sampled count.
	Samples uint64
}

// Scaled returns the count raw would have reached had the counter run the
// whole time it was enabled, as perf scales multiplexed counters, and the
// percentage of that time it ran. A counter that never ran scales to 0, 0.
func Scaled(raw, enabled, running uint64) (count, percent float64) {
	switch {
	case running == 0:
		return 0, 0
	case running >= enabled:
		return float64(raw), 100
	}
	return float64(raw) * float64(enabled) / float64(running), 100 * float64(running) / float64(enabled)
}

// Percent is the share of its enabled time an exact counter ran, 100
// unless the kernel multiplexed it; 100 for a sampled count, 0 for none.
func (v Value) Percent() float64 {
	switch v.Method {
	case Sampled:
		return 100
	case Exact:
		_, p := Scaled(v.Raw, v.Enabled, v.Running)
		return p
	}
	return 0
}

// Row is one program's figures over one block.
type Row struct {
	ID bpfprog.ID
	// Name is the program's full name; Type its program type.
	Name, Type string
	// New: loaded after counting began, counted from its load. Gone:
	// unloaded before the block ended, counted up to its unload.
	New, Gone bool
	// Runs, RunTime and RecursionMisses come from the kernel's run-time
	// stats (exact).
	Runs            uint64
	RunTime         time.Duration
	RecursionMisses uint64
	// Values holds one Value per event of the Counter.
	Values []Value
	// ExactRuns is the run count fexit saw, where HasExact.
	ExactRuns uint64
	HasExact  bool
	// Hist counts runs by floor(log2(run time in ns)), with --latency
	// where exact counting works; nil otherwise.
	Hist []uint64
	// Spread is set on the mean rows of repeated runs (-r).
	Spread *Spread
}

// NsPerRun is the average duration of a run in ns, 0 without runs.
func (r *Row) NsPerRun() float64 {
	if r.Runs == 0 {
		return 0
	}
	return float64(r.RunTime.Nanoseconds()) / float64(r.Runs)
}

// Block is what the Counter saw over one interval, or over the whole run.
type Block struct {
	// Start and End are the block's bounds, in time since counting began.
	Start, End time.Duration
	// Events are the Counter's events; each Row's Values follow them.
	Events []Event
	Rows   []Row
}

// Elapsed is the length of the block.
func (b *Block) Elapsed() time.Duration { return b.End - b.Start }

// Spread is the relative standard deviation of the mean, in percent, of a
// row's figures over the runs of -r, as perf stat prints "( +- x.xx% )".
type Spread struct {
	Runs, RunTime float64
	Values        []float64
}
