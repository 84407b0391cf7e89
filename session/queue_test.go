package session

import (
	"fmt"
	"testing"

	"github.com/bpfprof/bpfprof/sampler"
)

func TestQueue(t *testing.T) {
	var got []string
	q := newQueue(4, sampler.HandlerFunc(func(r sampler.Record) {
		got = append(got, fmt.Sprintf("%T %+v", r, r))
	}))
	// The reader reuses its records: the queue must copy them.
	s := &sampler.Sample{Common: sampler.Common{Time: 1}, IP: 7, Kernel: []uint64{1, 2}, User: []uint64{3}, Counters: []sampler.Counter{{ID: 1, Value: 2}}}
	m := &sampler.Mmap2{Common: sampler.Common{Time: 2}, BuildID: []byte{9}, Filename: "/bin/x"}
	records := []sampler.Record{
		s, m,
		&sampler.Comm{Comm: "x"}, &sampler.Fork{PID: 1}, &sampler.Exit{PID: 1},
		&sampler.Lost{Lost: 1}, &sampler.LostSamples{Lost: 2}, &sampler.Throttle{Unthrottle: true},
		&sampler.KSymbol{Name: "bpf_prog_x"}, &sampler.BPFEvent{ProgID: 5},
	}
	var want []string
	for i := range 3 {
		s.Time, s.Kernel[0], s.User = uint64(10+i), uint64(100+i), s.User[:0]
		if i == 1 {
			s.User = append(s.User, 4, 5, 6)
		}
		for _, r := range records {
			want = append(want, fmt.Sprintf("%T %+v", r, r))
			q.HandleRecord(r)
		}
		s.Kernel[1], m.BuildID[0] = 99, 99 // after queueing: no effect on the copies
	}
	q.close()
	if len(got) != len(want) {
		t.Fatalf("%d records handled, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// BenchmarkQueue passes samples of 16 frames through the queue in rounds
// of 256 records, as the reader does, to a handler that does nothing.
func BenchmarkQueue(b *testing.B) {
	q := newQueue(DefaultQueueSize, sampler.HandlerFunc(func(sampler.Record) {}))
	s := &sampler.Sample{Common: sampler.Common{Time: 1}, IP: 7, Kernel: make([]uint64, 8), User: make([]uint64, 8)}
	rh, _ := any(q).(sampler.RoundHandler)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		s.Time++
		q.HandleRecord(s)
		if n++; n%256 == 0 && rh != nil {
			rh.EndRound()
		}
	}
	q.close()
}

// TestQueueEndRound: a round's records are handed over when the round
// ends, without waiting for a full batch or close.
func TestQueueEndRound(t *testing.T) {
	got := make(chan uint64, 4)
	q := newQueue(DefaultQueueSize, sampler.HandlerFunc(func(r sampler.Record) { got <- r.(*sampler.Sample).Time }))
	defer q.close()
	for round := uint64(1); round <= 3; round++ {
		q.HandleRecord(&sampler.Sample{Common: sampler.Common{Time: round}})
		q.EndRound()
		if ts := <-got; ts != round {
			t.Fatalf("round %d handed over sample %d", round, ts)
		}
	}
}
