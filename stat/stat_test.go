package stat

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/bpfprog"
)

// fakeKernel stands in for the stats fd, the program list and the exact
// counters.
type fakeKernel struct {
	now   int64
	progs map[bpfprog.ID]*bpfprog.Program
	// exact counts per program; absent programs refuse fentry.
	exact    map[bpfprog.ID]*ExactCounts
	attached map[bpfprog.ID]bool
}

func newFake() *fakeKernel {
	return &fakeKernel{now: 1000, progs: map[bpfprog.ID]*bpfprog.Program{}, exact: map[bpfprog.ID]*ExactCounts{}, attached: map[bpfprog.ID]bool{}}
}

func (f *fakeKernel) load(id bpfprog.ID, name string, addr uint64) *bpfprog.Program {
	p := &bpfprog.Program{ID: id, Name: name, FullName: name, Type: bpfprog.Type(1), JitedKsyms: []uint64{addr}, JitedFuncLens: []uint32{100}}
	f.progs[id] = p
	return p
}

func (f *fakeKernel) sources() Sources {
	return Sources{
		List: func() ([]bpfprog.Program, error) {
			var out []bpfprog.Program
			for id := bpfprog.ID(1); id < 100; id++ {
				if p := f.progs[id]; p != nil {
					out = append(out, *p)
				}
			}
			return out, nil
		},
		Program: func(id bpfprog.ID) (*bpfprog.Program, error) {
			if p := f.progs[id]; p != nil {
				c := *p
				return &c, nil
			}
			return nil, bpfprog.ErrNotFound
		},
		Snapshot: func() (*bpfprog.Snapshot, error) {
			s := &bpfprog.Snapshot{Time: f.now}
			for id := bpfprog.ID(1); id < 100; id++ {
				if p := f.progs[id]; p != nil {
					s.Samples = append(s.Samples, bpfprog.Sample{ID: id, LoadTime: 1, Time: f.now, RunStats: p.Stats})
				}
			}
			return s, nil
		},
		Exact: f,
		Now:   func() int64 { return f.now },
	}
}

func (f *fakeKernel) Attach(p *bpfprog.Program) error {
	if f.exact[p.ID] == nil {
		return fmt.Errorf("the kernel refuses fentry/fexit on BPF program %d (EPERM)", p.ID)
	}
	f.attached[p.ID] = true
	return nil
}

func (f *fakeKernel) Read(id bpfprog.ID) (ExactCounts, bool) {
	if !f.attached[id] {
		return ExactCounts{}, false
	}
	c := *f.exact[id]
	c.Events = append([]Reading(nil), c.Events...)
	c.Hist = append([]uint64(nil), c.Hist...)
	return c, true
}

func (f *fakeKernel) Detach(id bpfprog.ID) { delete(f.attached, id) }

// Owns: the fake counter's own program is 99.
func (f *fakeKernel) Owns(id bpfprog.ID) bool { return id == 99 }

func (f *fakeKernel) run(id bpfprog.ID, runs uint64, ns time.Duration) {
	f.progs[id].Stats.RunCount += runs
	f.progs[id].Stats.RunTime += ns
}

var (
	evCycles = Event{Name: "cycles", Supported: true}
	evInsn   = Event{Name: "instructions", Supported: true}
	evClock  = Event{Name: "cpu-clock", Clock: true, Supported: true}
)

// TestInsnPerCycleAndMultiplexScaling: a program counted exactly with
// multiplexed hardware counters, a fake PMU behind them.
func TestInsnPerCycleAndMultiplexScaling(t *testing.T) {
	f := newFake()
	f.load(7, "prog_a", 0x1000)
	f.exact[7] = &ExactCounts{Events: make([]Reading, 2)}
	c := New(f.sources(), Options{Selectors: []bpfprog.Selector{{Kind: bpfprog.SelectID, ID: 7}}, Events: []Event{evCycles, evInsn}, Sampling: true})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if n := c.Notes(); len(n) != 0 {
		t.Errorf("notes %q with exact counting", n)
	}
	// 1000 runs; cycles ran half the time it was enabled, instructions all of it.
	f.now += int64(time.Second)
	f.run(7, 1000, time.Millisecond)
	f.exact[7].Runs = 1000
	f.exact[7].Events[0] = Reading{Counter: 1_000_000, Enabled: 1_000_000, Running: 500_000}
	f.exact[7].Events[1] = Reading{Counter: 3_000_000, Enabled: 1_000_000, Running: 1_000_000}
	if err := c.Read(); err != nil {
		t.Fatal(err)
	}
	b := c.Totals()
	if len(b.Rows) != 1 {
		t.Fatalf("%d rows", len(b.Rows))
	}
	r := b.Rows[0]
	cyc, insn := r.Values[0], r.Values[1]
	if cyc.Method != Exact || cyc.Count != 2_000_000 || cyc.Percent() != 50 {
		t.Errorf("cycles %+v (%.2f%%), want exact 2,000,000 scaled from 1,000,000 at 50%%", cyc, cyc.Percent())
	}
	if insn.Count != 3_000_000 || insn.Percent() != 100 {
		t.Errorf("instructions %+v", insn)
	}
	m, ok := metric(b.Events, &r, 1)
	if !ok || m.Unit != "insn per cycle" || m.Value != 1.5 {
		t.Errorf("metric %+v, want 1.5 insn per cycle", m)
	}
	var out bytes.Buffer
	if err := WriteText(&out, &b, 1); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"         2,000,000      cycles",
		"(50.00%)",
		"         3,000,000      instructions               #       1.50 insn per cycle",
		"             1,000      runs                       #      1,000 /sec",
		"             1.00 msec run time                   #      1,000 ns per run",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "~") || strings.Contains(text, Footnote) {
		t.Errorf("exact counts marked as sampled:\n%s", text)
	}
}

