package sampler

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/perfabi"
)

func newTestMerger(rings ...*ring) (*merger, *counters) {
	var c counters
	return &merger{rings: rings, dec: NewDecoder(testFormat), stats: &c}, &c
}

func times(recs []Record) []uint64 {
	var ts []uint64
	for _, r := range recs {
		ts = append(ts, r.common().Time)
	}
	return ts
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRingReadsAndCommits(t *testing.T) {
	f := newFakeRing(4096)
	f.write(sampleRecord(100, 1, 1, 1, 10, 0, 1), lostRecord(20, 0, 5), sampleRecord(200, 2, 1, 1, 30, 0, 1))
	m, c := newTestMerger(f.ring(0))
	var got collect
	if n := m.round(&got); n != 3 {
		t.Fatalf("round delivered %d records, want 3", n)
	}
	if ts := times(got.recs); !equal(ts, []uint64{10, 20, 30}) {
		t.Errorf("times %v", ts)
	}
	if f.page.DataTail != f.page.DataHead {
		t.Errorf("data_tail %d after the round, want data_head %d", f.page.DataTail, f.page.DataHead)
	}
	st := c.snapshot()
	if st.Records != 3 || st.Samples != 2 || st.Lost != 5 || st.DecodeErrors != 0 {
		t.Errorf("stats %+v", st)
	}
	if s := got.recs[2].(*Sample); s.Event != 1 {
		t.Errorf("second sample's event %d, want 1", s.Event)
	}
	// Nothing new: nothing delivered.
	if n := m.round(&got); n != 0 {
		t.Errorf("empty round delivered %d", n)
	}
}

func TestRingWrapAround(t *testing.T) {
	chain := []uint64{perfabi.ContextKernel, 0xffffffff81000001, 0xffffffff81000002, perfabi.ContextUser, 0x401000}
	rec1 := sampleRecord(100, 0xffffffff81000001, 7, 8, 100, 0, 1, chain...)
	// Start 16 bytes before the end so the first record splits across it,
	// header included in the first part; then positions past 2^32 and
	// several laps around the buffer.
	for _, startAt := range []uint64{4096 - 16, 4096 - 8, 4096*5 - 24, 1<<32 + 4096 - 16} {
		f := newFakeRing(4096)
		f.start(startAt)
		r := f.ring(0)
		m, c := newTestMerger(r)
		var got collect
		for lap := range 40 {
			f.write(rec1, ksymbolRecord(200, 0, 0xffffffffc0000000, 64, false, "bpf_prog_x"), lostRecord(300, 0, 1))
			got.recs = got.recs[:0]
			if n := m.round(&got); n != 3 {
				t.Fatalf("start %d lap %d: delivered %d, want 3", startAt, lap, n)
			}
			s, ok := got.recs[0].(*Sample)
			if !ok || s.PID != 7 || len(s.Kernel) != 2 || s.Kernel[1] != 0xffffffff81000002 || len(s.User) != 1 {
				t.Fatalf("start %d lap %d: sample %#v", startAt, lap, got.recs[0])
			}
			if k, ok := got.recs[1].(*KSymbol); !ok || k.Name != "bpf_prog_x" {
				t.Fatalf("start %d lap %d: ksymbol %#v", startAt, lap, got.recs[1])
			}
		}
		if st := c.snapshot(); st.DecodeErrors != 0 || st.Lost != 40 {
			t.Errorf("start %d: stats %+v", startAt, st)
		}
	}
}

func TestRingSplitRecordUsesScratch(t *testing.T) {
	f := newFakeRing(256)
	f.start(256 - 8) // only the header fits before the end
	raw := ksymbolRecord(1, 0, 0xffffffffc0000000, 64, false, "bpf_prog_0123456789abcdef_split")
	f.write(raw)
	r := f.ring(0)
	r.load()
	got := r.next()
	if string(got) != string(raw) {
		t.Fatalf("split record read back as % x\nwant % x", got, raw)
	}
	if &got[0] == &f.data[0] || &got[0] == &f.data[256-8] {
		t.Error("a split record was not copied into the scratch buffer")
	}
	// A record that does not wrap is read in place.
	f.write(lostRecord(2, 0, 1))
	r.load()
	if got := r.next(); &got[0] != &f.data[r.tail&r.mask-uint64(len(got))] {
		t.Error("a contiguous record was copied")
	}
}

func TestRingMalformed(t *testing.T) {
	good := lostRecord(1, 0, 1)
	for _, c := range []struct {
		name string
		bad  []byte
		// advance, when set, moves data_head by this many bytes instead of
		// len(bad): a record the kernel has not finished.
		advance uint64
	}{
		{name: "size zero", bad: []byte{9, 0, 0, 0, 0, 0, 0, 0}},
		{name: "size smaller than header", bad: []byte{9, 0, 0, 0, 0, 0, 4, 0}},
		{name: "misaligned size", bad: []byte{9, 0, 0, 0, 0, 0, 12, 0, 1, 2, 3, 4, 0, 0, 0, 0}},
		{name: "size beyond available", bad: record(unix.PERF_RECORD_LOST, 0, (&rec{}).u64(make([]uint64, 30)...)), advance: 16},
		{name: "size larger than ring", bad: []byte{9, 0, 0, 0, 0, 0, 0xf8, 0xff}, advance: 8},
		{name: "truncated header", bad: []byte{9, 0, 0, 0}, advance: 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeRing(1024)
			f.write(good)
			f.write(c.bad)
			if c.advance != 0 {
				f.page.DataHead -= uint64(len(c.bad)) - c.advance
			}
			// Bytes after the bad record are dropped with it.
			f.write(good)
			m, st := newTestMerger(f.ring(0))
			var got collect
			if n := m.round(&got); n != 1 {
				t.Errorf("delivered %d records, want only the one before the bad one", n)
			}
			if s := st.snapshot(); s.DecodeErrors != 1 {
				t.Errorf("DecodeErrors %d, want 1", s.DecodeErrors)
			}
			if f.page.DataTail != f.page.DataHead {
				t.Errorf("tail %d, head %d: not resynchronised", f.page.DataTail, f.page.DataHead)
			}
			// The ring works again for what comes next.
			f.write(good)
			if n := m.round(&got); n != 1 {
				t.Errorf("after resync delivered %d, want 1", n)
			}
		})
	}
}

