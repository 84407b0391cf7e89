package perfdata

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrFormat means the bytes are not a perf.data file this package can read,
// or are corrupt or cut short. Errors wrapping it are *FormatError values
// that say where.
var ErrFormat = errors.New("bad perf.data")

// FormatError is a problem in a file's bytes: what is wrong, and at which
// offset of the file (or of the stream, for pipe mode).
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%v at offset %d (%#x): %s", ErrFormat, e.Offset, e.Offset, e.What)
}

// Unwrap makes a FormatError match ErrFormat.
func (e *FormatError) Unwrap() error { return ErrFormat }

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

// ne is the byte order of the files read: the machine's own. A file of the
// other byte order is refused (perf itself cannot read the BPF sections of
// one).
var ne = binary.NativeEndian

// Header is what a perf.data file says about its recording, besides the
// records: the events and the feature sections present. In pipe mode it is
// filled as the stream is read: complete once Reader.Run returns.
type Header struct {
	// Pipe says the data came from 'perf record -o -'.
	Pipe bool
	// Events are the recorded events (perf_event_attr and their ids), in
	// file order; Sample.Event indexes them.
	Events []*Event
	// Features lists the feature sections present, in bit order.
	Features []Feature

	Hostname, OSRelease, PerfVersion, Arch, CPUDesc, CPUID string
	// NrCPUsAvail and NrCPUsOnline come from the CPU count section.
	NrCPUsAvail, NrCPUsOnline uint32
	// TotalMemKB is the machine's memory in KiB.
	TotalMemKB uint64
	// Cmdline is perf's command line.
	Cmdline []string
	// BuildIDs are the build IDs of the objects samples hit, as perf
	// stored them: the kernel as "[kernel.kallsyms]".
	BuildIDs []BuildID
	// FirstSample and LastSample are the perf clock times of the first
	// and last samples (the sample time section), or 0.
	FirstSample, LastSample uint64
	// ClockID is the clock perf record -k chose, if HasClockID.
	ClockID    int32
	HasClockID bool
	// ClockData pairs a perf clock time with the wall clock, if stored
	// (perf 5.10 and later with -k).
	ClockData *ClockData
	// Programs holds the info of the BPF programs perf saw, by id.
	Programs map[uint32]*BPFProg
	// BTF holds the raw BTF of those programs, by BTF id.
	BTF map[uint32][]byte

	// Where the data section is, in file mode.
	dataOff, dataSize int64
}

// Event is one recorded event.
type Event struct {
	// Attr is its perf_event_attr, as much of it as the file holds.
	Attr unix.PerfEventAttr
	// Name is the name perf gave it (cpu-clock:ppp), from the event
	// description section; "" if absent.
	Name string
	// IDs are the kernel's ids of its per-CPU or per-thread instances.
	IDs []uint64
}

// BaseName is the event's name without perf's modifiers (cpu-clock for
// cpu-clock:ppp), or one made from its type and config.
func (e *Event) BaseName() string {
	if e.Name != "" {
		n, _, _ := strings.Cut(e.Name, ":")
		return n
	}
	return AttrName(e.Attr.Type, e.Attr.Config)
}

// IsClock reports whether the event is cpu-clock or task-clock, whose
// period is in nanoseconds.
func (e *Event) IsClock() bool {
	return e.Attr.Type == unix.PERF_TYPE_SOFTWARE &&
		(e.Attr.Config == unix.PERF_COUNT_SW_CPU_CLOCK || e.Attr.Config == unix.PERF_COUNT_SW_TASK_CLOCK)
}

// IsDummy reports whether the event is the software dummy perf adds for
// side-band records: it takes no samples.
func (e *Event) IsDummy() bool {
	return e.Attr.Type == unix.PERF_TYPE_SOFTWARE && e.Attr.Config == unix.PERF_COUNT_SW_DUMMY
}

// Freq reports whether the event sampled at a frequency (Attr.Sample is
// then in Hz) rather than every Attr.Sample events.
func (e *Event) Freq() bool { return e.Attr.Bits&unix.PerfBitFreq != 0 }

