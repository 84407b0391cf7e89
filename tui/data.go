package tui

import (
	"context"
	"time"
)

// Source is where the live data comes from: cmd/bpfprof implements it over
// the sampling session, tests with fixtures. The TUI calls it only from
// tea.Cmds, never from Update or View, so a slow read never blocks a key.
type Source interface {
	// Refresh ends the current period and returns what happened in it:
	// every loaded program with its rates and sample shares. The first
	// call counts from the start of the source.
	Refresh(ctx context.Context) (*Frame, error)
	// Details returns the facts and annotated listing of one program.
	Details(ctx context.Context, id uint32) (*Details, error)
}

// Frame is one period of live data.
type Frame struct {
	// Time is when the period ended; Period how long it was.
	Time   time.Time
	Period time.Duration
	Header Header
	// Programs are every loaded program, in any order.
	Programs []Program
	// Heat holds, per program id, where its samples of this period fell;
	// only sampled programs have an entry.
	Heat map[uint32]*Heat
}

// Header is what the top lines of the main view say about the whole
// machine and the sampling.
type Header struct {
	// StatsNote says who turned the kernel's run-time stats on: "our fd"
	// or "sysctl was already on"; empty if they could not be.
	StatsNote string
	// Event and Frequency describe the sampling ("cpu-clock", 499 Hz);
	// Event is empty when sampling is off, with SamplingNote saying why.
	Event        string
	Frequency    uint64
	SamplingNote string
	// Samples, BPFSamples and Lost count this period's samples: all of
	// them, those whose innermost BPF frame named a program, and those the
	// kernel dropped.
	Samples, BPFSamples, Lost uint64
	// Demo says the bundled demo programs are loaded and driven.
	Demo bool
}

// Program is one loaded BPF program in one period.
type Program struct {
	ID   uint32
	Type string
	// Name is the full BTF name; empty for an unnamed program.
	Name string
	Tag  string
	// Attach are the attach points, one line each ("tracepoint
	// raw_syscalls/sys_enter", "xdp lo (ifindex 1)").
	Attach []string
	// Procs are the processes holding the program.
	Procs []Proc
	// HasStats says the run-time stats below were measured this period
	// (false for the first period of a program or without stats).
	HasStats   bool
	RunsPerSec float64
	AvgNs      float64
	// CPUPercent is run time over the period: 100 is one core busy.
	CPUPercent float64
	// Samples is this period's samples whose innermost BPF frame is this
	// program; SampledPercent their share of every sample.
	Samples        uint64
	SampledPercent float64
	// MapsMem is the memlock of the program's maps, in bytes.
	MapsMem uint64
}

// Proc is a process holding a program.
type Proc struct {
	PID  int
	Comm string
}

// Heat is where one program's samples of a period fell.
type Heat struct {
	Samples uint64
	// Lines counts samples by source line.
	Lines map[LineKey]uint64
	// Addrs counts samples by JIT address (the sampled instruction, or
	// the return address in this program for samples in a helper).
	Addrs map[uint64]uint64
	// Payers are the processes and CPUs the samples were taken in, most
	// samples first: who pays the program's cost.
	Payers []Payer
}

// LineKey names a source line.
type LineKey struct {
	File string
	Line uint32
}

// Payer is one process on one CPU that ran a program.
type Payer struct {
	PID     uint32
	Comm    string
	CPU     uint32
	Samples uint64
}

// Details are the facts of one program and its annotated listing.
type Details struct {
	ID   uint32
	Tag  string
	Type string
	Name string
	// Attach and Procs as in Program.
	Attach        []string
	Procs         []Proc
	LoadedAt      time.Time
	UID           uint32
	XlatedSize    uint32
	JitedSize     uint32
	VerifiedInsns uint32
	Memlock       uint64
	BTFID         uint32
	Maps          []Map
	// Listing is nil when the program's code could not be read;
	// ListingNote says why, or what the listing lacks (source lines
	// without BTF, machine code without a JIT image).
	Listing     *Listing
	ListingNote string
}

// Map is one map a program uses.
type Map struct {
	ID         uint32
	Name, Type string
	MaxEntries uint32
	Memlock    uint64
}

// Listing is a program's code by function, source line and instruction.
type Listing struct {
	Funcs []Func
}

// Func is one BPF function (the main program or a subprogram).
type Func struct {
	Name  string
	Lines []SourceLine
}

// SourceLine is one run of instructions that BTF line info gives the same
// source line.
type SourceLine struct {
	LineKey
	Text  string
	Insns []Insn
}

// Insn is one xlated instruction with the JIT code made from it.
type Insn struct {
	// Index is the instruction's offset in the program, in 8-byte units.
	Index int
	Text  string
	JIT   []JITInsn
}

// JITInsn is one machine instruction of the JIT image.
type JITInsn struct {
	Addr uint64
	Len  int
	Text string
}

// Messages the model receives from its commands.
type (
	// FrameMsg carries a new period's data, or the error reading it.
	FrameMsg struct {
		Frame *Frame
		Err   error
	}
	// DetailsMsg carries the details of a program the program view asked
	// for.
	DetailsMsg struct {
		ID      uint32
		Details *Details
		Err     error
	}
	// tickMsg asks for the next refresh; gen tells a stale tick (from
	// before a delay change or pause) from the current one.
	tickMsg struct{ gen int }
)