func TestRingHeadTooFarAhead(t *testing.T) {
	f := newFakeRing(1024)
	f.write(lostRecord(1, 0, 1))
	f.page.DataHead += 4096
	m, st := newTestMerger(f.ring(0))
	if n := m.round(&collect{}); n != 0 {
		t.Errorf("delivered %d", n)
	}
	if s := st.snapshot(); s.DecodeErrors != 1 {
		t.Errorf("DecodeErrors %d, want 1", s.DecodeErrors)
	}
}

func TestRingDecodeErrorKeepsFraming(t *testing.T) {
	f := newFakeRing(1024)
	// A well-framed sample of an unknown event is a decode error, but the
	// record after it is still read.
	f.write(sampleRecord(999, 1, 1, 1, 1, 0, 1), sampleRecord(100, 1, 1, 1, 2, 0, 1),
		record(unix.PERF_RECORD_SWITCH, 0, (&rec{}).sampleID(1, 1, 3, 0, 100)))
	m, st := newTestMerger(f.ring(0))
	var got collect
	m.round(&got)
	if s := st.snapshot(); len(got.recs) != 1 || s.DecodeErrors != 1 || s.Unknown != 1 || s.Records != 1 {
		t.Errorf("got %d records, stats %+v", len(got.recs), s)
	}
}

func TestMergeTimeOrder(t *testing.T) {
	a, b, c := newFakeRing(4096), newFakeRing(4096), newFakeRing(4096)
	a.write(sampleRecord(100, 1, 1, 1, 1, 0, 1), sampleRecord(100, 1, 1, 1, 4, 0, 1), sampleRecord(100, 1, 1, 1, 5, 0, 1))
	b.write(sampleRecord(100, 1, 1, 1, 2, 1, 1), lostRecord(3, 1, 1), sampleRecord(100, 1, 1, 1, 9, 1, 1))
	c.write(sampleRecord(100, 1, 1, 1, 6, 2, 1), sampleRecord(100, 1, 1, 1, 7, 2, 1), sampleRecord(100, 1, 1, 1, 8, 2, 1))
	m, _ := newTestMerger(a.ring(0), b.ring(1), c.ring(2))
	var got collect
	m.round(&got)
	if ts := times(got.recs); !equal(ts, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("times %v, want 1..9", ts)
	}
	for _, r := range got.recs {
		if want := map[uint64]uint32{1: 0, 4: 0, 5: 0, 2: 1, 3: 1, 9: 1, 6: 2, 7: 2, 8: 2}[r.common().Time]; r.common().CPU != want {
			t.Errorf("record at %d from cpu %d, want %d", r.common().Time, r.common().CPU, want)
		}
	}
}

