package annotate

import "time"

// Program is everything annotate needs to know about one BPF program,
// captured when the program is first seen so that it can still be shown
// after it unloads. It holds plain values only (no file descriptors, no BTF
// handles): FromDetail fills it from a live program's detail, and a perf.data
// reader can fill it from the bpf_prog_info and BTF stored in the file.
//
// Every field but ID may be empty; Build then says what is missing in
// Listing.Notes and shows what it can.
type Program struct {
	// ID is the kernel's program ID; Tag its hex tag as bpftool prints it.
	ID  uint32 `json:"id"`
	Tag string `json:"tag,omitempty"`
	// Name is the full name: the BTF name of the main function when known,
	// else the (15-character) kernel name.
	Name string `json:"name,omitempty"`
	// Type is bpftool's name of the program type: xdp, socket_filter, ...
	Type string `json:"type,omitempty"`

	// Xlated holds the kernel's translated ("xlated") instructions as
	// BPF_OBJ_GET_INFO_BY_FD returns them: struct bpf_insn records of 8
	// bytes in host byte order, a 64-bit immediate load taking two. Nil
	// when unknown (perf.data does not store them): the listing then has
	// source lines and JIT code only.
	Xlated []byte `json:"xlated,omitempty"`

	// Funcs are the BPF functions from BTF func info, one per function
	// (the main program first, then each subprogram), sorted by Insn.
	// Empty for a program loaded without BTF.
	Funcs []Func `json:"funcs,omitempty"`

	// Lines are the BTF line info records, sorted by Insn. Empty for a
	// program loaded without BTF line info.
	Lines []Line `json:"lines,omitempty"`

	// JIT is the program's machine code; nil when the program is not
	// JITed (interpreter) or its image could not be read (kptr_restrict,
	// missing privilege).
	JIT *JIT `json:"jit,omitempty"`

	// Maps are the maps the program uses, as named in its
	// BPF_PSEUDO_MAP_FD and BPF_PSEUDO_MAP_VALUE loads.
	Maps []Map `json:"maps,omitempty"`

	// Calls names the kernel functions that the xlated helper calls
	// target, by the call instruction's immediate. In xlated code that
	// immediate is the target's offset from the kernel's __bpf_call_base,
	// not the helper ID, so naming it needs kallsyms at capture time (see
	// CaptureOptions). Calls not found here fall back to the helper name
	// of the immediate taken as a helper ID.
	Calls map[int32]string `json:"calls,omitempty"`

	// Kfuncs names the kernel functions the program calls as kfuncs
	// (BPF_PSEUDO_KFUNC_CALL), by the call's immediate: a BTF type ID in
	// the kernel's BTF (vmlinux; kfuncs of modules are not named).
	Kfuncs map[int32]string `json:"kfuncs,omitempty"`
}

// Func is one BPF function (main program or subprogram) from BTF func
// info.
type Func struct {
	// Insn is the index of its first xlated instruction (8-byte slot).
	Insn uint32 `json:"insn"`
	// Name is its BTF name.
	Name string `json:"name"`
	// Signature is its C declaration from BTF, e.g.
	// "static __u32 bpfprof_xdp_sub(__u32 len)"; empty if unknown.
	Signature string `json:"signature,omitempty"`
}

// Line is one BTF line info record: the source position of the xlated
// instructions from Insn up to the next record's Insn.
type Line struct {
	// Insn is the index of the first xlated instruction it covers.
	Insn uint32 `json:"insn"`
	// File, Line and Col locate the source (Line and Col from 1; Col 0 when
	// unknown); Text is the line's source text as stored in BTF.
	File string `json:"file"`
	Line uint32 `json:"line"`
	Col  uint32 `json:"col,omitempty"`
	Text string `json:"text,omitempty"`
	// JITAddr is the kernel address of the machine code of instruction
	// Insn (jited_line_info), 0 when unknown.
	JITAddr uint64 `json:"jit_addr,omitempty"`
}

// JIT is a program's machine code as the JIT compiler left it.
type JIT struct {
	// Image is the machine code of every function, concatenated in
	// function order (jited_prog_insns): function i is FuncLens[i] bytes
	// starting at the sum of the lengths before it.
	Image []byte `json:"image"`
	// Ksyms are the kernel addresses where the functions start
	// (jited_ksyms), in function order, parallel to Program.Funcs when the
	// program has BTF.
	Ksyms []uint64 `json:"ksyms"`
	// FuncLens are the byte lengths of the functions (jited_func_lens).
	// A program with one function may leave it empty: its length is then
	// len(Image).
	FuncLens []uint32 `json:"func_lens,omitempty"`
}

// Map is a map a program uses.
type Map struct {
	ID   uint32 `json:"id"`
	Name string `json:"name,omitempty"`
}

// Counts are the samples and run statistics that heat a listing. The zero
// value gives a static listing without heat.
type Counts struct {
	// ByAddr counts samples by the exact instruction pointer inside the
	// program's JIT image (self samples: the leaf frame was this program).
	// It gives each JIT instruction, line and function its count.
	ByAddr map[uint64]uint64
	// ByLine counts samples by source line, for sources that kept no
	// addresses (a profile written by record). Used only for programs
	// without JIT (or when ByAddr is empty): lines get counts, instructions
	// do not.
	ByLine map[LineKey]uint64
	// Program is the number of samples in this program; 0 means the sum of
	// ByAddr (or of ByLine).
	Program uint64
	// Total is the number of samples overall in the period, in every
	// program and outside BPF.
	Total uint64
	// RunCount and RunTimeNs are the program's runs and run time over the
	// period, from its stats (kernel.bpf_stats_enabled); 0 when unknown.
	RunCount, RunTimeNs uint64
	// Period is how long the samples were taken; Event names the event
	// sampled ("cpu-clock").
	Period time.Duration
	Event  string
}

// LineKey names one source line in Counts.ByLine.
type LineKey struct {
	// Func is the BPF function's name; empty matches the line in any
	// function.
	Func string
	File string
	Line uint32
}
