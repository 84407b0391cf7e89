package stat

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Metric is a figure derived from a count, as perf prints after '#'.
type Metric struct {
	Value float64
	Unit  string
}

// metric derives the comment of event i of row r: insn per cycle for
// instructions next to cycles, misses per million insns for a miss event
// next to instructions, ns per run for a clock, else a count per run.
func metric(events []Event, r *Row, i int) (Metric, bool) {
	v := r.Values[i]
	if v.Method == NotSupported || v.Method == NotCounted {
		return Metric{}, false
	}
	name := baseName(events[i].Name)
	find := func(want string) (float64, bool) {
		for j, e := range events {
			if baseName(e.Name) == want && (r.Values[j].Method == Exact || r.Values[j].Method == Sampled) && r.Values[j].Count > 0 {
				return r.Values[j].Count, true
			}
		}
		return 0, false
	}
	switch {
	case name == "instructions":
		if cyc, ok := find("cycles"); ok {
			return Metric{v.Count / cyc, "insn per cycle"}, true
		}
	case strings.HasSuffix(name, "-misses"):
		if insn, ok := find("instructions"); ok {
			return Metric{v.Count / insn * 1e6, "misses per million insns"}, true
		}
	}
	// An exact count covers the runs fexit saw, a sampled one those of
	// the stats.
	runs := r.Runs
	if v.Method == Exact && r.HasExact {
		runs = r.ExactRuns
	}
	if runs == 0 {
		return Metric{}, false
	}
	if events[i].Clock {
		return Metric{v.Count / float64(runs), "ns per run"}, true
	}
	return Metric{v.Count / float64(runs), "per run"}, true
}

// baseName is an event's name without its :u / :k modifier.
func baseName(name string) string {
	n, _, _ := strings.Cut(name, ":")
	return n
}

// Percentiles of a latency histogram: each is the upper bound of the log2
// bucket the percentile falls in, so "p99 ≤ 2048 ns".
type Percentiles struct {
	P50, P90, P99, Max uint64
	Runs               uint64
}

// HistPercentiles reads p50, p90, p99 and the maximum off a log2 histogram
// (bucket i holds durations d with floor(log2(d)) == i), as upper bounds.
func HistPercentiles(hist []uint64) Percentiles {
	var p Percentiles
	for _, n := range hist {
		p.Runs += n
	}
	if p.Runs == 0 {
		return p
	}
	at := func(q float64) uint64 {
		want := uint64(math.Ceil(q * float64(p.Runs)))
		var seen uint64
		for i, n := range hist {
			seen += n
			if seen >= want && n > 0 {
				return bucketHigh(i)
			}
		}
		return bucketHigh(len(hist) - 1)
	}
	p.P50, p.P90, p.P99 = at(0.50), at(0.90), at(0.99)
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i] > 0 {
			p.Max = bucketHigh(i)
			break
		}
	}
	return p
}

// bucketLow and bucketHigh bound bucket i: [2^i, 2^(i+1)); bucket 0 also
// holds 0.
func bucketLow(i int) uint64 {
	if i == 0 {
		return 0
	}
	return 1 << i
}

func bucketHigh(i int) uint64 {
	if i >= 63 {
		return math.MaxUint64
	}
	return 1 << (i + 1)
}

// SortKeys are the columns --sort takes, besides an event name.
var SortKeys = []string{"run-time", "runs", "ns-per-run", "recursion-misses", "id", "name"}

// SortRows orders rows by key, largest first (id and name ascending): one
// of SortKeys or the name of one of events (by its count).
func SortRows(rows []Row, events []Event, key string) error {
	ev := -1
	for i, e := range events {
		if e.Name == key || baseName(e.Name) == key {
			ev = i
		}
	}
	if ev < 0 && !slices.Contains(SortKeys, key) {
		names := slices.Clone(SortKeys)
		for _, e := range events {
			names = append(names, e.Name)
		}
		return fmt.Errorf("unknown sort column %q: want one of %s", key, strings.Join(names, ", "))
	}
	desc := func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	}
	slices.SortStableFunc(rows, func(a, b Row) int {
		var c int
		switch {
		case ev >= 0:
			c = desc(a.Values[ev].Count, b.Values[ev].Count)
		case key == "run-time":
			c = desc(float64(a.RunTime), float64(b.RunTime))
		case key == "runs":
			c = desc(float64(a.Runs), float64(b.Runs))
		case key == "ns-per-run":
			c = desc(a.NsPerRun(), b.NsPerRun())
		case key == "recursion-misses":
			c = desc(float64(a.RecursionMisses), float64(b.RecursionMisses))
		case key == "name":
			c = strings.Compare(a.Name, b.Name)
		}
		if c == 0 {
			c = int(a.ID) - int(b.ID)
		}
		return c
	})
	return nil
}
