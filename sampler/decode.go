package sampler

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/perfabi"
)

// ErrMalformed means a record's bytes do not fit its type or the format its
// event asked for. Decode wraps it with the record type and what was wrong.
var ErrMalformed = errors.New("malformed perf record")

// ne is the byte order of perf records: the kernel writes them in the
// machine's own.
var ne = binary.NativeEndian

// Format says which fields the records of a ring carry: what the
// perf_event_attr of its events asked for. Every event writing to one ring
// must use the same SampleType, ReadFormat and SampleIDAll, as Open does.
type Format struct {
	// SampleType holds the PERF_SAMPLE_* bits. Decode reads the fields up to
	// and including PERF_SAMPLE_CALLCHAIN (and skips PERF_SAMPLE_RAW); later
	// ones are ignored.
	SampleType uint64
	// ReadFormat holds the PERF_FORMAT_* bits of PERF_SAMPLE_READ.
	ReadFormat uint64
	// SampleIDAll says side-band records end with struct sample_id.
	SampleIDAll bool
	// EventIDs maps the kernel's event ids (PERF_SAMPLE_IDENTIFIER or
	// PERF_SAMPLE_ID) to indexes in Options.Events. When it is empty every
	// sample has Event 0; otherwise a sample with an unknown id is an error.
	EventIDs map[uint64]int
}

// Decoder turns raw perf records into typed records. It reuses one value of
// each record type and one callchain buffer, so decoding a sample allocates
// nothing; a returned record is valid until the next call to Decode.
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	f      Format
	ids    map[uint64]int
	idSize int // bytes of struct sample_id at the end of side-band records

	// Offsets of the time field, or -1 when absent: in a sample from its
	// start, in a side-band record from the start of its sample_id.
	sampleTimeOff int
	idTimeOff     int

	sample      Sample
	mmap2       Mmap2
	comm        Comm
	fork        Fork
	exit        Exit
	lost        Lost
	lostSamples LostSamples
	throttle    Throttle
	ksym        KSymbol
	bpf         BPFEvent

	chain    []uint64
	counters []Counter
	buildID  [20]byte
}

// NewDecoder returns a Decoder for records written in format f.
func NewDecoder(f Format) *Decoder {
	d := &Decoder{f: f, ids: make(map[uint64]int, len(f.EventIDs)), chain: make([]uint64, 0, 2*unix.PERF_MAX_STACK_DEPTH)}
	for id, ev := range f.EventIDs {
		d.ids[id] = ev
	}
	st := f.SampleType
	d.sampleTimeOff = -1
	if st&unix.PERF_SAMPLE_TIME != 0 {
		off := perfabi.HeaderSize
		for _, bit := range []uint64{unix.PERF_SAMPLE_IDENTIFIER, unix.PERF_SAMPLE_IP, unix.PERF_SAMPLE_TID} {
			if st&bit != 0 {
				off += 8
			}
		}
		d.sampleTimeOff = off
	}
	d.idTimeOff = -1
	if f.SampleIDAll {
		for _, bit := range []uint64{unix.PERF_SAMPLE_TID, unix.PERF_SAMPLE_TIME, unix.PERF_SAMPLE_ID,
			unix.PERF_SAMPLE_STREAM_ID, unix.PERF_SAMPLE_CPU, unix.PERF_SAMPLE_IDENTIFIER} {
			if st&bit == 0 {
				continue
			}
			if bit == unix.PERF_SAMPLE_TIME {
				d.idTimeOff = d.idSize
			}
			d.idSize += 8
		}
	}
	return d
}

// Time returns a record's timestamp without decoding it, for merging rings
// in time order. ok is false when the record carries no time or is too
// short to hold it.
func (d *Decoder) Time(raw []byte) (t uint64, ok bool) {
	if len(raw) < perfabi.HeaderSize {
		return 0, false
	}
	if ne.Uint32(raw) == unix.PERF_RECORD_SAMPLE {
		if d.sampleTimeOff < 0 || len(raw) < d.sampleTimeOff+8 {
			return 0, false
		}
		return ne.Uint64(raw[d.sampleTimeOff:]), true
	}
	if d.idTimeOff < 0 {
		return 0, false
	}
	start, ok := d.idStart(raw)
	if !ok {
		return 0, false
	}
	return ne.Uint64(raw[start+d.idTimeOff:]), true
}

// Sizes of the fixed bodies of the records whose sample_id is found from
// the front (see idStart).
const (
	ksymbolFixed  = 8 + 4 + 2 + 2 // addr, len, ksym_type, flags
	bpfEventFixed = 2 + 2 + 4 + 8 // type, flags, id, tag
)