func TestScaled(t *testing.T) {
	for _, tc := range []struct {
		raw, en, run uint64
		count, pct   float64
	}{
		{100, 10, 10, 100, 100},
		{100, 10, 5, 200, 50},
		{100, 10, 0, 0, 0},
		{100, 10, 20, 100, 100},
	} {
		c, p := Scaled(tc.raw, tc.en, tc.run)
		if c != tc.count || p != tc.pct {
			t.Errorf("Scaled(%d, %d, %d) = %v, %v; want %v, %v", tc.raw, tc.en, tc.run, c, p, tc.count, tc.pct)
		}
	}
}

// TestSampledFallback: fentry refused, samples in the JIT image (and only
// there) count, the fallback is said once, the number carries '~'.
func TestSampledFallback(t *testing.T) {
	f := newFake()
	f.load(3, "prog_b", 0x2000)
	f.load(4, "prog_c", 0x3000)
	c := New(f.sources(), Options{Events: []Event{evClock, {Name: "cycles", Reason: "no PMU"}}, Sampling: true})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	notes := c.Notes()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], "exact counting unavailable: ") || !strings.HasSuffix(notes[0], "; counts are sampled") {
		t.Errorf("notes %q, want one fallback message", notes)
	}
	f.now += int64(time.Second)
	f.run(3, 10, 5*time.Millisecond)
	c.AddSample(0, 0x2000, 1_000_000)
	c.AddSample(0, 0x2063, 1_000_000)
	c.AddSample(0, 0x2064, 1_000_000) // past the end of the image
	c.AddSample(0, 0x1fff, 1_000_000)
	c.Read()
	b := c.Totals()
	if len(b.Rows) != 1 || b.Rows[0].ID != 3 {
		t.Fatalf("rows %+v, want only program 3 (4 did nothing)", b.Rows)
	}
	v := b.Rows[0].Values
	if v[0].Method != Sampled || v[0].Samples != 2 || v[0].Count != 2_000_000 {
		t.Errorf("cpu-clock %+v, want 2 samples, 2 ms sampled", v[0])
	}
	if v[1].Method != NotSupported {
		t.Errorf("cycles %+v, want not supported", v[1])
	}
	var out bytes.Buffer
	WriteText(&out, &b, 1)
	for _, want := range []string{"             ~2.00 msec cpu-clock                  #    200,000 ns per run", "   <not supported>      cycles", Footnote} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, out.String())
		}
	}
}

