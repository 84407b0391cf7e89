package sampler

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/perfabi"
)

func TestDecode(t *testing.T) {
	k, u := perfabi.ContextKernel, perfabi.ContextUser
	buildID := []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	for _, c := range []struct {
		name string
		raw  []byte
		want Record
	}{
		{
			name: "sample with kernel and user callchain",
			raw:  sampleRecord(200, 0xffffffff81000010, 42, 43, 1000, 1, 250000, k, 0xffffffff81000010, 0xffffffff81000020, u, 0x401000, 0x402000),
			want: &Sample{Common: Common{Time: 1000, CPU: 1}, IP: 0xffffffff81000010, PID: 42, TID: 43, Period: 250000,
				Kernel: []uint64{0xffffffff81000010, 0xffffffff81000020}, User: []uint64{0x401000, 0x402000}, Event: 1},
		},
		{
			name: "sample with user callchain only",
			raw:  sampleRecord(100, 0x401000, 42, 43, 1000, 0, 1, u, 0x401000),
			want: &Sample{Common: Common{Time: 1000}, IP: 0x401000, PID: 42, TID: 43, Period: 1,
				Kernel: []uint64{}, User: []uint64{0x401000}},
		},
		{
			name: "sample with frames before any marker, guest frames dropped",
			raw:  sampleRecord(100, 0xffffffff81000010, 1, 1, 5, 0, 1, 0xffffffff81000010, perfabi.ContextGuest, 0x1234, u, 0x401000),
			want: &Sample{Common: Common{Time: 5}, IP: 0xffffffff81000010, PID: 1, TID: 1, Period: 1,
				Kernel: []uint64{0xffffffff81000010}, User: []uint64{0x401000}},
		},
		{
			name: "mmap2",
			raw: record(unix.PERF_RECORD_MMAP2, 0, (&rec{}).u32(7, 8).u64(0x400000, 0x1000, 0).u32(8, 1).u64(1234, 5).u32(5, 2).
				str("/usr/bin/true").sampleID(7, 8, 2000, 1, 100)),
			want: &Mmap2{Common: Common{Time: 2000, CPU: 1}, PID: 7, TID: 8, Addr: 0x400000, Len: 0x1000, Maj: 8, Min: 1,
				Ino: 1234, InoGeneration: 5, Prot: 5, Flags: 2, Filename: "/usr/bin/true"},
		},
		{
			name: "mmap2 with build id",
			raw: record(unix.PERF_RECORD_MMAP2, unix.PERF_RECORD_MISC_MMAP_BUILD_ID, (&rec{}).u32(7, 8).u64(0x400000, 0x1000, 0x2000).
				raw([]byte{20, 0, 0, 0}).raw(buildID).u32(5, 2).str("/lib/libc.so.6").sampleID(7, 8, 2000, 1, 100)),
			want: &Mmap2{Common: Common{Time: 2000, CPU: 1}, PID: 7, TID: 8, Addr: 0x400000, Len: 0x1000, PgOff: 0x2000,
				BuildID: buildID, Prot: 5, Flags: 2, Filename: "/lib/libc.so.6"},
		},
		{
			name: "comm exec",
			raw:  record(unix.PERF_RECORD_COMM, unix.PERF_RECORD_MISC_COMM_EXEC, (&rec{}).u32(9, 9).str("bash").sampleID(9, 9, 3000, 0, 100)),
			want: &Comm{Common: Common{Time: 3000}, PID: 9, TID: 9, Comm: "bash", Exec: true},
		},
		{
			name: "fork",
			raw:  record(unix.PERF_RECORD_FORK, 0, (&rec{}).u32(10, 9, 11, 9).u64(3999).sampleID(10, 11, 4000, 1, 100)),
			want: &Fork{Common: Common{Time: 4000, CPU: 1}, PID: 10, PPID: 9, TID: 11, PTID: 9},
		},
		{
			name: "exit",
			raw:  record(unix.PERF_RECORD_EXIT, 0, (&rec{}).u32(10, 9, 11, 9).u64(4999).sampleID(10, 11, 5000, 1, 100)),
			want: &Exit{Common: Common{Time: 5000, CPU: 1}, PID: 10, PPID: 9, TID: 11, PTID: 9},
		},
		{
			name: "lost",
			raw:  lostRecord(6000, 1, 17),
			want: &Lost{Common: Common{Time: 6000, CPU: 1}, Lost: 17},
		},
		{
			name: "lost samples",
			raw:  record(unix.PERF_RECORD_LOST_SAMPLES, 0, (&rec{}).u64(3).sampleID(0, 0, 6500, 0, 100)),
			want: &LostSamples{Common: Common{Time: 6500}, Lost: 3},
		},
		{
			name: "throttle",
			raw:  record(unix.PERF_RECORD_THROTTLE, 0, (&rec{}).u64(7000, 100, 100).sampleID(0, 0, 7000, 1, 100)),
			want: &Throttle{Common: Common{Time: 7000, CPU: 1}},
		},
		{
			name: "unthrottle",
			raw:  record(unix.PERF_RECORD_UNTHROTTLE, 0, (&rec{}).u64(7100, 100, 100).sampleID(0, 0, 7100, 1, 100)),
			want: &Throttle{Common: Common{Time: 7100, CPU: 1}, Unthrottle: true},
		},
		{
			name: "ksymbol register",
			raw:  ksymbolRecord(8000, 0, 0xffffffffc0001000, 0x120, false, "bpf_prog_0123456789abcdef_hot"),
			want: &KSymbol{Common: Common{Time: 8000}, Addr: 0xffffffffc0001000, Len: 0x120, Type: KSymbolBPF,
				Name: "bpf_prog_0123456789abcdef_hot"},
		},
		{
			name: "ksymbol unregister",
			raw:  ksymbolRecord(9000, 1, 0xffffffffc0001000, 0x120, true, "bpf_prog_0123456789abcdef_hot"),
			want: &KSymbol{Common: Common{Time: 9000, CPU: 1}, Addr: 0xffffffffc0001000, Len: 0x120, Type: KSymbolBPF,
				Unregister: true, Name: "bpf_prog_0123456789abcdef_hot"},
		},
		{
			name: "bpf prog load",
			raw: record(unix.PERF_RECORD_BPF_EVENT, 0, (&rec{}).u16(uint16(BPFEventProgLoad), 0).u32(77).
				raw([]byte{1, 2, 3, 4, 5, 6, 7, 8}).sampleID(0, 0, 8001, 0, 100)),
			want: &BPFEvent{Common: Common{Time: 8001}, Type: BPFEventProgLoad, ProgID: 77, Tag: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		},
		{
			// The kernel grows a shared header once per side-band listener
			// (two more here), leaving stale bytes past the real record.
			name: "ksymbol inflated by other perf sessions",
			raw: record(unix.PERF_RECORD_KSYMBOL, 0, (&rec{}).u64(0xffffffffc0001000).u32(0x120).u16(uint16(KSymbolBPF), 0).
				str("bpf_prog_0123456789abcdef_hot").sampleID(0, 0, 8000, 1, 100).
				u64(0xffffffff81001234, 0xffffffff81005678, 0xffffffff81009abc, 0xffffffff8100def0, 0xffffffff81000001, 0xffffffff81000002)),
			want: &KSymbol{Common: Common{Time: 8000, CPU: 1}, Addr: 0xffffffffc0001000, Len: 0x120, Type: KSymbolBPF,
				Name: "bpf_prog_0123456789abcdef_hot"},
		},
		{
			name: "bpf prog load inflated by other perf sessions",
			raw: record(unix.PERF_RECORD_BPF_EVENT, 0, (&rec{}).u16(uint16(BPFEventProgLoad), 0).u32(77).
				raw([]byte{1, 2, 3, 4, 5, 6, 7, 8}).sampleID(0, 0, 8001, 1, 100).
				u64(0xffffffff81001234, 0xffffffff81005678, 0xffffffff81009abc)),
			want: &BPFEvent{Common: Common{Time: 8001, CPU: 1}, Type: BPFEventProgLoad, ProgID: 77, Tag: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		},
		{
			name: "bpf prog unload",
			raw: record(unix.PERF_RECORD_BPF_EVENT, 0, (&rec{}).u16(uint16(BPFEventProgUnload), 0).u32(77).
				raw([]byte{1, 2, 3, 4, 5, 6, 7, 8}).sampleID(0, 0, 9001, 0, 100)),
			want: &BPFEvent{Common: Common{Time: 9001}, Type: BPFEventProgUnload, ProgID: 77, Tag: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		},
		{
			name: "context switch is skipped",
			raw:  record(unix.PERF_RECORD_SWITCH, 0, (&rec{}).sampleID(1, 1, 1, 0, 100)),
			want: nil,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(testFormat)
			got, err := d.Decode(0, c.raw)
			if err != nil {
				t.Fatal(err)
			}
			if c.want == nil {
				if got != nil {
					t.Fatalf("got %#v, want nil", got)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %#v\nwant %#v", got, c.want)
			}
			if tm, ok := d.Time(c.raw); !ok || tm != c.want.common().Time {
				t.Errorf("Time = %d, %v; want %d", tm, ok, c.want.common().Time)
			}
		})
	}
}

// TestSampleID: a side-band record's sample_id is found where the kernel
// wrote it, at the end, or after the body of a KSYMBOL or BPF_EVENT record
// inflated by other perf sessions.
func TestSampleID(t *testing.T) {
	id := (&rec{}).sampleID(7, 8, 2000, 1, 100).b
	stale := (&rec{}).u64(0xffffffff81001234, 0xffffffff81005678).b
	for _, c := range []struct {
		name string
		raw  []byte
	}{
		{"comm", record(unix.PERF_RECORD_COMM, 0, (&rec{}).u32(7, 8).str("bash").raw(id))},
		{"ksymbol", record(unix.PERF_RECORD_KSYMBOL, 0, (&rec{}).u64(0xffffffffc0001000).u32(0x120).
			u16(uint16(KSymbolBPF), 0).str("bpf_prog_0123456789abcdef_hot").raw(id))},
		{"ksymbol inflated", record(unix.PERF_RECORD_KSYMBOL, 0, (&rec{}).u64(0xffffffffc0001000).u32(0x120).
			u16(uint16(KSymbolBPF), 0).str("bpf_prog_0123456789abcdef_hot").raw(id).raw(stale))},
		{"bpf event inflated", record(unix.PERF_RECORD_BPF_EVENT, 0, (&rec{}).u16(uint16(BPFEventProgLoad), 0).u32(77).
			raw([]byte{1, 2, 3, 4, 5, 6, 7, 8}).raw(id).raw(stale))},
	} {
		start, end, ok := NewDecoder(testFormat).SampleID(c.raw)
		if !ok || !bytes.Equal(c.raw[start:end], id) {
			t.Errorf("%s: SampleID = %d, %d, %v; want the sample_id's bytes", c.name, start, end, ok)
		}
	}
	if _, _, ok := NewDecoder(Format{SampleType: testFormat.SampleType}).SampleID(ksymbolRecord(1, 0, 1, 1, false, "x")); ok {
		t.Error("SampleID found a sample_id in a format without one")
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := sampleRecord(100, 1, 2, 3, 4, 0, 5, perfabi.ContextUser, 1)
	chainTooLong := append([]byte(nil), good...)
	binary := (&rec{}).u64(1000).b
	copy(chainTooLong[8+6*8:], binary) // nr = 1000
	for _, c := range []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"short header", []byte{9, 0, 0, 0}},
		{"size disagrees with length", good[:len(good)-8]},
		{"sample too short", record(unix.PERF_RECORD_SAMPLE, 0, (&rec{}).u64(100, 1))},
		{"callchain longer than record", chainTooLong},
		{"unknown event id", sampleRecord(999, 1, 2, 3, 4, 0, 5)},
		{"mmap2 without sample_id", record(unix.PERF_RECORD_MMAP2, 0, (&rec{}).u32(1, 1))},
		// Not a multiple of 8: padding the name would run past the end.
		{"ksymbol name padding past the end", record(unix.PERF_RECORD_KSYMBOL, 0, (&rec{}).u64(1).u32(2).u16(1, 0).
			raw([]byte("abcd\x00")).sampleID(0, 0, 1, 0, 100))},
		{"ksymbol body too short", record(unix.PERF_RECORD_KSYMBOL, 0, (&rec{}).u32(1).sampleID(0, 0, 1, 0, 100))},
		{"bpf event body too short", record(unix.PERF_RECORD_BPF_EVENT, 0, (&rec{}).u16(1, 0).sampleID(0, 0, 1, 0, 100))},
		{"lost body too short", record(unix.PERF_RECORD_LOST, 0, (&rec{}).u64(1).sampleID(0, 0, 1, 0, 100))},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := NewDecoder(testFormat).Decode(0, c.raw)
			if err == nil {
				t.Fatalf("no error, got %#v", got)
			}
			if got != nil {
				t.Errorf("error %v with a record %#v", err, got)
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
		})
	}
}

func TestDecodeRead(t *testing.T) {
	f := Format{
		SampleType: unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_READ | unix.PERF_SAMPLE_CALLCHAIN,
		ReadFormat: unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_ID | unix.PERF_FORMAT_TOTAL_TIME_ENABLED |
			unix.PERF_FORMAT_TOTAL_TIME_RUNNING | unix.PERF_FORMAT_LOST,
		EventIDs: map[uint64]int{100: 0, 200: 1},
	}
	// nr, time_enabled, time_running, {value, id, lost} × 2, then the callchain.
	body := (&rec{}).u64(100, 0x401000).u64(2, 1000, 900).u64(55, 100, 0).u64(66, 200, 0).u64(2, perfabi.ContextUser, 0x401000)
	got, err := NewDecoder(f).Decode(0, record(unix.PERF_RECORD_SAMPLE, unix.PERF_RECORD_MISC_USER, body))
	if err != nil {
		t.Fatal(err)
	}
	want := &Sample{IP: 0x401000, Kernel: []uint64{}, User: []uint64{0x401000},
		Counters: []Counter{{ID: 100, Event: 0, Value: 55}, {ID: 200, Event: 1, Value: 66}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}

	// Without PERF_FORMAT_GROUP: one value.
	f.ReadFormat = unix.PERF_FORMAT_ID
	body = (&rec{}).u64(200, 0x401000).u64(77, 200).u64(0)
	got, err = NewDecoder(f).Decode(0, record(unix.PERF_RECORD_SAMPLE, 0, body))
	if err != nil {
		t.Fatal(err)
	}
	if s := got.(*Sample); len(s.Counters) != 1 || s.Counters[0] != (Counter{ID: 200, Event: 1, Value: 77}) || s.Event != 1 {
		t.Errorf("got %#v", s)
	}
}

func TestDecodeWithoutSampleIDAll(t *testing.T) {
	f := testFormat
	f.SampleIDAll = false
	raw := record(unix.PERF_RECORD_FORK, 0, (&rec{}).u32(10, 9, 11, 9).u64(3999))
	got, err := NewDecoder(f).Decode(1, raw)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Fork{Common: Common{Time: 3999, CPU: 1}, PID: 10, PPID: 9, TID: 11, PTID: 9}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	if _, ok := NewDecoder(f).Time(raw); ok {
		t.Error("Time of a side-band record without sample_id_all reported ok")
	}
}

func TestDecodeSampleAllocs(t *testing.T) {
	d := NewDecoder(testFormat)
	chain := []uint64{perfabi.ContextKernel}
	for i := range 40 {
		chain = append(chain, 0xffffffff81000000+uint64(i))
	}
	chain = append(chain, perfabi.ContextUser)
	for i := range 40 {
		chain = append(chain, 0x400000+uint64(i))
	}
	raw := sampleRecord(100, 0xffffffff81000000, 1, 2, 3, 0, 4, chain...)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := d.Decode(0, raw); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Decode of a sample allocates %v times, want 0", allocs)
	}
}