// SampleID returns where struct sample_id lies in the side-band record raw:
// raw[start:end]. For a KSYMBOL or BPF_EVENT record that is right after its
// body, wherever the record ends (see idStart). ok is false when the
// format has no sample_id or raw is too short to hold it.
func (d *Decoder) SampleID(raw []byte) (start, end int, ok bool) {
	if d.idSize == 0 {
		return 0, 0, false
	}
	start, ok = d.idStart(raw)
	return start, start + d.idSize, ok
}

// idStart returns the offset of struct sample_id in a side-band record.
//
// It normally ends the record. But the kernel fills one KSYMBOL or
// BPF_EVENT record for every side-band listener on a CPU and adds the
// listener's id_header_size to the shared header each time without
// restoring it (perf_event_ksymbol_output, perf_event_bpf_output; the COMM
// and MMAP outputs do restore it). With several perf sessions running, those
// records come with stale bytes after their real end, so their sample_id is
// found right after the body: a KSYMBOL's name is NUL-terminated and padded
// to 8 bytes, a BPF_EVENT's body has a fixed size.
func (d *Decoder) idStart(raw []byte) (int, bool) {
	end := len(raw) - d.idSize
	if end < perfabi.HeaderSize {
		return 0, false
	}
	switch ne.Uint32(raw) {
	case unix.PERF_RECORD_KSYMBOL:
		name := perfabi.HeaderSize + ksymbolFixed
		if name > end {
			return 0, false
		}
		n := bytes.IndexByte(raw[name:end], 0)
		if n < 0 {
			return 0, false
		}
		if start := name + (n+8)&^7; start <= end {
			return start, true
		}
		return 0, false
	case unix.PERF_RECORD_BPF_EVENT:
		if perfabi.HeaderSize+bpfEventFixed > end {
			return 0, false
		}
		return perfabi.HeaderSize + bpfEventFixed, true
	}
	return end, true
}

