package stat

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/sampler"
)

// ExactCounter attaches exact counters to programs; *Fentry is one.
type ExactCounter interface {
	// Attach starts counting p exactly, or says why it cannot.
	Attach(p *bpfprog.Program) error
	// Read returns p's cumulative counts; false if it is not attached.
	Read(id bpfprog.ID) (ExactCounts, bool)
	// Detach stops counting the program.
	Detach(id bpfprog.ID)
	// Owns reports whether id is a program of the counter itself, which
	// is never counted.
	Owns(id bpfprog.ID) bool
}

// Sources are the kernel edges a Counter reads; tests give fakes.
type Sources struct {
	// List lists every loaded program with its stats (bpfprog.List).
	List func() ([]bpfprog.Program, error)
	// Program reads one program (bpfprog.Get).
	Program func(bpfprog.ID) (*bpfprog.Program, error)
	// Snapshot reads every program's run-time counters
	// (bpfprog.Stats.Snapshot).
	Snapshot func() (*bpfprog.Snapshot, error)
	// Exact attaches exact counters; nil counts every event by sampling.
	Exact ExactCounter
	// Now reads CLOCK_BOOTTIME in ns, the clock of Snapshot.Time; nil
	// reads the kernel's.
	Now func() int64
}

// Options say what a Counter counts.
type Options struct {
	// Selectors pick programs, as bpftool does; none picks every program,
	// and then blocks leave out programs that did nothing.
	Selectors []bpfprog.Selector
	// Events are counted per program, exactly where Exact attaches and by
	// sampling elsewhere. The supported ones, in this order, are the
	// events of Exact and the event indexes of AddSample.
	Events []Event
	// Sampling says samples of the events arrive through AddSample; without
	// it, an event not counted exactly is <not counted>.
	Sampling bool
}

// Counter accumulates per-program counts. AddSample, ProgramLoaded and
// ProgramUnloaded may be called from a sampler's goroutine while another
// calls Read, Interval and Totals.
type Counter struct {
	src  Sources
	opts Options
	sel  []bpfprog.Selector // pinned selectors resolved to IDs

	mu    sync.Mutex   // guards what follows, but not rmu's
	progs []*progState // in order of discovery
	byID  map[bpfprog.ID]*progState
	// rmu, the lock every sample takes, guards only the image table and
	// each program's live counts: no kernel I/O under it.
	rmu     sync.Mutex
	ranges  []jitRange // sorted by start, disjoint
	ignored map[bpfprog.ID]bool
	start   int64 // boot ns of the first reading
	prevAt  int64 // boot ns of the reading before the current interval
	lastAt  int64 // boot ns of the latest reading
	notes   []string
	noted   bool
	// exactNote says why exact counting is unavailable until Notes gives
	// it out; exactNoteBTF says it came from a program with BTF, whose
	// refusal is the machine's reason (one without BTF only says why
	// that program cannot be counted exactly).
	exactNote    string
	exactNoteBTF bool
}

type progState struct {
	id         bpfprog.ID
	bootLoad   int64 // load time from the snapshots, 0 until seen in one
	name, typ  string
	isNew      bool
	gone       bool
	exact      bool
	exactError error
	ranges     [][2]uint64
	live       []sampledCount // updated by AddSample, under rmu
	base       counts         // at the start, or zero for a new program
	prev       counts         // at the start of the current interval
	last       counts         // at the latest Read
}

type counts struct {
	stats   bpfprog.RunStats
	exact   ExactCounts
	sampled []sampledCount
}

type sampledCount struct{ period, samples uint64 }

type jitRange struct {
	start, end uint64
	p          *progState
}

// New returns a Counter reading src. Call Start before anything else.
func New(src Sources, opts Options) *Counter {
	return &Counter{src: src, opts: opts, byID: map[bpfprog.ID]*progState{}, ignored: map[bpfprog.ID]bool{}}
}

