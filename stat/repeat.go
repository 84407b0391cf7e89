package stat

import (
	"math"
	"time"
)

// Mean combines the totals of repeated runs (-r N) into one block: every
// figure is the mean over the runs, and each row's Spread the relative
// standard deviation of that mean, as perf stat computes it. A program
// missing from a run counts as zero there.
func Mean(blocks []Block) Block {
	if len(blocks) == 0 {
		return Block{}
	}
	out := Block{Events: blocks[0].Events}
	var total time.Duration
	for _, b := range blocks {
		total += b.Elapsed()
	}
	out.End = total / time.Duration(len(blocks))
	type acc struct {
		row                Row
		runs, runTime, rec []float64
		values             [][]float64
		raw                [][]float64
		hist               []uint64
	}
	var order []*acc
	byID := map[uint32]*acc{}
	n := len(blocks)
	for k, b := range blocks {
		for _, r := range b.Rows {
			a := byID[uint32(r.ID)]
			if a == nil {
				a = &acc{row: r, runs: make([]float64, n), runTime: make([]float64, n), rec: make([]float64, n)}
				a.values = make([][]float64, len(r.Values))
				a.raw = make([][]float64, len(r.Values))
				for i := range a.values {
					a.values[i] = make([]float64, n)
					a.raw[i] = make([]float64, n)
				}
				byID[uint32(r.ID)] = a
				order = append(order, a)
			}
			a.row.Gone = a.row.Gone || r.Gone
			a.runs[k] = float64(r.Runs)
			a.runTime[k] = float64(r.RunTime)
			a.rec[k] = float64(r.RecursionMisses)
			for i, v := range r.Values {
				if i < len(a.values) {
					a.values[i][k] = v.Count
					a.raw[i][k] = float64(v.Raw)
				}
			}
			if r.Hist != nil {
				if a.hist == nil {
					a.hist = make([]uint64, len(r.Hist))
				}
				for i, c := range r.Hist {
					if i < len(a.hist) {
						a.hist[i] += c
					}
				}
			}
		}
	}
	for _, a := range order {
		r := a.row
		var sp Spread
		var m float64
		m, sp.Runs = meanSpread(a.runs)
		r.Runs = uint64(math.Round(m))
		m, sp.RunTime = meanSpread(a.runTime)
		r.RunTime = time.Duration(math.Round(m))
		m, _ = meanSpread(a.rec)
		r.RecursionMisses = uint64(math.Round(m))
		r.Values = append([]Value(nil), r.Values...)
		for i := range r.Values {
			r.Values[i].Count, _ = meanSpread(a.values[i])
			var s float64
			_, s = meanSpread(a.values[i])
			sp.Values = append(sp.Values, s)
			raw, _ := meanSpread(a.raw[i])
			r.Values[i].Raw = uint64(math.Round(raw))
		}
		// The histogram sums every run's: its buckets then add up to
		// the runs of all repeats, which the percentiles read best.
		r.Hist = a.hist
		r.Spread = &sp
		out.Rows = append(out.Rows, r)
	}
	return out
}

// meanSpread returns the mean of xs and the standard deviation of that
// mean relative to it, in percent (0 for a single value or a zero mean).
func meanSpread(xs []float64) (mean, relPercent float64) {
	n := float64(len(xs))
	if n == 0 {
		return 0, 0
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean = sum / n
	if n < 2 || mean == 0 {
		return mean, 0
	}
	var m2 float64
	for _, x := range xs {
		m2 += (x - mean) * (x - mean)
	}
	stddevOfMean := math.Sqrt(m2 / (n - 1) / n)
	return mean, 100 * stddevOfMean / math.Abs(mean)
}