// reader reads native-endian fields from a byte slice and remembers the
// first overrun instead of panicking.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) u64() uint64 {
	if r.bad || len(r.b)-r.off < 8 {
		r.bad = true
		return 0
	}
	v := ne.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) u32() uint32 {
	if r.bad || len(r.b)-r.off < 4 {
		r.bad = true
		return 0
	}
	v := ne.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u16() uint16 {
	if r.bad || len(r.b)-r.off < 2 {
		r.bad = true
		return 0
	}
	v := ne.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || len(r.b)-r.off < n {
		r.bad = true
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// cstring returns what is left, up to the first NUL, as a string: the
// NUL-padded names of COMM, MMAP2 and KSYMBOL records.
func (r *reader) cstring() string {
	if r.bad {
		return ""
	}
	b := r.b[r.off:]
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	r.off = len(r.b)
	return string(b)
}

func malformed(typ uint32, size int, what string) error {
	return fmt.Errorf("%w: type %d, %d bytes: %s", ErrMalformed, typ, size, what)
}

// Decode decodes one whole record, perf_event_header included, read from
// the ring of cpu. It returns nil and no error for record types it does not
// decode (PERF_RECORD_READ, SWITCH, NAMESPACES, ...), and nil and an error
// wrapping ErrMalformed for bytes that do not fit the format. raw is not
// kept, and not modified.
func (d *Decoder) Decode(cpu uint32, raw []byte) (Record, error) {
	if len(raw) < perfabi.HeaderSize {
		return nil, malformed(0, len(raw), "shorter than perf_event_header")
	}
	typ := ne.Uint32(raw)
	misc := ne.Uint16(raw[4:])
	size := int(ne.Uint16(raw[6:]))
	if size != len(raw) {
		return nil, malformed(typ, len(raw), fmt.Sprintf("header says %d bytes", size))
	}
	if typ == unix.PERF_RECORD_SAMPLE {
		return d.decodeSample(cpu, misc, raw)
	}

	var c Common
	c.CPU = cpu
	body := raw[perfabi.HeaderSize:]
	if d.f.SampleIDAll {
		start, ok := d.idStart(raw)
		if !ok {
			return nil, malformed(typ, len(raw), "too short for sample_id")
		}
		d.sampleID(&c, raw[start:start+d.idSize])
		body = raw[perfabi.HeaderSize:start]
	}
	r := reader{b: body}

	var rec Record
	switch typ {
	case unix.PERF_RECORD_MMAP2:
		m := &d.mmap2
		*m = Mmap2{Common: c}
		m.PID, m.TID = r.u32(), r.u32()
		m.Addr, m.Len, m.PgOff = r.u64(), r.u64(), r.u64()
		if misc&unix.PERF_RECORD_MISC_MMAP_BUILD_ID != 0 {
			id := r.bytes(24)
			if id != nil {
				n := min(int(id[0]), len(d.buildID))
				m.BuildID = d.buildID[:copy(d.buildID[:], id[4:4+n])]
			}
		} else {
			m.Maj, m.Min = r.u32(), r.u32()
			m.Ino, m.InoGeneration = r.u64(), r.u64()
		}
		m.Prot, m.Flags = r.u32(), r.u32()
		if !r.bad {
			m.Filename = r.cstring()
		}
		rec = m
	case unix.PERF_RECORD_COMM:
		m := &d.comm
		*m = Comm{Common: c}
		m.PID, m.TID = r.u32(), r.u32()
		if !r.bad {
			m.Comm = r.cstring()
		}
		m.Exec = misc&unix.PERF_RECORD_MISC_COMM_EXEC != 0
		rec = m
	case unix.PERF_RECORD_FORK, unix.PERF_RECORD_EXIT:
		pid, ppid, tid, ptid := r.u32(), r.u32(), r.u32(), r.u32()
		t := r.u64()
		if c.Time == 0 {
			c.Time = t
		}
		if typ == unix.PERF_RECORD_FORK {
			d.fork = Fork{Common: c, PID: pid, PPID: ppid, TID: tid, PTID: ptid}
			rec = &d.fork
		} else {
			d.exit = Exit{Common: c, PID: pid, PPID: ppid, TID: tid, PTID: ptid}
			rec = &d.exit
		}
	case unix.PERF_RECORD_LOST:
		_ = r.u64() // id of the event whose records were lost
		d.lost = Lost{Common: c, Lost: r.u64()}
		rec = &d.lost
	case unix.PERF_RECORD_LOST_SAMPLES:
		d.lostSamples = LostSamples{Common: c, Lost: r.u64()}
		rec = &d.lostSamples
	case unix.PERF_RECORD_THROTTLE, unix.PERF_RECORD_UNTHROTTLE:
		t := r.u64()
		_, _ = r.u64(), r.u64() // id, stream_id
		if c.Time == 0 {
			c.Time = t
		}
		d.throttle = Throttle{Common: c, Unthrottle: typ == unix.PERF_RECORD_UNTHROTTLE}
		rec = &d.throttle
	case unix.PERF_RECORD_KSYMBOL:
		k := &d.ksym
		*k = KSymbol{Common: c}
		k.Addr, k.Len = r.u64(), r.u32()
		k.Type = KSymbolType(r.u16())
		k.Unregister = r.u16()&unix.PERF_RECORD_KSYMBOL_FLAGS_UNREGISTER != 0
		if !r.bad {
			k.Name = r.cstring()
		}
		rec = k
	case unix.PERF_RECORD_BPF_EVENT:
		b := &d.bpf
		*b = BPFEvent{Common: c}
		b.Type = BPFEventType(r.u16())
		b.Flags = r.u16()
		b.ProgID = r.u32()
		if tag := r.bytes(len(b.Tag)); tag != nil {
			copy(b.Tag[:], tag)
		}
		rec = b
	default:
		return nil, nil
	}
	if r.bad {
		return nil, malformed(typ, len(raw), "body too short")
	}
	return rec, nil
}

// sampleID reads struct sample_id, the trailer of side-band records.
func (d *Decoder) sampleID(c *Common, b []byte) {
	r := reader{b: b}
	st := d.f.SampleType
	if st&unix.PERF_SAMPLE_TID != 0 {
		r.u64()
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		c.Time = r.u64()
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		r.u64()
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		r.u64()
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		c.CPU = r.u32()
	}
}

func (d *Decoder) decodeSample(cpu uint32, misc uint16, raw []byte) (Record, error) {
	st := d.f.SampleType
	r := reader{b: raw, off: perfabi.HeaderSize}
	s := &d.sample
	*s = Sample{Common: Common{CPU: cpu}}
	var id uint64
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		id = r.u64()
	}
	if st&unix.PERF_SAMPLE_IP != 0 {
		s.IP = r.u64()
	}
	if st&unix.PERF_SAMPLE_TID != 0 {
		s.PID, s.TID = r.u32(), r.u32()
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		s.Time = r.u64()
	}
	if st&unix.PERF_SAMPLE_ADDR != 0 {
		r.u64()
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		id = r.u64()
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		r.u64()
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		s.CPU = r.u32()
		r.u32()
	}
	if st&unix.PERF_SAMPLE_PERIOD != 0 {
		s.Period = r.u64()
	}
	if len(d.ids) > 0 {
		ev, ok := d.ids[id]
		if !ok {
			return nil, malformed(unix.PERF_RECORD_SAMPLE, len(raw), fmt.Sprintf("unknown event id %d", id))
		}
		s.Event = ev
	}
	if st&unix.PERF_SAMPLE_READ != 0 && !d.readValues(&r) {
		return nil, malformed(unix.PERF_RECORD_SAMPLE, len(raw), "bad read_format values")
	}
	if st&unix.PERF_SAMPLE_CALLCHAIN != 0 {
		nr := r.u64()
		if r.bad || nr > uint64(len(raw)-r.off)/8 {
			return nil, malformed(unix.PERF_RECORD_SAMPLE, len(raw), "callchain longer than the record")
		}
		ips := raw[r.off : r.off+int(nr)*8]
		r.off += int(nr) * 8
		d.splitCallchain(s, misc, ips)
	}
	if st&unix.PERF_SAMPLE_RAW != 0 {
		n := r.u32()
		r.bytes(int(n))
	}
	if r.bad {
		return nil, malformed(unix.PERF_RECORD_SAMPLE, len(raw), "body too short")
	}
	return s, nil
}

// readValues reads struct read_format into d.counters.
func (d *Decoder) readValues(r *reader) bool {
	rf := d.f.ReadFormat
	nr := uint64(1)
	if rf&unix.PERF_FORMAT_GROUP != 0 {
		nr = r.u64()
	}
	var value uint64
	if rf&unix.PERF_FORMAT_GROUP == 0 {
		value = r.u64()
	}
	if rf&unix.PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
		r.u64()
	}
	if rf&unix.PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
		r.u64()
	}
	if r.bad || nr > uint64(len(r.b)-r.off)/8 {
		return false
	}
	d.counters = d.counters[:0]
	for i := uint64(0); i < nr; i++ {
		if rf&unix.PERF_FORMAT_GROUP != 0 {
			value = r.u64()
		}
		var id uint64
		if rf&unix.PERF_FORMAT_ID != 0 {
			id = r.u64()
		}
		if rf&unix.PERF_FORMAT_LOST != 0 {
			r.u64()
		}
		ev, ok := d.ids[id]
		if !ok {
			ev = -1
		}
		d.counters = append(d.counters, Counter{ID: id, Event: ev, Value: value})
		if r.bad {
			return false
		}
	}
	d.sample.Counters = d.counters
	return true
}

