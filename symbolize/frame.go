package symbolize

// Kind says what kind of code an address belongs to.
type Kind uint8

// Kinds of frames.
const (
	KindUnknown Kind = iota
	KindKernel
	KindBPF
	KindUser
)

// Frame is one resolved address. A Frame, and the Mapping and Prog it
// points to, never change once returned: other goroutines may read them
// while the Symbolizer goes on resolving and following records.
type Frame struct {
	Kind Kind
	Addr uint64
	// Func is the function's name, never empty: a kernel symbol, a BPF
	// function's BTF name (subprograms by their own name), an ELF or Go
	// symbol; "[unknown]" style names where nothing better is known.
	Func string
	// SystemName is the name the kernel and perf use where it differs from
	// Func: bpf_prog_<tag>_<func> for BPF frames.
	SystemName string
	// Offset is Addr minus the start of Func.
	Offset uint64
	// File, Line and Column locate the source in Func: BTF line info for
	// BPF frames, pclntab for Go binaries. File is empty when unknown.
	// Where calls are inlined at Addr, they locate the outermost of those
	// calls.
	File         string
	Line, Column uint32
	// Inlined lists, innermost first, the calls inlined into Func at
	// Addr: Inlined[0] is the function whose code Addr is, at Addr's
	// source position; each next one called the one before it, at its
	// position; Func called the last, at File:Line. Empty where Addr is
	// Func's own code, or inlining is unknown. Shared: never modified.
	Inlined []Line
	// InlineKnown says the symbolizer read the inline information of
	// Addr's code (a Go pclntab's inline tree): Inlined is then the whole
	// chain. False for ELF symbols without it and for stripped Go
	// binaries, whose inlined calls then show as their caller. A frame
	// with InlineKnown and no File is code its binary gives no source
	// position (in a Go binary, the padding after a function).
	InlineKnown bool
	// Source is the text of the source line BTF carries, for BPF frames.
	Source string
	// Mapping is the object holding the address; nil when unknown.
	Mapping *Mapping
	// Prog is the BPF program for BPF frames, nil otherwise.
	Prog *Prog
}

// Line is one source position in a chain of inlined calls.
type Line struct {
	// Func is the function's name, File its source file, "" if unknown.
	Func, File   string
	Line, Column uint32
}

// Lines appends to dst the source positions of f, innermost first: those
// of its inlined calls, then its own.
func (f *Frame) Lines(dst []Line) []Line {
	dst = append(dst, f.Inlined...)
	return append(dst, Line{Func: f.Func, File: f.File, Line: f.Line, Column: f.Column})
}

// Mapping is an object code lives in: the kernel, one BPF program's JIT
// image, or a mapped file of a process.
type Mapping struct {
	Kind         Kind
	Start, Limit uint64
	// Offset is the file offset that Start maps.
	Offset uint64
	// File is "[kernel.kallsyms]", "[bpf] NAME", or the path of a mapped file.
	File string
	// BuildID is the ELF build ID in hex, or the tag of a BPF program.
	BuildID string
}

// Prog names a BPF program a frame belongs to.
type Prog struct {
	ID   uint32
	Tag  string // hex, as bpftool prints it
	Type string // bpftool's type name: xdp, socket_filter, tracepoint, ...
	Name string // full name: the BTF name of the main function
}

// KernelAddr reports whether addr lies in the upper, kernel half of the
// address space, as it does on x86-64 and arm64: kernel text, modules and
// JITed BPF programs.
func KernelAddr(addr uint64) bool { return addr>>63 == 1 }