// TestLoadUnloadAndIntervals: a program loaded meanwhile counts from its
// load, one unloaded keeps its counts, intervals add up to the totals, and
// a JIT range reused by a new program counts for the new one.
func TestLoadUnloadAndIntervals(t *testing.T) {
	f := newFake()
	f.load(1, "old", 0x1000)
	f.progs[1].Stats.RunCount = 500 // before counting began
	c := New(f.sources(), Options{Events: []Event{evClock}, Sampling: true})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var sum uint64
	step := func() Block {
		f.now += int64(time.Second)
		if err := c.Read(); err != nil {
			t.Fatal(err)
		}
		b := c.Interval()
		for _, r := range b.Rows {
			sum += r.Runs
		}
		return b
	}
	f.run(1, 10, time.Microsecond)
	step()
	// Program 1 goes, program 2 takes its JIT range.
	f.run(1, 5, time.Microsecond)
	c.Read()
	delete(f.progs, 1)
	c.ProgramUnloaded(1)
	f.load(2, "new", 0x1000)
	c.ProgramLoaded(2)
	f.run(2, 7, time.Microsecond)
	c.AddSample(0, 0x1010, 100)
	b := step()
	tot := c.Totals()
	if sum != 22 {
		t.Errorf("intervals sum to %d runs, want 22", sum)
	}
	got := map[bpfprog.ID]Row{}
	for _, r := range tot.Rows {
		got[r.ID] = r
	}
	if r := got[1]; r.Runs != 15 || !r.Gone || r.New || r.Values[0].Samples != 0 {
		t.Errorf("unloaded program %+v, want 15 runs, gone, no samples", r)
	}
	if r := got[2]; r.Runs != 7 || !r.New || r.Values[0].Samples != 1 {
		t.Errorf("new program %+v, want 7 runs from its load and the sample", r)
	}
	if len(b.Rows) != 2 {
		t.Errorf("last interval has %d rows, want both programs", len(b.Rows))
	}
	if !strings.Contains(Title(&[]Row{got[1]}[0]), "unloaded meanwhile") {
		t.Errorf("title %q", Title(&[]Row{got[1]}[0]))
	}
}

func TestSelectorNotFound(t *testing.T) {
	f := newFake()
	c := New(f.sources(), Options{Selectors: []bpfprog.Selector{{Kind: bpfprog.SelectID, ID: 5}}})
	if err := c.Start(); !errors.Is(err, bpfprog.ErrNotFound) {
		t.Errorf("Start: %v, want not found", err)
	}
	// A name that matches nothing yet counts the program once it loads.
	c = New(f.sources(), Options{Selectors: []bpfprog.Selector{{Kind: bpfprog.SelectName, Name: "later"}}})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if n := c.Notes(); len(n) != 1 || !strings.Contains(n[0], "no program matches name later yet") {
		t.Errorf("notes %q", n)
	}
	f.load(6, "other", 0x5000)
	f.load(8, "later", 0x6000)
	f.load(99, "later", 0x7000) // the counter's own: never counted
	f.run(99, 3, time.Microsecond)
	f.run(8, 3, time.Microsecond)
	f.run(6, 3, time.Microsecond)
	c.Read()
	b := c.Totals()
	if len(b.Rows) != 1 || b.Rows[0].ID != 8 || b.Rows[0].Runs != 3 || !b.Rows[0].New {
		t.Errorf("rows %+v, want program 8 with 3 runs from its load", b.Rows)
	}
}

func TestHistPercentiles(t *testing.T) {
	h := make([]uint64, HistBuckets)
	h[9] = 50  // [512, 1K)
	h[10] = 40 // [1K, 2K)
	h[12] = 10 // [4K, 8K)
	p := HistPercentiles(h)
	if p.Runs != 100 || p.P50 != 1024 || p.P90 != 2048 || p.P99 != 8192 || p.Max != 8192 {
		t.Errorf("%+v", p)
	}
	var out bytes.Buffer
	bw := &errWriter{w: &out}
	writeHist(bw, h, "")
	for _, want := range []string{"[512, 1K)", "[4K, 8K)", "p50 ≤ 1,024 ns", "max < 8,192 ns"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("histogram lacks %q:\n%s", want, out.String())
		}
	}
}

func TestMeanSpread(t *testing.T) {
	b := func(runs uint64) Block {
		return Block{End: time.Second, Events: []Event{evClock}, Rows: []Row{{ID: 1, Runs: runs, Values: []Value{{Method: Sampled, Count: float64(runs)}}}}}
	}
	m := Mean([]Block{b(90), b(100), b(110)})
	r := m.Rows[0]
	// stddev 10, of the mean 10/sqrt(3), relative to 100.
	want := 100 * 10 / math.Sqrt(3) / 100
	if r.Runs != 100 || math.Abs(r.Spread.Runs-want) > 1e-9 || math.Abs(r.Spread.Values[0]-want) > 1e-9 {
		t.Errorf("mean %+v spread %+v, want 100 runs, ±%.4f%%", r, r.Spread, want)
	}
	var out bytes.Buffer
	WriteText(&out, &m, 3)
	if !strings.Contains(out.String(), "( +-  5.77% )") || !strings.Contains(out.String(), "(3 runs)") {
		t.Errorf("text:\n%s", out.String())
	}
}

