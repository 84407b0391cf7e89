package perfdata

import (
	"bytes"
	"testing"

	"github.com/bpfprof/bpfprof/sampler"
)

// BenchmarkRead reads and decodes a committed file: header, features, BPF
// program info, every record in time order.
func BenchmarkRead(b *testing.B) {
	data := testFile(b, "hot-task.data")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var records uint64
	for b.Loop() {
		rd, err := NewReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if err := rd.Run(sampler.HandlerFunc(func(sampler.Record) {})); err != nil {
			b.Fatal(err)
		}
		records += rd.Stats().Records
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkProgram resolves a stored program's BTF names and lines.
func BenchmarkProgram(b *testing.B) {
	rd, err := NewReader(bytes.NewReader(testFile(b, "hot-task.data")))
	if err != nil {
		b.Fatal(err)
	}
	h := rd.Header()
	b.ReportAllocs()
	for b.Loop() {
		for id := range h.Programs {
			if _, _, err := h.Program(id); err != nil {
				b.Fatal(err)
			}
		}
	}
}
