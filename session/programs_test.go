package session

import (
	"testing"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/symbolize"
)

func TestJoinPrograms(t *testing.T) {
	progs := []bpfprog.Program{
		{ID: 7, Tag: "aaaa", FullName: "listed_and_sampled"},
		{ID: 8, Tag: "bbbb", FullName: "only_listed"},
		// Id 9 now names another program than the one sampled.
		{ID: 9, Tag: "cccc", FullName: "reused_id"},
	}
	rates := map[bpfprog.ID]bpfprog.Rate{7: {ID: 7, CPUPercent: 3}, 8: {ID: 8, CPUPercent: 5}}
	samples := []aggregate.Program{
		{Prog: &symbolize.Prog{ID: 7, Tag: "aaaa", Name: "listed_and_sampled"}, Samples: 10, Self: 8, Period: 100},
		{Prog: &symbolize.Prog{ID: 9, Tag: "dddd", Name: "unloaded"}, Samples: 4, Self: 4, Period: 40},
		{Prog: &symbolize.Prog{ID: 11, Tag: "eeee", Name: "gone"}, Samples: 4, Period: 40},
	}
	rows := JoinPrograms(progs, rates, samples)
	type row struct {
		id                uint32
		name              string
		info, rate, prog  bool
		samples, self, ns uint64
	}
	want := []row{
		{7, "listed_and_sampled", true, true, true, 10, 8, 100},
		{9, "unloaded", false, false, true, 4, 4, 40},
		{11, "gone", false, false, true, 4, 0, 40},
		{8, "only_listed", true, true, false, 0, 0, 0},
		{9, "reused_id", true, false, false, 0, 0, 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := &rows[i]
		got := row{r.ID, r.Name(), r.Info != nil, r.HasRate, r.Prog != nil, r.Samples, r.Self, r.Period}
		if got != w {
			t.Errorf("row %d: %+v, want %+v", i, got, w)
		}
	}
}