// Start lists the programs, picks those of the selectors and attaches the
// exact counters it can. An id or pinned selector that picks nothing is an
// error matching bpfprog.ErrNotFound; a name or tag selector that picks
// nothing yet is noted, and counts the programs it matches once they load.
func (c *Counter) Start() error {
	progs, err := c.src.List()
	if err != nil {
		return err
	}
	picked := map[bpfprog.ID]bool{}
	for _, s := range c.opts.Selectors {
		got, err := bpfprog.Select(progs, s)
		if errors.Is(err, bpfprog.ErrNotFound) && (s.Kind == bpfprog.SelectName || s.Kind == bpfprog.SelectTag) {
			c.notes = append(c.notes, fmt.Sprintf("no program matches %s yet: it is counted from its load", s))
			c.sel = append(c.sel, s)
			continue
		}
		if err != nil {
			return err
		}
		if s.Kind == bpfprog.SelectPinned {
			s = bpfprog.Selector{Kind: bpfprog.SelectID, ID: got[0].ID}
		}
		c.sel = append(c.sel, s)
		for _, p := range got {
			picked[p.ID] = true
		}
	}
	if c.src.Now == nil {
		c.src.Now = bootNow
	}
	c.mu.Lock()
	for i := range progs {
		p := &progs[i]
		if len(c.sel) > 0 && !picked[p.ID] {
			c.ignored[p.ID] = true
			continue
		}
		c.add(p, false)
	}
	c.mu.Unlock()
	// Counting begins once every counter is attached (which takes a while
	// on a slow machine): the base reading of the stats comes after, so
	// the stats and the exact counters cover the same runs.
	if err := c.Read(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.progs {
		st.isNew = false
		st.base, st.prev = st.last, st.last
	}
	c.start, c.prevAt = c.lastAt, c.lastAt
	return nil
}

// add starts following p. Called with mu held.
func (c *Counter) add(p *bpfprog.Program, isNew bool) *progState {
	st := &progState{
		id:    p.ID,
		name:  p.FullName,
		typ:   p.Type.String(),
		isNew: isNew,
		live:  make([]sampledCount, c.supported()),
	}
	if st.name == "" {
		st.name = p.Name
	}
	if old := c.byID[p.ID]; old != nil {
		c.retire(old)
	}
	c.progs = append(c.progs, st)
	c.byID[p.ID] = st
	for i, addr := range p.JitedKsyms {
		if i < len(p.JitedFuncLens) && addr != 0 {
			st.ranges = append(st.ranges, [2]uint64{addr, addr + uint64(p.JitedFuncLens[i])})
		}
	}
	c.addRanges(st)
	if c.src.Exact != nil && c.supported() > 0 {
		if err := c.src.Exact.Attach(p); err != nil {
			st.exactError = err
			if !c.noted && (c.exactNote == "" || !c.exactNoteBTF && p.BTFID != 0) {
				c.exactNote = fmt.Sprintf("exact counting unavailable: %v; counts are sampled", err)
				c.exactNoteBTF = p.BTFID != 0
			}
		} else {
			st.exact = true
		}
	}
	return st
}

func (c *Counter) supported() int {
	n := 0
	for _, e := range c.opts.Events {
		if e.Supported {
			n++
		}
	}
	return n
}

// retire marks st unloaded: it keeps its counts, but stops being counted.
// Called with mu held.
func (c *Counter) retire(st *progState) {
	if st.gone {
		return
	}
	st.gone = true
	c.removeRanges(st)
	if st.exact {
		if ec, ok := c.src.Exact.Read(st.id); ok {
			st.last.exact = ec
		}
		c.src.Exact.Detach(st.id)
	}
	if c.byID[st.id] == st {
		delete(c.byID, st.id)
	}
}

func (c *Counter) addRanges(st *progState) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for _, r := range st.ranges {
		// A range of an unloaded program may linger until its unload is
		// seen: the kernel reuses JIT addresses, the newest owner wins.
		c.ranges = slices.DeleteFunc(c.ranges, func(o jitRange) bool { return o.start < r[1] && r[0] < o.end })
		c.ranges = append(c.ranges, jitRange{r[0], r[1], st})
	}
	slices.SortFunc(c.ranges, func(a, b jitRange) int { return cmp.Compare(a.start, b.start) })
}

func (c *Counter) removeRanges(st *progState) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.ranges = slices.DeleteFunc(c.ranges, func(o jitRange) bool { return o.p == st })
}

// Notes returns the messages to show once, such as why exact counting is
// unavailable, and forgets them.
func (c *Counter) Notes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.notes
	c.notes = nil
	if c.exactNote != "" && !c.noted {
		c.noted = true
		n = append(n, c.exactNote)
	}
	return n
}

// AddSample attributes one sample of event (an index into the supported
// events of Options.Events)
// at instruction pointer ip, standing for period events, to the program
// whose JIT image holds ip, if it is counted.
func (c *Counter) AddSample(event int, ip, period uint64) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	i, found := slices.BinarySearchFunc(c.ranges, ip, func(r jitRange, ip uint64) int { return cmp.Compare(r.start, ip) })
	if !found {
		i--
	}
	if i < 0 || ip >= c.ranges[i].end || event < 0 {
		return
	}
	st := c.ranges[i].p
	if event < len(st.live) {
		st.live[event].period += period
		st.live[event].samples++
	}
}