// AttrName names an event by its perf_event_attr type and config, as perf
// does for the common ones, else "type:config".
func AttrName(typ uint32, config uint64) string {
	sw := map[uint64]string{
		unix.PERF_COUNT_SW_CPU_CLOCK: "cpu-clock", unix.PERF_COUNT_SW_TASK_CLOCK: "task-clock",
		unix.PERF_COUNT_SW_PAGE_FAULTS: "page-faults", unix.PERF_COUNT_SW_CONTEXT_SWITCHES: "context-switches",
		unix.PERF_COUNT_SW_CPU_MIGRATIONS: "cpu-migrations", unix.PERF_COUNT_SW_PAGE_FAULTS_MIN: "minor-faults",
		unix.PERF_COUNT_SW_PAGE_FAULTS_MAJ: "major-faults", unix.PERF_COUNT_SW_DUMMY: "dummy",
	}
	hw := map[uint64]string{
		unix.PERF_COUNT_HW_CPU_CYCLES: "cycles", unix.PERF_COUNT_HW_INSTRUCTIONS: "instructions",
		unix.PERF_COUNT_HW_CACHE_REFERENCES: "cache-references", unix.PERF_COUNT_HW_CACHE_MISSES: "cache-misses",
		unix.PERF_COUNT_HW_BRANCH_INSTRUCTIONS: "branch-instructions", unix.PERF_COUNT_HW_BRANCH_MISSES: "branch-misses",
		unix.PERF_COUNT_HW_REF_CPU_CYCLES: "ref-cycles",
	}
	switch typ {
	case unix.PERF_TYPE_SOFTWARE:
		if n, ok := sw[config]; ok {
			return n
		}
	case unix.PERF_TYPE_HARDWARE:
		if n, ok := hw[config]; ok {
			return n
		}
	case unix.PERF_TYPE_RAW:
		return fmt.Sprintf("r%x", config)
	}
	return fmt.Sprintf("%d:%#x", typ, config)
}

// BuildID is one entry of the build ID section.
type BuildID struct {
	PID    int32
	Kernel bool   // the object is kernel code (cpumode kernel)
	ID     []byte // the build ID, usually 20 bytes
	Path   string // the object: a path, or [kernel.kallsyms], [vdso]
}

// ClockData is the clock data section: a wall-clock time and the perf clock
// time taken at the same moment.
type ClockData struct {
	ClockID   uint32
	WallNanos uint64 // ns since the Unix epoch
	ClockNs   uint64 // the perf clock then
}

// Has reports whether feature f is present.
func (h *Header) Has(f Feature) bool {
	for _, g := range h.Features {
		if g == f {
			return true
		}
	}
	return false
}

// KernelBuildID returns the build ID perf stored for the kernel.
func (h *Header) KernelBuildID() ([]byte, bool) {
	for _, b := range h.BuildIDs {
		if b.Kernel && b.Path == "[kernel.kallsyms]" {
			return b.ID, true
		}
	}
	return nil, false
}

// attrSize is the size of the perf_event_attr this package knows.
const attrSize = int(unsafe.Sizeof(unix.PerfEventAttr{}))

// parseAttr reads a perf_event_attr of size bytes from b. Fields past what b
// holds stay zero; fields b has beyond the known ones are ignored.
func parseAttr(b []byte) unix.PerfEventAttr {
	var buf [attrSize]byte
	copy(buf[:], b)
	var a unix.PerfEventAttr
	// binary.Decode cannot fail on a buffer of the struct's own size.
	_, _ = binary.Decode(buf[:], ne, &a)
	return a
}

// fileHeader is struct perf_file_header, less the magic.
type fileHeader struct {
	size, attrSize          uint64
	attrs, data, eventTypes section
	features                [featureBits / 64]uint64
	featureCount            int64
}

// section is struct perf_file_section.
type section struct{ off, size uint64 }

func (s section) end() (uint64, bool) {
	e := s.off + s.size
	return e, e >= s.off
}

