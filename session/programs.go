package session

import (
	"cmp"
	"slices"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/symbolize"
)

// ProgramRow is one BPF program over one interval, as top and stat show it
// in one row: its facts and run-time rates from bpfprog, joined with its
// samples from the aggregate.
//
// A program is known by its id and tag together: ids are reused, and a
// program that reuses one has another tag (or, loaded from the same code,
// is the same code), so samples never join the run stats of another
// program.
type ProgramRow struct {
	ID  uint32
	Tag string
	// Info is the program as listed; nil when it was not loaded at the
	// listing (it unloaded, and only its samples are left).
	Info *bpfprog.Program
	// Rate is its activity over the interval; HasRate says there is one.
	Rate    bpfprog.Rate
	HasRate bool
	// Prog is the program as its samples name it; nil without samples.
	Prog *symbolize.Prog
	// Samples, Self and Period are its samples in the interval, as
	// aggregate.Program counts them.
	Samples, Self, Period uint64
}

// Name is the program's full name: from its listing, else from its
// samples.
func (r *ProgramRow) Name() string {
	switch {
	case r.Info != nil && r.Info.FullName != "":
		return r.Info.FullName
	case r.Prog != nil:
		return r.Prog.Name
	}
	return ""
}

// JoinPrograms joins a listing of programs (bpfprog.List or Find), their
// rates over an interval (bpfprog.Rates; nil for none) and the samples of
// the same interval (a Delta's or Snapshot's Programs) into one row per
// program, by id and tag. Programs only listed have no samples; programs
// only sampled (they unloaded) have no Info. Rows come most samples first,
// then by CPU%, then by id.
func JoinPrograms(progs []bpfprog.Program, rates map[bpfprog.ID]bpfprog.Rate, samples []aggregate.Program) []ProgramRow {
	type key struct {
		id  uint32
		tag string
	}
	rows := make([]ProgramRow, 0, len(progs)+len(samples))
	idx := make(map[key]int, len(progs))
	for i := range progs {
		p := &progs[i]
		r := ProgramRow{ID: uint32(p.ID), Tag: p.Tag, Info: p}
		r.Rate, r.HasRate = rates[p.ID]
		idx[key{r.ID, r.Tag}] = len(rows)
		rows = append(rows, r)
	}
	for _, s := range samples {
		k := key{s.Prog.ID, s.Prog.Tag}
		i, ok := idx[k]
		if !ok {
			i = len(rows)
			idx[k] = i
			rows = append(rows, ProgramRow{ID: s.Prog.ID, Tag: s.Prog.Tag})
		}
		r := &rows[i]
		r.Prog = s.Prog
		r.Samples += s.Samples
		r.Self += s.Self
		r.Period += s.Period
	}
	slices.SortStableFunc(rows, func(a, b ProgramRow) int {
		return cmp.Or(cmp.Compare(b.Samples, a.Samples), cmp.Compare(b.Rate.CPUPercent, a.Rate.CPUPercent), cmp.Compare(a.ID, b.ID))
	})
	return rows
}