// A BPF program loaded on CPU 0 must be known before a sample in it on CPU 1,
// even when CPU 1's ring is read first.
func TestMergeKSymbolBeforeSample(t *testing.T) {
	cpu0, cpu1 := newFakeRing(4096), newFakeRing(4096)
	cpu1.write(sampleRecord(100, 0xffffffffc0000010, 1, 1, 20, 1, 1), sampleRecord(100, 0xffffffffc0000010, 1, 1, 40, 1, 1))
	cpu0.write(ksymbolRecord(10, 0, 0xffffffffc0000000, 64, false, "bpf_prog_0123456789abcdef_f"),
		ksymbolRecord(30, 0, 0xffffffffc0000000, 64, true, "bpf_prog_0123456789abcdef_f"))
	m, _ := newTestMerger(cpu1.ring(1), cpu0.ring(0))
	var got collect
	m.round(&got)
	var kinds []string
	for _, r := range got.recs {
		switch r := r.(type) {
		case *KSymbol:
			if r.Unregister {
				kinds = append(kinds, "unregister")
			} else {
				kinds = append(kinds, "register")
			}
		case *Sample:
			kinds = append(kinds, "sample")
		}
	}
	if want := "[register sample unregister sample]"; stringOf(kinds) != want {
		t.Errorf("order %v, want %s", kinds, want)
	}
}

func stringOf(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

// A record without a time keeps its place after its ring's previous one.
func TestMergeUntimedRecord(t *testing.T) {
	f := testFormat
	f.SampleIDAll = false
	a, b := newFakeRing(1024), newFakeRing(1024)
	a.write(sampleRecord(100, 1, 1, 1, 5, 0, 1), record(unix.PERF_RECORD_LOST, 0, (&rec{}).u64(100, 1)), sampleRecord(100, 1, 1, 1, 9, 0, 1))
	b.write(sampleRecord(100, 1, 1, 1, 3, 1, 1), sampleRecord(100, 1, 1, 1, 7, 1, 1))
	var c counters
	m := &merger{rings: []*ring{a.ring(0), b.ring(1)}, dec: NewDecoder(f), stats: &c}
	var got collect
	m.round(&got)
	var order []string
	for _, r := range got.recs {
		if _, ok := r.(*Lost); ok {
			order = append(order, "lost")
		} else {
			order = append(order, string(rune('0'+r.common().Time)))
		}
	}
	if s := stringOf(order); s != "[3 5 lost 7 9]" {
		t.Errorf("order %s", s)
	}
}

// tailWatch checks, as each record of ring f arrives, that the ring's
// tail has been committed past every record delivered before it.
type tailWatch struct {
	f     *fakeRing
	ends  map[uint64]uint64 // record time -> ring offset where it ends
	prev  uint64            // end of the last record of f delivered
	t     *testing.T
	count int
}

func (w *tailWatch) HandleRecord(r Record) {
	end, ok := w.ends[r.common().Time]
	if !ok {
		return // another ring's
	}
	if got := w.f.page.DataTail; got != w.prev {
		w.t.Errorf("record at %d: data_tail %d, want %d (the end of the record before)", r.common().Time, got, w.prev)
	}
	w.prev = end
	w.count++
}

// TestMergeCommitsAsItGoes: a ring's tail moves past each record once it
// is delivered, not after the whole round.
func TestMergeCommitsAsItGoes(t *testing.T) {
	a, b := newFakeRing(4096), newFakeRing(4096)
	ends := map[uint64]uint64{}
	for _, ts := range []uint64{10, 30, 50} {
		a.write(sampleRecord(100, 1, 1, 1, ts, 0, 1))
		ends[ts] = a.page.DataHead
	}
	b.write(sampleRecord(100, 2, 2, 1, 20, 0, 1), sampleRecord(100, 2, 2, 1, 40, 0, 1))
	m, _ := newTestMerger(a.ring(0), b.ring(1))
	w := &tailWatch{f: a, ends: ends, t: t}
	m.round(w)
	if w.count != 3 || a.page.DataTail != a.page.DataHead || b.page.DataTail != b.page.DataHead {
		t.Errorf("%d records of ring a; tails %d/%d, %d/%d", w.count, a.page.DataTail, a.page.DataHead, b.page.DataTail, b.page.DataHead)
	}
}
