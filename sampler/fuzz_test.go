package sampler

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/perfabi"
)

func seedRecords() [][]byte {
	return [][]byte{
		sampleRecord(100, 0xffffffff81000010, 42, 43, 1000, 1, 250000, perfabi.ContextKernel, 0xffffffff81000010, perfabi.ContextUser, 0x401000),
		sampleRecord(200, 0x401000, 1, 1, 1, 0, 1),
		record(unix.PERF_RECORD_MMAP2, 0, (&rec{}).u32(7, 8).u64(0x400000, 0x1000, 0).u32(8, 1).u64(1234, 5).u32(5, 2).
			str("/usr/bin/true").sampleID(7, 8, 2000, 1, 100)),
		record(unix.PERF_RECORD_MMAP2, unix.PERF_RECORD_MISC_MMAP_BUILD_ID, (&rec{}).u32(7, 8).u64(0x400000, 0x1000, 0x2000).
			raw([]byte{20, 0, 0, 0}).raw(make([]byte, 20)).u32(5, 2).str("/lib/libc.so.6").sampleID(7, 8, 2000, 1, 100)),
		record(unix.PERF_RECORD_COMM, unix.PERF_RECORD_MISC_COMM_EXEC, (&rec{}).u32(9, 9).str("bash").sampleID(9, 9, 3000, 0, 100)),
		record(unix.PERF_RECORD_FORK, 0, (&rec{}).u32(10, 9, 11, 9).u64(3999).sampleID(10, 11, 4000, 1, 100)),
		record(unix.PERF_RECORD_EXIT, 0, (&rec{}).u32(10, 9, 11, 9).u64(4999).sampleID(10, 11, 5000, 1, 100)),
		lostRecord(6000, 1, 17),
		record(unix.PERF_RECORD_LOST_SAMPLES, 0, (&rec{}).u64(3).sampleID(0, 0, 6500, 0, 100)),
		record(unix.PERF_RECORD_THROTTLE, 0, (&rec{}).u64(7000, 100, 100).sampleID(0, 0, 7000, 1, 100)),
		ksymbolRecord(8000, 0, 0xffffffffc0001000, 0x120, false, "bpf_prog_0123456789abcdef_hot"),
		record(unix.PERF_RECORD_BPF_EVENT, 0, (&rec{}).u16(uint16(BPFEventProgLoad), 0).u32(77).
			raw([]byte{1, 2, 3, 4, 5, 6, 7, 8}).sampleID(0, 0, 8001, 0, 100)),
	}
}

// FuzzDecode feeds arbitrary bytes, in arbitrary formats, to the decoder: it
// must never panic, and an error comes with no record.
func FuzzDecode(f *testing.F) {
	for _, raw := range seedRecords() {
		f.Add(testFormat.SampleType, uint64(0), true, raw)
	}
	f.Add(uint64(unix.PERF_SAMPLE_IDENTIFIER|unix.PERF_SAMPLE_READ|unix.PERF_SAMPLE_CALLCHAIN|unix.PERF_SAMPLE_RAW),
		uint64(unix.PERF_FORMAT_GROUP|unix.PERF_FORMAT_ID|unix.PERF_FORMAT_LOST), false,
		record(unix.PERF_RECORD_SAMPLE, 0, (&rec{}).u64(100, 2, 55, 100, 0, 66, 200, 0, 1, perfabi.ContextUser).u32(4).u32(0)))
	f.Fuzz(func(t *testing.T, sampleType, readFormat uint64, idAll bool, raw []byte) {
		d := NewDecoder(Format{SampleType: sampleType, ReadFormat: readFormat, SampleIDAll: idAll, EventIDs: testFormat.EventIDs})
		d.Time(raw)
		r, err := d.Decode(3, raw)
		if err != nil && r != nil {
			t.Fatalf("error %v with record %#v", err, r)
		}
		if s, ok := r.(*Sample); ok && len(s.Kernel)+len(s.User) > len(raw)/8 {
			t.Fatalf("callchain of %d+%d frames from %d bytes", len(s.Kernel), len(s.User), len(raw))
		}
	})
}

// FuzzRing writes arbitrary bytes into a fake ring at an arbitrary position
// and reads them: no panic, and the ring always ends the round drained.
func FuzzRing(f *testing.F) {
	var all []byte
	for _, raw := range seedRecords() {
		all = append(all, raw...)
	}
	f.Add(uint64(0), all[:512])
	f.Add(uint64(512-24), all[:512])
	f.Fuzz(func(t *testing.T, start uint64, data []byte) {
		fr := newFakeRing(512)
		fr.start(start)
		if len(data) > len(fr.data) {
			data = data[:len(fr.data)]
		}
		fr.write(data)
		m, _ := newTestMerger(fr.ring(0))
		m.round(HandlerFunc(func(Record) {}))
		if fr.page.DataTail != fr.page.DataHead {
			t.Fatalf("tail %d, head %d after a round", fr.page.DataTail, fr.page.DataHead)
		}
	})
}
