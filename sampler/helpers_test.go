package sampler

import (
	"encoding/binary"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/perfabi"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(m)) }

// testFormat is what Open asks for with CallGraph, and two events.
var testFormat = Format{
	SampleType: unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_TID |
		unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_CPU | unix.PERF_SAMPLE_PERIOD | unix.PERF_SAMPLE_CALLCHAIN,
	SampleIDAll: true,
	EventIDs:    map[uint64]int{100: 0, 200: 1},
}

// rec builds records field by field, in native byte order.
type rec struct{ b []byte }

func (r *rec) u64(vs ...uint64) *rec {
	for _, v := range vs {
		r.b = binary.NativeEndian.AppendUint64(r.b, v)
	}
	return r
}

func (r *rec) u32(vs ...uint32) *rec {
	for _, v := range vs {
		r.b = binary.NativeEndian.AppendUint32(r.b, v)
	}
	return r
}

func (r *rec) u16(vs ...uint16) *rec {
	for _, v := range vs {
		r.b = binary.NativeEndian.AppendUint16(r.b, v)
	}
	return r
}

func (r *rec) raw(b []byte) *rec { r.b = append(r.b, b...); return r }

// str appends s NUL-terminated and padded to 8 bytes, as the kernel does.
func (r *rec) str(s string) *rec {
	r.b = append(r.b, s...)
	r.b = append(r.b, 0)
	for len(r.b)%8 != 0 {
		r.b = append(r.b, 0)
	}
	return r
}

// sampleID appends the sample_id trailer of testFormat.
func (r *rec) sampleID(pid, tid uint32, time uint64, cpu uint32, id uint64) *rec {
	return r.u32(pid, tid).u64(time).u32(cpu, 0).u64(id)
}

// record prepends a perf_event_header to body.
func record(typ uint32, misc uint16, body *rec) []byte {
	out := &rec{}
	out.u32(typ).u16(misc, uint16(perfabi.HeaderSize+len(body.b)))
	return append(out.b, body.b...)
}

// sampleRecord builds a PERF_RECORD_SAMPLE in testFormat.
func sampleRecord(id, ip uint64, pid, tid uint32, time uint64, cpu uint32, period uint64, chain ...uint64) []byte {
	b := (&rec{}).u64(id, ip).u32(pid, tid).u64(time).u32(cpu, 0).u64(period)
	b.u64(uint64(len(chain))).u64(chain...)
	return record(unix.PERF_RECORD_SAMPLE, unix.PERF_RECORD_MISC_KERNEL, b)
}

func ksymbolRecord(time uint64, cpu uint32, addr uint64, length uint32, unregister bool, name string) []byte {
	var flags uint16
	if unregister {
		flags = unix.PERF_RECORD_KSYMBOL_FLAGS_UNREGISTER
	}
	b := (&rec{}).u64(addr).u32(length).u16(uint16(KSymbolBPF), flags).str(name).sampleID(0, 0, time, cpu, 0)
	return record(unix.PERF_RECORD_KSYMBOL, 0, b)
}

func lostRecord(time uint64, cpu uint32, lost uint64) []byte {
	return record(unix.PERF_RECORD_LOST, 0, (&rec{}).u64(100, lost).sampleID(0, 0, time, cpu, 100))
}

// fakeRing is a ring buffer in ordinary memory: a control page laid out as
// the kernel's and a data area, written like the kernel writes.
type fakeRing struct {
	page perfabi.MmapPage
	data []byte
}

func newFakeRing(size int) *fakeRing {
	return &fakeRing{data: make([]byte, size)}
}

// start puts head and tail at pos, as if pos bytes had been written and read.
func (f *fakeRing) start(pos uint64) {
	f.page.DataHead, f.page.DataTail = pos, pos
}

// write appends records at data_head, wrapping around the end.
func (f *fakeRing) write(recs ...[]byte) {
	for _, r := range recs {
		for i, c := range r {
			f.data[(f.page.DataHead+uint64(i))%uint64(len(f.data))] = c
		}
		f.page.DataHead += uint64(len(r))
	}
}

func (f *fakeRing) ring(cpu uint32) *ring {
	return newRing(cpu, &f.page, f.data)
}

// collect keeps copies of delivered records, in order.
type collect struct {
	recs []Record
}

func (c *collect) HandleRecord(r Record) { c.recs = append(c.recs, clone(r)) }

// clone copies a record out of the decoder's reused values.
func clone(r Record) Record {
	switch r := r.(type) {
	case *Sample:
		s := *r
		s.Kernel = append([]uint64(nil), r.Kernel...)
		s.User = append([]uint64(nil), r.User...)
		s.Counters = append([]Counter(nil), r.Counters...)
		return &s
	case *Mmap2:
		m := *r
		m.BuildID = append([]byte(nil), r.BuildID...)
		return &m
	case *Comm:
		c := *r
		return &c
	case *Fork:
		c := *r
		return &c
	case *Exit:
		c := *r
		return &c
	case *Lost:
		c := *r
		return &c
	case *LostSamples:
		c := *r
		return &c
	case *Throttle:
		c := *r
		return &c
	case *KSymbol:
		c := *r
		return &c
	case *BPFEvent:
		c := *r
		return &c
	}
	panic("unknown record type")
}