func TestCSVAndJSON(t *testing.T) {
	r := Row{ID: 9, Name: "p", Type: "xdp", Runs: 4, RunTime: 4000, HasExact: true, ExactRuns: 4,
		Values: []Value{{Method: Exact, Count: 400, Raw: 400, Enabled: 4000, Running: 4000}, {Method: NotCounted}},
		Hist:   append(make([]uint64, 9), 4)}
	b := Block{Start: 0, End: time.Second, Events: []Event{evClock, {Name: "page-faults", Supported: true}}, Rows: []Row{r}}
	var out bytes.Buffer
	if err := WriteCSV(&out, &b, ";", true); err != nil {
		t.Fatal(err)
	}
	rd := csv.NewReader(&out)
	rd.Comma = ';'
	recs, err := rd.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"1.000000000", "p-9", "4", "", "runs", "1000000000", "100.00", "4.00", "/sec", "exact"},
		{"1.000000000", "p-9", "0.00", "msec", "run time", "1000000000", "100.00", "1000.00", "ns per run", "exact"},
		{"1.000000000", "p-9", "0", "", "recursion misses", "1000000000", "100.00", "", "", "exact"},
		{"1.000000000", "p-9", "0.00", "msec", "cpu-clock", "4000", "100.00", "100.00", "ns per run", "exact"},
		{"1.000000000", "p-9", "<not counted>", "", "page-faults", "0", "0.00", "", "", "not counted"},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("CSV\n%q\nwant\n%q", recs, want)
	}
	out.Reset()
	if err := WriteJSON(&out, &b, false, 1); err != nil {
		t.Fatal(err)
	}
	var j JSONRow
	if err := json.Unmarshal(out.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	if j.Interval != nil || j.Runs != 4 || *j.ExactRuns != 4 || j.Events[0].Method != "exact" || j.Events[1].Method != "not counted" ||
		j.Latency == nil || len(j.Latency.Buckets) != 1 || j.Latency.Buckets[0] != (JSONBucket{512, 1024, 4}) {
		t.Errorf("JSON %s", out.String())
	}
}

func TestSortRows(t *testing.T) {
	rows := []Row{{ID: 1, Name: "b", Runs: 5, RunTime: 10}, {ID: 2, Name: "a", Runs: 9, RunTime: 5}}
	SortRows(rows, nil, "run-time")
	if rows[0].ID != 1 {
		t.Errorf("run-time: %v", rows)
	}
	SortRows(rows, nil, "runs")
	if rows[0].ID != 2 {
		t.Errorf("runs: %v", rows)
	}
	SortRows(rows, nil, "name")
	if rows[0].Name != "a" {
		t.Errorf("name: %v", rows)
	}
	if err := SortRows(rows, []Event{evClock}, "bogus"); err == nil || !strings.Contains(err.Error(), "cpu-clock") {
		t.Errorf("bogus key: %v", err)
	}
}

func TestCommas(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := commas(in, 0); got != want {
			t.Errorf("commas(%v) = %q, want %q", in, got, want)
		}
	}
	if got := commas(1234.5, 2); got != "1,234.50" {
		t.Errorf("commas(1234.5, 2) = %q", got)
	}
}

func TestMissMetric(t *testing.T) {
	events := []Event{evInsn, {Name: "cache-misses", Supported: true}, {Name: "page-faults", Supported: true}}
	r := Row{Runs: 10, Values: []Value{{Method: Exact, Count: 2e6}, {Method: Exact, Count: 50}, {Method: Sampled, Count: 30}}}
	if m, ok := metric(events, &r, 1); !ok || m.Unit != "misses per million insns" || m.Value != 25 {
		t.Errorf("cache-misses metric %+v", m)
	}
	if m, ok := metric(events, &r, 2); !ok || m.Unit != "per run" || m.Value != 3 {
		t.Errorf("page-faults metric %+v", m)
	}
}

// TestFallbackNoteNamesTheKernelsReason: with every program counted, one
// without BTF (fentry cannot attach to it) listed first does not give the
// reason for the fallback when a program with BTF is refused too: the
// note is the kernel's refusal, given once.
func TestFallbackNoteNamesTheKernelsReason(t *testing.T) {
	f := newFake()
	f.load(3, "no_btf", 0x2000)
	f.load(4, "with_btf", 0x3000).BTFID = 12
	f.load(5, "with_btf2", 0x4000).BTFID = 13
	c := New(f.sources(), Options{Events: []Event{evClock}, Sampling: true})
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	notes := c.Notes()
	if len(notes) != 1 || !strings.Contains(notes[0], "BPF program 4 (EPERM)") {
		t.Errorf("notes %q, want one naming program 4's refusal", notes)
	}
	f.load(6, "later", 0x5000).BTFID = 14
	f.now += int64(time.Second)
	c.Read()
	if notes := c.Notes(); len(notes) != 0 {
		t.Errorf("notes after the first: %q", notes)
	}
}
