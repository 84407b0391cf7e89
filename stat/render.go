package stat

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Footnote explains the '~' of sampled counts.
const Footnote = "~ sampled: samples whose instruction pointer lies in the program's JIT image (main program and subprograms), times their period; an estimate, not an exact count"

// Sampled reports whether any count of b was sampled, so the footnote is due.
func (b *Block) Sampled() bool {
	for _, r := range b.Rows {
		for _, v := range r.Values {
			if v.Method == Sampled {
				return true
			}
		}
	}
	return false
}

// line is one printed counter line of a row.
type line struct {
	value   string // formatted count, or <not supported> / <not counted>
	num     float64
	counted bool
	unit    string
	event   string
	spread  float64 // -r: relative stddev, or -1
	percent float64 // share of time counted, 100 unless multiplexed
	running uint64  // ns the counter ran (CSV's run-time field)
	metric  Metric
	hasMet  bool
	method  string
	// more are extra comment lines (CPU share under run time).
	more []Metric
}

// lines lays out row r of b as perf stat prints a counter group.
func lines(b *Block, r *Row) []line {
	elapsed := b.Elapsed()
	sp := func(f func(*Spread) float64) float64 {
		if r.Spread == nil {
			return -1
		}
		return f(r.Spread)
	}
	period := uint64(elapsed)
	runs := line{value: commas(float64(r.Runs), 0), num: float64(r.Runs), counted: true, event: "runs",
		spread: sp(func(s *Spread) float64 { return s.Runs }), percent: 100, running: period, method: "exact"}
	if elapsed > 0 {
		runs.metric, runs.hasMet = Metric{float64(r.Runs) / elapsed.Seconds(), "/sec"}, true
	}
	ms := float64(r.RunTime) / 1e6
	rt := line{value: commas(ms, 2), num: ms, counted: true, unit: "msec", event: "run time",
		spread: sp(func(s *Spread) float64 { return s.RunTime }), percent: 100, running: period, method: "exact"}
	if r.Runs > 0 {
		rt.metric, rt.hasMet = Metric{r.NsPerRun(), "ns per run"}, true
	}
	if elapsed > 0 {
		rt.more = append(rt.more, Metric{100 * float64(r.RunTime) / float64(elapsed), "%CPU (100% = one core)"})
	}
	rec := line{value: commas(float64(r.RecursionMisses), 0), num: float64(r.RecursionMisses), counted: true,
		event: "recursion misses", spread: -1, percent: 100, running: period, method: "exact"}
	out := []line{runs, rt, rec}
	for i, v := range r.Values {
		ev := b.Events[i]
		l := line{event: ev.Name, spread: -1, percent: v.Percent(), running: v.Running}
		if r.Spread != nil && i < len(r.Spread.Values) {
			l.spread = r.Spread.Values[i]
		}
		switch v.Method {
		case NotSupported:
			l.value, l.method = "<not supported>", "not supported"
		case NotCounted:
			l.value, l.method = "<not counted>", "not counted"
		default:
			l.counted = true
			l.num = v.Count
			if ev.Clock {
				l.unit, l.num = "msec", v.Count/1e6
				l.value = commas(l.num, 2)
			} else {
				l.value = commas(v.Count, 0)
			}
			l.method = "exact"
			if v.Method == Sampled {
				l.value = "~" + l.value
				l.method = "sampled"
				l.running = period
			}
			l.metric, l.hasMet = metric(b.Events, r, i)
		}
		out = append(out, l)
	}
	return out
}

// Title names a row's program as the text output heads it.
func Title(r *Row) string {
	s := fmt.Sprintf("BPF program '%s' (id %d, %s", r.Name, r.ID, r.Type)
	switch {
	case r.New && r.Gone:
		s += ", loaded and unloaded meanwhile"
	case r.New:
		s += ", loaded meanwhile: counted from its load"
	case r.Gone:
		s += ", unloaded meanwhile: counted up to its unload"
	}
	return s + ")"
}

