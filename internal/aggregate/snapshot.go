package aggregate

import (
	"errors"

	"github.com/bpfprof/bpfprof/symbolize"
)

var errNoResolver = errors.New("aggregate: Options.Resolver is required")

// Counters are the running totals of a recording.
type Counters struct {
	// Samples is every sample received; Kept those counted in stacks;
	// Dropped those left out by Options.BPFOnly; BPFSamples those with a
	// BPF frame.
	Samples, Kept, Dropped, BPFSamples uint64
	// Lost and LostSamples add up PERF_RECORD_LOST and
	// PERF_RECORD_LOST_SAMPLES: records and samples the kernel dropped.
	Lost, LostSamples uint64
	// Throttles and Unthrottles count PERF_RECORD_THROTTLE and UNTHROTTLE.
	Throttles, Unthrottles uint64
	// ProgLoads and ProgUnloads count BPF programs loaded and unloaded
	// while recording (PERF_RECORD_BPF_EVENT).
	ProgLoads, ProgUnloads uint64
	// ProgramsSeen is the number of distinct BPF programs seen in samples.
	ProgramsSeen int
}

// Snapshot is an immutable copy of an Aggregator's counts. Its slices, and
// the Mappings and Progs its frames point to, are shared: do not modify them.
type Snapshot struct {
	// Start and End are the perf clock (CLOCK_MONOTONIC) times, in
	// nanoseconds, of the first and last record received; 0 before any.
	Start, End uint64
	Counters
	// Locations holds every resolved frame; location id i (from 1) is
	// Locations[i-1].
	Locations []symbolize.Frame
	// Stacks are the distinct stacks with their labels, in the order they
	// were first seen.
	Stacks []Stack
	// Programs are the BPF programs found as the innermost BPF frame of
	// samples, most samples first.
	Programs []Program
	// Lines are the source lines of the innermost BPF frames of samples,
	// by program id, file and line.
	Lines []Line
}

// Location returns the frame of location id (from 1).
func (s *Snapshot) Location(id uint32) *symbolize.Frame { return &s.Locations[id-1] }

// Stack is one distinct stack and label set with its counts.
type Stack struct {
	// Locations are location ids, leaf first; at least one. User
	// addresses no code can run at (0, the first page, beyond 56 bits)
	// are left out, unless the sample has nothing else.
	Locations []uint32
	// PID, TID, CPU and Comm are the labels of the samples.
	PID, TID, CPU uint32
	Comm          string
	// Prog is the program of the innermost BPF frame, nil without one.
	Prog *symbolize.Prog
	// Count is the number of samples; Period the sum of their periods
	// (nanoseconds for clock events).
	Count, Period uint64
}

// Program is the sample count of one BPF program.
type Program struct {
	Prog *symbolize.Prog
	// Samples have the program as their innermost BPF frame; Self have
	// their leaf in it (not in a helper or kfunc it called). Period sums
	// the periods of Samples.
	Samples, Self, Period uint64
}

// Line is the sample count of one BPF source line, as named by BTF line info.
type Line struct {
	Prog *symbolize.Prog
	// Func is the BPF function (a subprogram by its own name).
	Func string
	// File and Line locate the source; Source is its text from BTF.
	File   string
	Line   uint32
	Source string
	// Samples have their innermost BPF frame on this line; Self have their
	// leaf on it. Period sums the periods of Samples.
	Samples, Self, Period uint64
}
