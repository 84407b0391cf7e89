package aggregate

import (
	"cmp"
	"errors"
	"slices"

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
	// Expired counts the stacks dropped by Options.Window.
	Expired uint64
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
	// Addrs are the samples of BPF programs by instruction address in
	// their JIT images, by program id and address; only addresses with
	// samples.
	Addrs []Addr
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

// Addr is the sample count at one instruction address of a BPF program's
// JIT image.
type Addr struct {
	Prog *symbolize.Prog
	// Addr is the instruction's kernel address; Func the BPF function
	// holding it.
	Addr uint64
	Func string
	// Location is the id of the address's location.
	Location uint32
	// Samples have their innermost BPF frame at this address: the
	// sampled instruction, or for samples in a helper or kfunc the call
	// that led there (the byte before the return address). Self are those
	// whose leaf is this instruction: taken while it ran. Period sums the
	// periods of Samples.
	Samples, Self, Period uint64
}

// SelfByAddr returns the self samples of program id by instruction
// address: the per-JIT-instruction heat that annotate shows.
func SelfByAddr(addrs []Addr, id uint32) map[uint64]uint64 {
	m := make(map[uint64]uint64)
	for _, a := range addrs {
		if a.Prog.ID == id && a.Self > 0 {
			m[a.Addr] += a.Self
		}
	}
	return m
}

// Payer is who pays for a BPF program's samples: the process that was
// running, on which CPU, when the program was sampled.
type Payer struct {
	// Prog is the program of the innermost BPF frame; nil for samples
	// outside BPF.
	Prog *symbolize.Prog
	PID  uint32
	Comm string
	CPU  uint32
	// Samples and Period sum the stacks' counts.
	Samples, Period uint64
}

// Payers sums stacks by program, process and CPU, most samples first. It
// serves a Snapshot's Stacks as well as a Delta's.
func Payers(stacks []Stack) []Payer {
	type key struct {
		prog     *symbolize.Prog
		pid, cpu uint32
		comm     string
	}
	idx := make(map[key]int)
	var ps []Payer
	for i := range stacks {
		st := &stacks[i]
		k := key{st.Prog, st.PID, st.CPU, st.Comm}
		j, ok := idx[k]
		if !ok {
			j = len(ps)
			idx[k] = j
			ps = append(ps, Payer{Prog: st.Prog, PID: st.PID, Comm: st.Comm, CPU: st.CPU})
		}
		ps[j].Samples += st.Count
		ps[j].Period += st.Period
	}
	slices.SortFunc(ps, func(x, y Payer) int {
		return cmp.Or(cmp.Compare(y.Samples, x.Samples), cmp.Compare(progID(x.Prog), progID(y.Prog)),
			cmp.Compare(x.PID, y.PID), cmp.Compare(x.CPU, y.CPU), cmp.Compare(x.Comm, y.Comm))
	})
	return ps
}

// progID is p's id, 0 for nil.
func progID(p *symbolize.Prog) uint32 {
	if p == nil {
		return 0
	}
	return p.ID
}