// WriteText prints b in perf stat's layout: per program a heading, one line
// per counter with the derived figure after '#', the latency histogram
// where there is one; then the elapsed time and the footnote for sampled
// counts. repeats > 1 says the figures are means over that many runs.
func WriteText(w io.Writer, b *Block, repeats int) error {
	bw := &errWriter{w: w}
	if len(b.Rows) == 0 {
		bw.printf("\n No BPF program ran.\n")
	}
	for i := range b.Rows {
		r := &b.Rows[i]
		bw.printf("\n Performance counter stats for %s", Title(r))
		if repeats > 1 {
			bw.printf(" (%d runs)", repeats)
		}
		bw.printf(":\n\n")
		for _, l := range lines(b, r) {
			bw.printf("%s\n", textLine(l, ""))
			for _, m := range l.more {
				bw.printf("%s\n", strings.TrimRight(fmt.Sprintf("%18s %-4s %-26s # %10s %s", "", "", "", fmtMetric(m.Value), m.Unit), " "))
			}
		}
		if r.HasExact && r.ExactRuns != r.Runs {
			bw.printf("%18s %-4s %-26s # fexit saw %s runs\n", "", "", "", commas(float64(r.ExactRuns), 0))
		}
		if r.Hist != nil {
			writeHist(bw, r.Hist, "     ")
		}
	}
	bw.printf("\n %17.9f seconds time elapsed", b.Elapsed().Seconds())
	if repeats > 1 {
		bw.printf(" (mean of %d runs)", repeats)
	}
	bw.printf("\n\n")
	if b.Sampled() {
		bw.printf(" %s\n\n", Footnote)
	}
	return bw.err
}

// IntervalHeader is the heading of -I output, as perf prints it.
const IntervalHeader = "#           time program                             counts unit events"

// WriteInterval prints one -I block: every line starts with the time since
// counting began, then the program.
func WriteInterval(w io.Writer, b *Block) error {
	bw := &errWriter{w: w}
	ts := fmt.Sprintf("%16.9f", b.End.Seconds())
	for i := range b.Rows {
		r := &b.Rows[i]
		prog := progField(r)
		for _, l := range lines(b, r) {
			bw.printf("%s %-28s%s\n", ts, prog, textLine(l, ""))
		}
		if r.Hist != nil {
			p := HistPercentiles(r.Hist)
			bw.printf("%s %-28s%18s %-4s %-26s # p50 ≤ %s  p90 ≤ %s  p99 ≤ %s  max < %s ns\n", ts, prog, commas(float64(p.Runs), 0), "", "run latency",
				nsBound(p.P50), nsBound(p.P90), nsBound(p.P99), nsBound(p.Max))
		}
	}
	return bw.err
}

func progField(r *Row) string {
	name := r.Name
	if len(name) > 20 {
		name = name[:20]
	}
	s := name + "-" + strconv.FormatUint(uint64(r.ID), 10)
	if r.Gone {
		s += "(gone)"
	}
	return s
}

func textLine(l line, prefix string) string {
	s := fmt.Sprintf("%s%18s %-4s %-26s", prefix, l.value, l.unit, l.event)
	if l.hasMet {
		s += fmt.Sprintf(" # %10s %s", fmtMetric(l.metric.Value), l.metric.Unit)
	}
	if l.spread >= 0 {
		s += fmt.Sprintf("  ( +- %5.2f%% )", l.spread)
	}
	if l.counted && l.percent < 100 {
		s += fmt.Sprintf("  (%.2f%%)", l.percent)
	}
	return strings.TrimRight(s, " ")
}

