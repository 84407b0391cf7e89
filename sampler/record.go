package sampler

// Record is one decoded perf record: *Sample, *Mmap2, *Comm, *Fork, *Exit,
// *Lost, *LostSamples, *Throttle, *KSymbol or *BPFEvent.
//
// A Reader reuses its record values: a record, and every slice in it, is only
// valid during the Handler call that receives it. Copy what you keep.
type Record interface {
	common() *Common
}

// Common holds the fields every record carries, from the sample body or, for
// side-band records, from sample_id_all.
type Common struct {
	// Time is the perf clock (CLOCK_MONOTONIC) in nanoseconds.
	Time uint64
	// CPU is the CPU whose ring buffer held the record.
	CPU uint32
}

func (c *Common) common() *Common { return c }

// Handler consumes the records a Reader delivers, in time order.
type Handler interface {
	HandleRecord(Record)
}

// RoundHandler is a Handler that is also told when a round of reading
// ends: every record the rings held at the round's start has been
// delivered. A queue hands a round's records over at once there, instead
// of one by one.
type RoundHandler interface {
	Handler
	EndRound()
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(Record)

// HandleRecord calls f(r).
func (f HandlerFunc) HandleRecord(r Record) { f(r) }

// Sample is a PERF_RECORD_SAMPLE.
type Sample struct {
	Common
	IP       uint64 // where the sample was taken
	PID, TID uint32 // process and thread
	// Period is the event count this sample stands for (nanoseconds for
	// cpu-clock and task-clock).
	Period uint64
	// Kernel and User are the callchain split at perf's context markers, leaf
	// first, markers removed. Either may be empty.
	Kernel []uint64
	User   []uint64
	// Event is the index of the event (in Options.Events order) that took it.
	Event int
	// Counters holds the counts of PERF_SAMPLE_READ, when the event asked
	// for them; nil otherwise.
	Counters []Counter
}

// Counter is one event's count read with a sample (PERF_SAMPLE_READ).
type Counter struct {
	// ID is the kernel's id of the counted event (PERF_FORMAT_ID), or 0.
	ID uint64
	// Event is the index in Options.Events of the counted event, or -1 when
	// the ID is unknown.
	Event int
	// Value is the event's count.
	Value uint64
}

// Mmap2 is a PERF_RECORD_MMAP2: an executable mapping of a process.
type Mmap2 struct {
	Common
	PID, TID           uint32 // process and thread that mapped it
	Addr, Len, PgOff   uint64 // start, length, and file offset of the start
	Maj, Min           uint32 // device of the file
	Ino, InoGeneration uint64 // inode of the file
	BuildID            []byte // set instead of Maj..InoGeneration with PERF_RECORD_MISC_MMAP_BUILD_ID
	Prot, Flags        uint32 // PROT_* and MAP_* of the mapping
	Filename           string // path of the file, or [vdso] and the like
}

// Comm is a PERF_RECORD_COMM: a process (or thread) took a new name.
type Comm struct {
	Common
	PID, TID uint32 // process and thread
	Comm     string // the new name, at most 15 bytes
	// Exec is set when the name changed because of execve.
	Exec bool
}

// Fork is a PERF_RECORD_FORK.
type Fork struct {
	Common
	PID, PPID, TID, PTID uint32 // new process and thread, and their parents
}

// Exit is a PERF_RECORD_EXIT.
type Exit struct {
	Common
	PID, PPID, TID, PTID uint32 // exiting process and thread, and their parents
}

// Lost is a PERF_RECORD_LOST: the kernel dropped records because the ring
// buffer was full.
type Lost struct {
	Common
	Lost uint64 // how many records
}

// LostSamples is a PERF_RECORD_LOST_SAMPLES.
type LostSamples struct {
	Common
	Lost uint64 // how many samples
}

// Throttle is a PERF_RECORD_THROTTLE or, with Unthrottle set,
// PERF_RECORD_UNTHROTTLE.
type Throttle struct {
	Common
	Unthrottle bool // sampling resumed
}

// KSymbolType is the type of a PERF_RECORD_KSYMBOL.
type KSymbolType uint16

// KSymbol types, as in enum perf_record_ksymbol_type.
const (
	KSymbolUnknown KSymbolType = 0
	KSymbolBPF     KSymbolType = 1
	KSymbolOOL     KSymbolType = 2 // out-of-line code: trampolines, dispatchers
)

// KSymbol is a PERF_RECORD_KSYMBOL: a kernel symbol, such as the JIT image
// of a BPF function, was registered or unregistered.
type KSymbol struct {
	Common
	Addr       uint64      // start of the symbol's code
	Len        uint32      // length of its code
	Type       KSymbolType // BPF, or out-of-line code
	Unregister bool        // the symbol went away
	// Name is bpf_prog_<tag>_<func> for BPF; a subprogram has its own tag.
	Name string
}

// BPFEventType is the type of a PERF_RECORD_BPF_EVENT.
type BPFEventType uint16

// BPF event types, as in enum perf_bpf_event_type.
const (
	BPFEventUnknown    BPFEventType = 0
	BPFEventProgLoad   BPFEventType = 1
	BPFEventProgUnload BPFEventType = 2
)

// BPFEvent is a PERF_RECORD_BPF_EVENT: a BPF program was loaded or unloaded.
type BPFEvent struct {
	Common
	Type   BPFEventType // load or unload
	Flags  uint16       // unused by the kernel so far
	ProgID uint32       // the program's id
	Tag    [8]byte      // the program's tag, as bpftool prints it in hex
}