// parseFileHeader reads struct perf_file_header from b (at least
// fileHeaderSize bytes) and checks its sections against the file's size.
func parseFileHeader(b []byte, fileSize int64) (*fileHeader, error) {
	h := &fileHeader{}
	h.size = ne.Uint64(b[8:])
	h.attrSize = ne.Uint64(b[16:])
	sec := func(off int) section { return section{ne.Uint64(b[off:]), ne.Uint64(b[off+8:])} }
	h.attrs, h.data, h.eventTypes = sec(24), sec(40), sec(56)
	for i := range h.features {
		h.features[i] = ne.Uint64(b[72+8*i:])
		h.featureCount += int64(bits.OnesCount64(h.features[i]))
	}
	if h.size != fileHeaderSize {
		return nil, formatErr(8, "header size %d, want %d (a perf.data from an old perf?)", h.size, fileHeaderSize)
	}
	for _, s := range []struct {
		name string
		off  int64
		sec  section
	}{{"attrs", 24, h.attrs}, {"data", 40, h.data}} {
		end, ok := s.sec.end()
		if !ok || end > uint64(fileSize) || s.sec.off < fileHeaderSize {
			return nil, formatErr(s.off, "%s section [%d, +%d) outside the file (%d bytes): truncated?", s.name, s.sec.off, s.sec.size, fileSize)
		}
	}
	if h.attrSize < 16+attrSizeVer0 || h.attrSize > 1<<16 {
		return nil, formatErr(16, "attr size %d is not a perf_event_attr and its ids", h.attrSize)
	}
	if h.attrs.size%h.attrSize != 0 {
		return nil, formatErr(32, "attrs section size %d is not a multiple of the attr size %d", h.attrs.size, h.attrSize)
	}
	return h, nil
}

// cursor reads native-endian fields from a section and remembers the first
// overrun.
type cursor struct {
	b    []byte
	off  int
	base int64 // file offset of b[0]
	bad  bool
}

func (c *cursor) need(n int) bool {
	if c.bad || n < 0 || len(c.b)-c.off < n {
		c.bad = true
		return false
	}
	return true
}

func (c *cursor) u32() uint32 {
	if !c.need(4) {
		return 0
	}
	v := ne.Uint32(c.b[c.off:])
	c.off += 4
	return v
}

func (c *cursor) u64() uint64 {
	if !c.need(8) {
		return 0
	}
	v := ne.Uint64(c.b[c.off:])
	c.off += 8
	return v
}

func (c *cursor) bytes(n int) []byte {
	if !c.need(n) {
		return nil
	}
	v := c.b[c.off : c.off+n]
	c.off += n
	return v
}

// str reads a perf header string: a u32 length, then that many bytes, the
// string NUL-terminated and padded.
func (c *cursor) str() string {
	n := c.u32()
	if uint64(n) > uint64(len(c.b)) {
		c.bad = true
		return ""
	}
	return cstring(c.bytes(int(n)))
}

func (c *cursor) where() int64 { return c.base + int64(c.off) }

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseFeature fills h from the section of feature f, whose bytes are b
// starting at file offset base.
func (h *Header) parseFeature(f Feature, b []byte, base int64) error {
	c := &cursor{b: b, base: base}
	switch f {
	case FeatHostname:
		h.Hostname = c.str()
	case FeatOSRelease:
		h.OSRelease = c.str()
	case FeatVersion:
		h.PerfVersion = c.str()
	case FeatArch:
		h.Arch = c.str()
	case FeatCPUDesc:
		h.CPUDesc = c.str()
	case FeatCPUID:
		h.CPUID = c.str()
	case FeatNrCPUs:
		h.NrCPUsAvail, h.NrCPUsOnline = c.u32(), c.u32()
	case FeatTotalMem:
		h.TotalMemKB = c.u64()
	case FeatCmdline:
		n := c.u32()
		if uint64(n) > uint64(len(b))/4 {
			return formatErr(base, "command line of %d strings in %d bytes", n, len(b))
		}
		h.Cmdline = make([]string, 0, n)
		for i := uint32(0); i < n && !c.bad; i++ {
			h.Cmdline = append(h.Cmdline, c.str())
		}
	case FeatEventDesc:
		return h.parseEventDesc(c)
	case FeatBuildID:
		return h.parseBuildIDs(c)
	case FeatSampleTime:
		h.FirstSample, h.LastSample = c.u64(), c.u64()
	case FeatClockID:
		h.ClockID, h.HasClockID = int32(c.u64()), true
	case FeatClockData:
		cd := &ClockData{}
		if c.u32() != 1 { // version
			return nil // a later layout: ignore it
		}
		cd.ClockID, cd.WallNanos, cd.ClockNs = c.u32(), c.u64(), c.u64()
		if !c.bad {
			h.ClockData = cd
		}
	case FeatBPFProgInfo:
		return h.parseBPFProgInfo(c)
	case FeatBPFBTF:
		return h.parseBTF(c)
	default:
		return nil
	}
	if c.bad {
		return formatErr(c.where(), "%s section of %d bytes is cut short", f, len(b))
	}
	return nil
}