func fmtMetric(v float64) string {
	switch {
	case v >= 1000:
		return commas(v, 0)
	case v >= 10:
		return commas(v, 1)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// writeHist prints a log2 histogram as bpftrace's hist() does, leaving
// out empty buckets at both ends, then the percentiles.
func writeHist(bw *errWriter, hist []uint64, indent string) {
	first, last := -1, -1
	var peak uint64
	for i, n := range hist {
		if n > 0 {
			if first < 0 {
				first = i
			}
			last = i
			peak = max(peak, n)
		}
	}
	bw.printf("\n%srun latency (ns, from fexit):\n", indent)
	if first < 0 {
		bw.printf("%s(no runs)\n", indent)
		return
	}
	const width = 40
	for i := first; i <= last; i++ {
		bar := int(math.Round(float64(hist[i]) / float64(peak) * width))
		bw.printf("%s%-16s %12s |%-*s|\n", indent, fmt.Sprintf("[%s, %s)", sizeLabel(bucketLow(i)), sizeLabel(bucketHigh(i))),
			commas(float64(hist[i]), 0), width, strings.Repeat("@", bar))
	}
	p := HistPercentiles(hist)
	bw.printf("%sp50 ≤ %s ns   p90 ≤ %s ns   p99 ≤ %s ns   max < %s ns\n", indent,
		nsBound(p.P50), nsBound(p.P90), nsBound(p.P99), nsBound(p.Max))
}

// sizeLabel writes a power of two as bpftrace labels buckets: 512, 1K, 2M.
func sizeLabel(v uint64) string {
	for _, u := range []struct {
		shift uint
		s     string
	}{{60, "E"}, {50, "P"}, {40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}} {
		if v >= 1<<u.shift && v%(1<<u.shift) == 0 {
			return strconv.FormatUint(v>>u.shift, 10) + u.s
		}
	}
	return strconv.FormatUint(v, 10)
}

func nsBound(v uint64) string { return commas(float64(v), 0) }

// WriteCSV prints b as perf stat -x SEP does, one counter per line, in
// perf's field order: [time,] program, value, unit, event, [variance,]
// counter run time (ns), percentage of time counted, metric value, metric
// unit; then ours: exact or sampled. Values without a count are perf's
// <not supported> and <not counted>.
func WriteCSV(w io.Writer, b *Block, sep string, interval bool) error {
	bw := &errWriter{w: w}
	for i := range b.Rows {
		r := &b.Rows[i]
		for _, l := range lines(b, r) {
			var f []string
			if interval {
				f = append(f, strconv.FormatFloat(b.End.Seconds(), 'f', 9, 64))
			}
			val := l.value
			if l.counted {
				val = strconv.FormatFloat(l.num, 'f', -1, 64)
				if l.unit == "msec" {
					val = strconv.FormatFloat(l.num, 'f', 2, 64)
				}
			}
			f = append(f, r.Name+"-"+strconv.FormatUint(uint64(r.ID), 10), val, l.unit, l.event)
			if r.Spread != nil {
				f = append(f, strconv.FormatFloat(max(l.spread, 0), 'f', 2, 64)+"%")
			}
			f = append(f, strconv.FormatUint(l.running, 10), strconv.FormatFloat(l.percent, 'f', 2, 64))
			if l.hasMet {
				f = append(f, strconv.FormatFloat(l.metric.Value, 'f', 2, 64), l.metric.Unit)
			} else {
				f = append(f, "", "")
			}
			f = append(f, l.method)
			bw.printf("%s\n", strings.Join(f, sep))
		}
	}
	return bw.err
}

// JSONRow is one program over one block, one JSON object per line with
// --json.
type JSONRow struct {
	// Interval is the end of the -I interval in seconds since counting
	// began; absent for totals.
	Interval        *float64    `json:"interval,omitempty"`
	ID              uint32      `json:"id"`
	Name            string      `json:"name"`
	Type            string      `json:"type"`
	New             bool        `json:"loaded_meanwhile,omitempty"`
	Gone            bool        `json:"unloaded_meanwhile,omitempty"`
	ElapsedNs       int64       `json:"elapsed_ns"`
	Runs            uint64      `json:"run_cnt"`
	RunTimeNs       int64       `json:"run_time_ns"`
	NsPerRun        float64     `json:"ns_per_run"`
	RunsPerSec      float64     `json:"runs_per_sec"`
	CPUPercent      float64     `json:"cpu_percent"`
	RecursionMisses uint64      `json:"recursion_misses"`
	ExactRuns       *uint64     `json:"fexit_run_cnt,omitempty"`
	Repeats         int         `json:"repeats,omitempty"`
	Events          []JSONEvent `json:"events"`
	Latency         *JSONHist   `json:"latency,omitempty"`
}

// JSONEvent is one event's count in a JSONRow.
type JSONEvent struct {
	Event string `json:"event"`
	// Method is "exact", "sampled", "not supported" or "not counted".
	Method      string   `json:"method"`
	Value       *float64 `json:"value,omitempty"`
	Unit        string   `json:"unit,omitempty"`
	Raw         uint64   `json:"raw,omitempty"`
	EnabledNs   uint64   `json:"enabled_ns,omitempty"`
	RunningNs   uint64   `json:"running_ns,omitempty"`
	PcntRunning float64  `json:"pcnt_running"`
	Samples     uint64   `json:"samples,omitempty"`
	MetricValue *float64 `json:"metric_value,omitempty"`
	MetricUnit  string   `json:"metric_unit,omitempty"`
	Variance    *float64 `json:"variance,omitempty"`
}

// JSONHist is a latency histogram in a JSONRow.
type JSONHist struct {
	Buckets []JSONBucket `json:"buckets"`
	P50Ns   uint64       `json:"p50_ns"`
	P90Ns   uint64       `json:"p90_ns"`
	P99Ns   uint64       `json:"p99_ns"`
	MaxNs   uint64       `json:"max_ns"`
}

// JSONBucket holds the runs whose duration d in ns is in [MinNs, MaxNs).
type JSONBucket struct {
	MinNs uint64 `json:"min_ns"`
	MaxNs uint64 `json:"max_ns"`
	Count uint64 `json:"count"`
}

// WriteJSON prints b as JSON lines, one object per program.
func WriteJSON(w io.Writer, b *Block, interval bool, repeats int) error {
	enc := json.NewEncoder(w)
	for i := range b.Rows {
		r := &b.Rows[i]
		el := b.Elapsed()
		j := JSONRow{
			ID: uint32(r.ID), Name: r.Name, Type: r.Type, New: r.New, Gone: r.Gone,
			ElapsedNs: int64(el), Runs: r.Runs, RunTimeNs: int64(r.RunTime), NsPerRun: r.NsPerRun(),
			RecursionMisses: r.RecursionMisses, Events: []JSONEvent{},
		}
		if repeats > 1 {
			j.Repeats = repeats
		}
		if interval {
			t := b.End.Seconds()
			j.Interval = &t
		}
		if el > 0 {
			j.RunsPerSec = float64(r.Runs) / el.Seconds()
			j.CPUPercent = 100 * float64(r.RunTime) / float64(el)
		}
		if r.HasExact {
			n := r.ExactRuns
			j.ExactRuns = &n
		}
		ls := lines(b, r)[3:]
		for k, v := range r.Values {
			l := ls[k]
			e := JSONEvent{Event: b.Events[k].Name, Method: l.method, PcntRunning: l.percent}
			if l.counted {
				val := l.num
				e.Value, e.Unit, e.Raw, e.Samples = &val, l.unit, v.Raw, v.Samples
				if v.Method == Exact {
					e.EnabledNs, e.RunningNs = v.Enabled, v.Running
				}
			}
			if l.hasMet {
				m := l.metric.Value
				e.MetricValue, e.MetricUnit = &m, l.metric.Unit
			}
			if l.spread >= 0 {
				s := l.spread
				e.Variance = &s
			}
			j.Events = append(j.Events, e)
		}
		if r.Hist != nil {
			p := HistPercentiles(r.Hist)
			h := &JSONHist{Buckets: []JSONBucket{}, P50Ns: p.P50, P90Ns: p.P90, P99Ns: p.P99, MaxNs: p.Max}
			for k, n := range r.Hist {
				if n > 0 {
					h.Buckets = append(h.Buckets, JSONBucket{bucketLow(k), bucketHigh(k), n})
				}
			}
			j.Latency = h
		}
		if err := enc.Encode(j); err != nil {
			return err
		}
	}
	return nil
}

// commas formats v with dec decimals and thousands separators, as perf
// stat prints counts.
func commas(v float64, dec int) string {
	s := strconv.FormatFloat(v, 'f', dec, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// errWriter keeps the first write error, so a closed output fails once.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
