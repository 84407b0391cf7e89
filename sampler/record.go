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

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(Record)

// HandleRecord calls f(r).
func (f HandlerFunc) HandleRecord(r Record) { f(r) }

// Sample is a PERF_RECORD_SAMPLE.
type Sample struct {
	Common
	IP       uint64
	PID, TID uint32
	// Period is the event count this sample stands for (nanoseconds for
	// cpu-clock and task-clock).
	Period uint64
	// Kernel and User are the callchain split at perf's context markers, leaf
	// first, markers removed. Either may be empty.
	Kernel []uint64
	User   []uint64
	// Event is the index of the event (in Options.Events order) that took it.
	Event int
}

// Mmap2 is a PERF_RECORD_MMAP2: an executable mapping of a process.
type Mmap2 struct {
	Common
	PID, TID           uint32
	Addr, Len, PgOff   uint64
	Maj, Min           uint32
	Ino, InoGeneration uint64
	BuildID            []byte // set instead of Maj..InoGeneration with PERF_RECORD_MISC_MMAP_BUILD_ID
	Prot, Flags        uint32
	Filename           string
}

// Comm is a PERF_RECORD_COMM: a process (or thread) took a new name.
type Comm struct {
	Common
	PID, TID uint32
	Comm     string
	// Exec is set when the name changed because of execve.
	Exec bool
}

// Fork is a PERF_RECORD_FORK.
type Fork struct {
	Common
	PID, PPID, TID, PTID uint32
}

// Exit is a PERF_RECORD_EXIT.
type Exit struct {
	Common
	PID, PPID, TID, PTID uint32
}

// Lost is a PERF_RECORD_LOST: the kernel dropped records because the ring
// buffer was full.
type Lost struct {
	Common
	Lost uint64
}

// LostSamples is a PERF_RECORD_LOST_SAMPLES.
type LostSamples struct {
	Common
	Lost uint64
}

// Throttle is a PERF_RECORD_THROTTLE or, with Unthrottle set,
// PERF_RECORD_UNTHROTTLE.
type Throttle struct {
	Common
	Unthrottle bool
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
	Addr       uint64
	Len        uint32
	Type       KSymbolType
	Unregister bool
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
	Type   BPFEventType
	Flags  uint16
	ProgID uint32
	Tag    [8]byte
}