// ProgramLoaded tells the Counter that the program with id was loaded (a
// PERF_RECORD_BPF_EVENT), so samples in its JIT image count from now on if
// it is selected. It reads the program from the kernel.
func (c *Counter) ProgramLoaded(id bpfprog.ID) {
	p, err := c.src.Program(id)
	if err != nil {
		return // gone already, or not readable: Read will see
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.consider(p)
}

// consider adds p if it is selected and new. Called with mu held.
func (c *Counter) consider(p *bpfprog.Program) {
	if st := c.byID[p.ID]; st != nil || c.ignored[p.ID] {
		return
	}
	if !c.selected(p) || (c.src.Exact != nil && c.src.Exact.Owns(p.ID)) {
		c.ignored[p.ID] = true
		return
	}
	c.add(p, true)
}

func (c *Counter) selected(p *bpfprog.Program) bool {
	if len(c.sel) == 0 {
		return true
	}
	for _, s := range c.sel {
		if s.Match(p) {
			return true
		}
	}
	return false
}

// HandleRecord makes a Counter a sampler.Handler: samples count for the
// program whose JIT image holds their IP, program loads and unloads keep
// the image table right: the Handler of a RawOnly session.Session. The
// sampled events must be the supported events
// of Options.Events, in order.
func (c *Counter) HandleRecord(r sampler.Record) {
	switch r := r.(type) {
	case *sampler.Sample:
		c.AddSample(r.Event, r.IP, r.Period)
	case *sampler.BPFEvent:
		switch r.Type {
		case sampler.BPFEventProgLoad:
			c.ProgramLoaded(bpfprog.ID(r.ProgID))
		case sampler.BPFEventProgUnload:
			c.ProgramUnloaded(bpfprog.ID(r.ProgID))
		}
	}
}

// ProgramUnloaded tells the Counter that the program with id was unloaded,
// so its JIT addresses, which the kernel reuses, stop counting for it.
func (c *Counter) ProgramUnloaded(id bpfprog.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.byID[id]; st != nil {
		c.retire(st)
	}
}

// Read takes a reading of every counted program: run-time stats, exact
// counters and the samples so far. Programs seen for the first time are
// picked up (counted from their load), programs gone are marked so.
// Interval and Totals report up to the latest Read.
func (c *Counter) Read() error {
	snap, err := c.src.Snapshot()
	if err != nil {
		return err
	}
	// The exact counters are read right after the stats, before anything
	// slow, so that both cover the same runs; map lookups, outside the
	// lock.
	c.mu.Lock()
	var exact []*progState
	for _, st := range c.progs {
		if st.exact && !st.gone {
			exact = append(exact, st)
		}
	}
	c.mu.Unlock()
	readings := make(map[*progState]ExactCounts, len(exact))
	for _, st := range exact {
		if ec, ok := c.src.Exact.Read(st.id); ok {
			readings[st] = ec
		}
	}

	// Programs not seen before are read outside the lock. A known ID
	// with another load time was reused by a new program.
	present := map[bpfprog.ID]bpfprog.Sample{}
	var unknown []bpfprog.ID
	c.mu.Lock()
	for _, s := range snap.Samples {
		present[s.ID] = s
		st := c.byID[s.ID]
		if st != nil && st.bootLoad != 0 && st.bootLoad != s.LoadTime {
			c.retire(st)
			delete(c.ignored, s.ID)
			st = nil
		}
		if st == nil && !c.ignored[s.ID] {
			unknown = append(unknown, s.ID)
		}
	}
	c.mu.Unlock()
	var fresh []*bpfprog.Program
	for _, id := range unknown {
		if p, err := c.src.Program(id); err == nil {
			fresh = append(fresh, p)
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range fresh {
		c.consider(p)
	}
	for id := range c.ignored {
		if _, ok := present[id]; !ok {
			delete(c.ignored, id)
		}
	}
	for _, st := range c.progs {
		if st.gone {
			continue
		}
		s, ok := present[st.id]
		if !ok || c.byID[st.id] != st || (st.bootLoad != 0 && st.bootLoad != s.LoadTime) {
			c.retire(st)
			continue
		}
		st.bootLoad = s.LoadTime
		st.last.stats = s.RunStats
		if ec, ok := readings[st]; ok {
			st.last.exact = ec
		}
	}
	// Gone programs keep the samples they had up to their unload.
	c.rmu.Lock()
	for _, st := range c.progs {
		st.last.sampled = append(st.last.sampled[:0:0], st.live...)
	}
	c.rmu.Unlock()
	c.lastAt = snap.Time
	return nil
}

// Interval returns what happened between the previous Interval (or Start)
// and the latest Read, and starts the next interval there. Programs gone
// before the interval began are left out.
func (c *Counter) Interval() Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.block(c.prevAt, func(st *progState) *counts { return &st.prev })
	for _, st := range c.progs {
		st.prev = st.last
	}
	c.prevAt = c.lastAt
	c.prune()
	return b
}

// Totals returns what happened between Start and the latest Read.
func (c *Counter) Totals() Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.block(c.start, func(st *progState) *counts { return &st.base })
}

// prune forgets gone programs that nothing counted, so a long run over
// churning programs does not grow. Called with mu held.
func (c *Counter) prune() {
	if len(c.opts.Selectors) > 0 {
		return
	}
	c.progs = slices.DeleteFunc(c.progs, func(st *progState) bool {
		return st.gone && st.last.stats.RunCount == st.base.stats.RunCount && sampledZero(st.last.sampled)
	})
}

func sampledZero(s []sampledCount) bool {
	for _, v := range s {
		if v.samples > 0 {
			return false
		}
	}
	return true
}

func (c *Counter) block(from int64, ref func(*progState) *counts) Block {
	b := Block{
		Start:  time.Duration(from - c.start),
		End:    time.Duration(c.lastAt - c.start),
		Events: slices.Clone(c.opts.Events),
	}
	for _, st := range c.progs {
		r := c.row(st, ref(st))
		if r == nil {
			continue
		}
		b.Rows = append(b.Rows, *r)
	}
	return b
}

func (c *Counter) row(st *progState, ref *counts) *Row {
	cur := &st.last
	r := &Row{
		ID:              st.id,
		Name:            st.name,
		Type:            st.typ,
		New:             st.isNew,
		Gone:            st.gone,
		Runs:            cur.stats.RunCount - min(ref.stats.RunCount, cur.stats.RunCount),
		RunTime:         cur.stats.RunTime - min(ref.stats.RunTime, cur.stats.RunTime),
		RecursionMisses: cur.stats.RecursionMisses - min(ref.stats.RecursionMisses, cur.stats.RecursionMisses),
		HasExact:        st.exact,
	}
	if st.exact {
		r.ExactRuns = cur.exact.Runs - min(ref.exact.Runs, cur.exact.Runs)
		if cur.exact.Hist != nil {
			r.Hist = make([]uint64, len(cur.exact.Hist))
			for i, v := range cur.exact.Hist {
				var old uint64
				if i < len(ref.exact.Hist) {
					old = ref.exact.Hist[i]
				}
				r.Hist[i] = v - min(old, v)
			}
		}
	}
	anySamples := false
	k := -1 // index among the supported events
	for _, ev := range c.opts.Events {
		var v Value
		if ev.Supported {
			k++
		}
		i := k
		switch {
		case !ev.Supported:
			v.Method = NotSupported
		case st.exact:
			var old, now Reading
			if i < len(ref.exact.Events) {
				old = ref.exact.Events[i]
			}
			if i < len(cur.exact.Events) {
				now = cur.exact.Events[i]
			}
			v.Raw = now.Counter - min(old.Counter, now.Counter)
			v.Enabled = now.Enabled - min(old.Enabled, now.Enabled)
			v.Running = now.Running - min(old.Running, now.Running)
			v.Method = Exact
			if v.Running == 0 {
				v.Method = NotCounted
			}
			v.Count, _ = Scaled(v.Raw, v.Enabled, v.Running)
		case c.opts.Sampling && i < len(cur.sampled):
			var old sampledCount
			if i < len(ref.sampled) {
				old = ref.sampled[i]
			}
			v.Method = Sampled
			v.Raw = cur.sampled[i].period - min(old.period, cur.sampled[i].period)
			v.Samples = cur.sampled[i].samples - min(old.samples, cur.sampled[i].samples)
			v.Count = float64(v.Raw)
			anySamples = anySamples || v.Samples > 0
		default:
			v.Method = NotCounted
		}
		r.Values = append(r.Values, v)
	}
	if len(c.opts.Selectors) == 0 && r.Runs == 0 && !anySamples {
		return nil // every program: leave out those that did nothing
	}
	if st.gone && r.Runs == 0 && !anySamples && ref != &st.base {
		return nil
	}
	return r
}

// bootNow reads CLOCK_BOOTTIME, the clock of bpfprog's snapshots.
func bootNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Now().UnixNano()
	}
	return ts.Nano()
}