// splitCallchain copies ips into d.chain and points s.Kernel and s.User at
// their parts, dropping perf's context markers. Frames before the first
// marker belong to the context of the sample itself (misc's cpumode).
// Kernel frames fill d.chain from the start, user frames from its middle,
// so one pass keeps both in order whatever the order of the contexts.
func (d *Decoder) splitCallchain(s *Sample, misc uint16, ips []byte) {
	n := len(ips) / 8
	if cap(d.chain) < 2*n {
		d.chain = make([]uint64, 0, 2*n)
	}
	kern := d.chain[:n:n]
	user := d.chain[n : 2*n : 2*n]
	ctx := ctxOther
	switch misc & unix.PERF_RECORD_MISC_CPUMODE_MASK {
	case unix.PERF_RECORD_MISC_KERNEL:
		ctx = ctxKernel
	case unix.PERF_RECORD_MISC_USER:
		ctx = ctxUser
	}
	nk, nu := 0, 0
	for ; len(ips) >= 8; ips = ips[8:] {
		ip := ne.Uint64(ips)
		switch {
		case ip >= perfabi.ContextMax:
			ctx = contextOf(ip)
		case ctx == ctxKernel:
			kern[nk] = ip
			nk++
		case ctx == ctxUser:
			user[nu] = ip
			nu++
		}
	}
	s.Kernel = kern[:nk:nk]
	s.User = user[:nu:nu]
}

const (
	ctxOther = iota // hypervisor and guest frames: dropped
	ctxKernel
	ctxUser
)

func contextOf(marker uint64) int {
	switch marker {
	case perfabi.ContextKernel:
		return ctxKernel
	case perfabi.ContextUser:
		return ctxUser
	}
	return ctxOther
}