// parseEventDesc reads the event description section: names for the
// events, matched to them by their ids.
func (h *Header) parseEventDesc(c *cursor) error {
	n, sz := c.u32(), c.u32()
	if c.bad || sz < attrSizeVer0 || uint64(n)*uint64(sz) > uint64(len(c.b)) {
		return formatErr(c.base, "event description of %d events of %d bytes in %d bytes", n, sz, len(c.b))
	}
	for i := uint32(0); i < n; i++ {
		c.bytes(int(sz)) // the attr: the attrs section has it
		nids := c.u32()
		name := c.str()
		if c.bad || uint64(nids) > uint64(len(c.b)-c.off)/8 {
			return formatErr(c.where(), "event description %d is cut short", i)
		}
		ids := make([]uint64, nids)
		for j := range ids {
			ids[j] = c.u64()
		}
		if ev := h.eventByIDs(ids, int(i)); ev != nil {
			ev.Name = name
		}
	}
	return nil
}

// eventByIDs finds the event with one of ids, else the i-th if ids is
// empty.
func (h *Header) eventByIDs(ids []uint64, i int) *Event {
	for _, ev := range h.Events {
		for _, a := range ev.IDs {
			for _, b := range ids {
				if a == b {
					return ev
				}
			}
		}
	}
	if len(ids) == 0 && i >= 0 && i < len(h.Events) {
		return h.Events[i]
	}
	return nil
}

// parseBuildIDs reads struct perf_record_header_build_id records.
func (h *Header) parseBuildIDs(c *cursor) error {
	for c.off < len(c.b) {
		start := c.off
		if !c.need(8) {
			break
		}
		misc := ne.Uint16(c.b[c.off+4:])
		size := int(ne.Uint16(c.b[c.off+6:]))
		if size < 8+4+24 || size > len(c.b)-start {
			return formatErr(c.where(), "build ID record of %d bytes", size)
		}
		r := c.b[start : start+size]
		b := BuildID{PID: int32(ne.Uint32(r[8:]))}
		b.Kernel = misc&unix.PERF_RECORD_MISC_CPUMODE_MASK == unix.PERF_RECORD_MISC_KERNEL ||
			misc&unix.PERF_RECORD_MISC_CPUMODE_MASK == unix.PERF_RECORD_MISC_GUEST_KERNEL
		n := 20
		if misc&buildIDSizeFlag != 0 {
			n = min(int(r[12+20]), 20)
		}
		b.ID = bytes.Clone(r[12 : 12+n])
		b.Path = cstring(r[12+24:])
		h.BuildIDs = append(h.BuildIDs, b)
		c.off = start + size
	}
	if c.bad {
		return formatErr(c.where(), "build ID section is cut short")
	}
	return nil
}

// parseBTF reads the BPF BTF section: u32 count, then per BTF object a u32
// id, a u32 size and the raw BTF.
func (h *Header) parseBTF(c *cursor) error {
	n := c.u32()
	if uint64(n) > uint64(len(c.b))/8 {
		return formatErr(c.base, "%d BTF objects in %d bytes", n, len(c.b))
	}
	if h.BTF == nil {
		h.BTF = map[uint32][]byte{}
	}
	for i := uint32(0); i < n; i++ {
		id, size := c.u32(), c.u32()
		data := c.bytes(int(size))
		if c.bad {
			return formatErr(c.where(), "BTF object %d (id %d, %d bytes) is cut short", i, id, size)
		}
		h.BTF[id] = bytes.Clone(data)
	}
	return nil
}
