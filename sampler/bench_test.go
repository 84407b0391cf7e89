package sampler

import (
	"testing"

	"github.com/bpfprof/bpfprof/internal/perfabi"
)

// benchSample is a sample with a typical callchain: 12 kernel frames and
// 16 user frames.
func benchSample(time uint64, cpu uint32) []byte {
	chain := []uint64{perfabi.ContextKernel}
	for i := range 12 {
		chain = append(chain, 0xffffffff81000000+uint64(i)*0x40)
	}
	chain = append(chain, perfabi.ContextUser)
	for i := range 16 {
		chain = append(chain, 0x400000+uint64(i)*0x40)
	}
	return sampleRecord(100, 0xffffffff81000000, 1234, 1235, time, cpu, 250000, chain...)
}

func BenchmarkDecodeSample(b *testing.B) {
	d := NewDecoder(testFormat)
	raw := benchSample(1, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := d.Decode(0, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkDecodeKSymbol(b *testing.B) {
	d := NewDecoder(testFormat)
	raw := ksymbolRecord(1, 0, 0xffffffffc0000000, 64, false, "bpf_prog_0123456789abcdef_bpfprof_hot_loop_socket")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(0, raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkRingMerge reads and merges full fake rings of samples, two CPUs
// with interleaved times, each round re-reading the same bytes; one record
// in each ring wraps around its end.
func BenchmarkRingMerge(b *testing.B) {
	const size = 1 << 20
	fakes := []*fakeRing{newFakeRing(size), newFakeRing(size)}
	per := 0
	for i, f := range fakes {
		f.start(size - 64)
		for t := uint64(i); f.page.DataHead+512 < 2*size-64; t += 2 {
			f.write(benchSample(t, uint32(i)))
			if i == 0 {
				per++
			}
		}
	}
	rings := []*ring{fakes[0].ring(0), fakes[1].ring(1)}
	m, _ := newTestMerger(rings...)
	h := HandlerFunc(func(Record) {})
	heads := []uint64{fakes[0].page.DataHead, fakes[1].page.DataHead}
	b.ReportAllocs()
	b.SetBytes(int64(heads[0] + heads[1] - 2*(size-64)))
	n := 0
	for b.Loop() {
		for i, r := range rings {
			r.tail, r.lastTime = size-64, 0
			fakes[i].page.DataTail, fakes[i].page.DataHead = size-64, heads[i]
		}
		n += m.round(h)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(n)/float64(b.N), "records/round")
}
