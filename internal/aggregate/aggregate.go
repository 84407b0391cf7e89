// Package aggregate counts identical stacks as samples stream in, so that a
// profile of any length costs memory in proportion to its distinct stacks,
// never to its samples.
//
// An Aggregator is the sampler.Handler that receives the records of a
// recording. It resolves every sampled address through a Resolver, interns the
// resulting frames as locations, and keeps per-stack, per-BPF-program and
// per-(program, source line) counts. Readers such as a live view take
// immutable Snapshots at any time while samples keep arriving.
//
// The package touches no kernel interface: everything it knows about
// addresses comes from the Resolver.
package aggregate

import (
	"cmp"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

// Resolver names sampled addresses at the time they were sampled.
// *symbolize.Symbolizer provides these methods; tests use a fake.
//
// The Frames it returns must intern their Mapping and Prog pointers: one
// pointer per mapping and per program, so that equal pointers mean the same
// object code.
//
// Every address of a call chain but the first is a return address: the
// Aggregator asks for the byte before it, so that a caller's frame gets the
// line of its call instruction rather than of whatever follows the call.
//
// The Aggregator remembers the user frames of each process, and its name,
// until a record says the process changed (MMAP2, COMM, EXIT): a Resolver
// must give the same answer for the same process and address meanwhile.
// User frames without a Mapping are asked for again every time. It also
// remembers the frames of the kernel's own text (Mapping.File KernelFile)
// for good.
type Resolver interface {
	// Kernel resolves a kernel or JITed BPF address.
	Kernel(addr, time uint64) symbolize.Frame
	// User resolves an address in the address space of process pid.
	User(pid uint32, addr, time uint64) symbolize.Frame
	// Comm returns the name of process pid, or "" if unknown.
	Comm(pid uint32) string
}

// SampleTimer is what a Resolver may also be: told once per sample the
// time of the sample whose frames follow (symbolize.Symbolizer keeps what
// samples of that time may still need).
type SampleTimer interface {
	SampleTime(time uint64)
}

// KernelFile is the file name of the kernel's own mapping, whose frames never
// change: a Resolver's Frames for the kernel's text have a Mapping with it.
const KernelFile = "[kernel.kallsyms]"

// Options configure an Aggregator.
type Options struct {
	// Resolver names addresses. It is required.
	Resolver Resolver
	// CallGraph keeps the whole call chain of each sample; without it only
	// the sampled instruction counts.
	CallGraph bool
	// BPFOnly keeps only samples with at least one BPF frame in their stack.
	BPFOnly bool
	// Window, if not 0, bounds what a live view keeps: a stack not
	// sampled for Window (on the samples' clock) is dropped, and so are
	// the locations, programs, lines and addresses that only such stacks
	// used. Snapshots then hold the stacks sampled in about the last
	// Window (up to 1.5 Window: the Aggregator compacts every half
	// Window), with their counts since they were first seen. 0 keeps
	// everything, as a recording does.
	Window time.Duration
}

// Aggregator counts the samples it receives by stack and labels. It is a
// sampler.Handler.
//
// HandleRecord may be called from one goroutine at a time (a sampler.Reader
// does); Snapshot and Counters may be called concurrently with it from any
// goroutine.
type Aggregator struct {
	res       Resolver
	timer     SampleTimer // res, if it is one
	callGraph bool
	bpfOnly   bool
	window    uint64 // Options.Window in ns; 0 keeps everything

	// hmu serialises HandleRecord, whose scratch space and caches below
	// are not shared.
	hmu    sync.Mutex
	frames []symbolize.Frame
	ids    []uint32 // parallel to frames: a location id, or 0 to intern
	keybuf []byte
	// procs caches, per process, the locations of its user addresses and
	// its name, until a record says the process changed.
	procs map[uint32]*procCache
	// kernelLocs caches the locations of addresses in the kernel's text.
	kernelLocs map[uint64]uint32

	// mu guards everything below. Locations, location info and stack
	// location lists are append-only, so Snapshots share them.
	mu         sync.Mutex
	locIndex   map[locKey]uint32
	locs       []symbolize.Frame
	locInfo    []locInfo
	progIndex  map[*symbolize.Prog]uint32
	progs      []progCount
	lineIndex  map[lineKey]uint32
	lines      []lineCount
	addrs      []addrCount
	commIndex  map[string]uint32
	comms      []string
	stackIndex map[string]uint32
	stacks     []stackCount
	// lastStacks are the Stacks of the latest Snapshot, and touched the
	// indexes of the stacks counted since: the next Snapshot copies the
	// one and updates the other, rather than building every Stack anew.
	lastStacks []Stack
	touched    []uint32
	arena      []uint32
	// trackers are the Trackers taken, whose counts of the previous
	// Delta a compaction renumbers with the counts it keeps.
	trackers []*Tracker
	// compactAt is the sample time of the next compaction by the Window.
	compactAt  uint64
	counters   Counters
	start, end uint64
}

// locKey identifies a location: an address in one piece of object code.
// Resolvers intern Mapping and Prog pointers, so the pointers stand for the
// object; pid separates user addresses whose mapping is unknown.
type locKey struct {
	mapping *symbolize.Mapping
	prog    *symbolize.Prog
	addr    uint64
	pid     uint32
	kind    symbolize.Kind
}

// locInfo is what the counters need to know about a location, worked out
// once when it is interned.
type locInfo struct {
	prog uint32 // index+1 into progs for BPF frames, 0 otherwise
	line uint32 // index+1 into lines for BPF frames, 0 otherwise
	addr uint32 // index+1 into addrs for BPF frames, 0 otherwise
}

type lineKey struct {
	prog       *symbolize.Prog
	fn, file   string
	line       uint32
	systemName string
}

// procCache is what the Aggregator remembers of a process, to save
// resolving the same user addresses again and again.
type procCache struct {
	locs    map[uint64]uint32 // user address → location id
	comm    string
	hasComm bool
	// last is the time of its latest sample: a Window forgets a process
	// not sampled for a window, whose EXIT record may have been lost.
	last uint64
}

type progCount struct {
	prog                *symbolize.Prog
	samples, self, time uint64
	seq                 int // the order first seen, for ProgramsSeen
}

type lineCount struct {
	prog                *symbolize.Prog
	fn, file, source    string
	line                uint32
	samples, self, time uint64
}

// addrCount counts the samples at one address of a BPF program's JIT
// image: those whose innermost BPF frame is there, and among them those
// whose leaf is that instruction.
type addrCount struct {
	loc                   uint32 // location id
	prog                  uint32 // index+1 into progs
	samples, self, period uint64
}

type stackCount struct {
	locs          []uint32
	pid, tid, cpu uint32
	comm          uint32 // index into comms
	prog          uint32 // index+1 into progs, 0 without a BPF frame
	count, period uint64
	last          uint64 // time of the latest sample
	touched       bool   // in Aggregator.touched
}

// New returns an Aggregator. It fails only without a Resolver.
func New(opts Options) (*Aggregator, error) {
	if opts.Resolver == nil {
		return nil, errNoResolver
	}
	timer, _ := opts.Resolver.(SampleTimer)
	return &Aggregator{
		res:        opts.Resolver,
		timer:      timer,
		callGraph:  opts.CallGraph,
		bpfOnly:    opts.BPFOnly,
		window:     uint64(max(opts.Window, 0)),
		locIndex:   make(map[locKey]uint32),
		progIndex:  make(map[*symbolize.Prog]uint32),
		lineIndex:  make(map[lineKey]uint32),
		commIndex:  map[string]uint32{"": 0},
		comms:      []string{""},
		stackIndex: make(map[string]uint32),
		procs:      make(map[uint32]*procCache),
		kernelLocs: make(map[uint64]uint32),
	}, nil
}

// HandleRecord counts a sample, or the lost, throttle and BPF program
// load/unload records among the side-band. It keeps nothing of r itself.
func (a *Aggregator) HandleRecord(r sampler.Record) {
	switch r := r.(type) {
	case *sampler.Sample:
		a.hmu.Lock()
		a.sample(r)
		a.hmu.Unlock()
	case *sampler.Lost:
		a.count(r.Time, func(c *Counters) { c.Lost += r.Lost })
	case *sampler.LostSamples:
		a.count(r.Time, func(c *Counters) { c.LostSamples += r.Lost })
	case *sampler.Throttle:
		a.count(r.Time, func(c *Counters) {
			if r.Unthrottle {
				c.Unthrottles++
			} else {
				c.Throttles++
			}
		})
	case *sampler.BPFEvent:
		a.count(r.Time, func(c *Counters) {
			switch r.Type {
			case sampler.BPFEventProgLoad:
				c.ProgLoads++
			case sampler.BPFEventProgUnload:
				c.ProgUnloads++
			}
		})
	case *sampler.KSymbol:
		a.count(r.Time, nil)
	case *sampler.Mmap2:
		// A new mapping may cover addresses resolved before.
		a.forget(r.PID, true, false)
		a.count(r.Time, nil)
	case *sampler.Comm:
		if r.Exec || r.PID == r.TID {
			a.forget(r.PID, r.Exec, true)
		}
		a.count(r.Time, nil)
	case *sampler.Fork:
		a.count(r.Time, nil)
	case *sampler.Exit:
		if r.PID == r.TID {
			// The process is gone; its pid may come back as another.
			a.forget(r.PID, true, true)
		}
		a.count(r.Time, nil)
	}
}

// forget drops what is cached of process pid: its user locations, its name.
func (a *Aggregator) forget(pid uint32, locs, comm bool) {
	a.hmu.Lock()
	defer a.hmu.Unlock()
	pc := a.procs[pid]
	switch {
	case pc == nil:
	case locs && comm:
		delete(a.procs, pid)
	case locs:
		pc.locs = nil
	case comm:
		pc.comm, pc.hasComm = "", false
	}
}

func (a *Aggregator) count(time uint64, f func(*Counters)) {
	a.mu.Lock()
	a.seen(time)
	if f != nil {
		f(&a.counters)
	}
	a.mu.Unlock()
}

// seen widens the time span to include t. mu must be held.
func (a *Aggregator) seen(t uint64) {
	if t == 0 {
		return // a record without sample_id_all time
	}
	if a.start == 0 || t < a.start {
		a.start = t
	}
	if t > a.end {
		a.end = t
	}
}

// sample resolves and counts s. hmu must be held; the Resolver is called
// without mu so that Snapshots do not wait for symbolization.
func (a *Aggregator) sample(s *sampler.Sample) {
	a.frames, a.ids = a.frames[:0], a.ids[:0]
	if a.timer != nil {
		a.timer.SampleTime(s.Time)
	}
	pc := a.procs[s.PID]
	if pc == nil {
		pc = &procCache{}
		a.procs[s.PID] = pc
	}
	pc.last = max(pc.last, s.Time)
	switch {
	case len(s.Kernel) == 0 && len(s.User) == 0:
		a.resolve(s, pc, s.IP, symbolize.KernelAddr(s.IP), true)
	case !a.callGraph:
		if len(s.Kernel) > 0 {
			a.resolve(s, pc, s.Kernel[0], true, true)
		} else {
			a.resolve(s, pc, s.User[0], false, true)
		}
	default:
		for i, addr := range s.Kernel {
			a.resolve(s, pc, addr, true, i == 0)
		}
		for i, addr := range s.User {
			n := len(a.frames)
			a.resolve(s, pc, addr, false, i == 0 && len(s.Kernel) == 0)
			// A caller in no mapping is junk read as a return address
			// by unwinding through code without frame pointers; its
			// own callers are no better. Ending the chain there keeps
			// it from rooting the stack in "[unknown]". The user leaf
			// stays: the thread really ran there.
			if i > 0 && len(a.frames) > n && a.ids[n] == 0 && a.frames[n].Mapping == nil {
				a.frames, a.ids = a.frames[:n], a.ids[:n]
				break
			}
		}
	}
	if len(a.frames) == 0 {
		// Only impossible user addresses: the sample keeps its leaf, an
		// unknown frame, rather than no stack at all.
		leaf := s.IP
		if len(s.User) > 0 {
			leaf = s.User[0]
		}
		a.frames = append(a.frames, a.res.User(s.PID, leaf, s.Time))
		a.ids = append(a.ids, 0)
	}
	if !pc.hasComm {
		pc.comm, pc.hasComm = a.res.Comm(s.PID), true
	}
	comm := pc.comm

	// The innermost BPF frame gives the sample its program labels.
	bpf := -1
	for i := range a.frames {
		if a.frames[i].Kind == symbolize.KindBPF && a.frames[i].Prog != nil {
			bpf = i
			break
		}
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	a.seen(s.Time)
	a.counters.Samples++
	if bpf >= 0 {
		a.counters.BPFSamples++
	} else if a.bpfOnly {
		a.counters.Dropped++
		return
	}
	for i := range a.frames {
		if a.ids[i] != 0 {
			continue
		}
		f := &a.frames[i]
		a.ids[i] = a.intern(f, s.PID)
		switch {
		case f.Kind == symbolize.KindUser && f.Mapping != nil:
			// Only addresses in a known mapping: for others the
			// Resolver may learn the mapping later.
			if pc.locs == nil {
				pc.locs = make(map[uint64]uint32)
			}
			pc.locs[f.Addr] = a.ids[i]
		case f.Kind == symbolize.KindKernel && f.Mapping != nil && f.Mapping.File == KernelFile &&
			f.Mapping.Start <= f.Addr && f.Addr < f.Mapping.Limit:
			// The kernel's own text never changes, unlike modules'
			// and BPF programs' addresses, which are reused. An
			// address outside its text that the Resolver could not
			// place may be a program whose load it has not seen yet.
			a.kernelLocs[f.Addr] = a.ids[i]
		}
	}
	commID, ok := a.commIndex[comm]
	if !ok {
		commID = uint32(len(a.comms))
		a.comms = append(a.comms, comm)
		a.commIndex[comm] = commID
	}
	var prog uint32
	if bpf >= 0 {
		info := a.locInfo[a.ids[bpf]-1]
		prog = info.prog
		self := bpf == 0
		p := &a.progs[prog-1]
		p.samples++
		p.time += s.Period
		if info.addr != 0 {
			ac := &a.addrs[info.addr-1]
			ac.samples++
			ac.period += s.Period
			if self {
				ac.self++
			}
		}
		if info.line != 0 {
			l := &a.lines[info.line-1]
			l.samples++
			l.time += s.Period
			if self {
				l.self++
			}
		}
		if self {
			p.self++
		}
	}

	a.keybuf = a.keybuf[:0]
	for _, v := range [...]uint32{s.PID, s.TID, s.CPU, commID, prog} {
		a.keybuf = binary.LittleEndian.AppendUint32(a.keybuf, v)
	}
	for _, id := range a.ids {
		a.keybuf = binary.LittleEndian.AppendUint32(a.keybuf, id)
	}
	// The compiler does not allocate for a string conversion used only as
	// a map index.
	if i, ok := a.stackIndex[string(a.keybuf)]; ok {
		st := &a.stacks[i]
		st.count++
		st.period += s.Period
		st.last = max(st.last, s.Time)
		if !st.touched && int(i) < len(a.lastStacks) {
			st.touched = true
			a.touched = append(a.touched, i)
		}
		a.counters.Kept++
		a.maybeCompact()
		return
	}
	a.stackIndex[string(a.keybuf)] = uint32(len(a.stacks))
	a.stacks = append(a.stacks, stackCount{
		locs:   a.alloc(a.ids),
		pid:    s.PID,
		tid:    s.TID,
		cpu:    s.CPU,
		comm:   commID,
		prog:   prog,
		count:  1,
		period: s.Period,
		last:   s.Time,
	})
	a.counters.Kept++
	a.maybeCompact()
}

// User code runs at or above minUserAddr, as the kernel never maps page
// zero, and below maxUserAddr: no user address space is larger than 56 bits
// (x86-64 with 5-level paging; arm64 has at most 52). Frame-pointer
// unwinding ends user call chains in a return address of 0 (the outermost
// frame's saved one), and chains through code without frame pointers read
// data as return addresses; such frames would gather the profile under one
// "[unknown]" root.
const (
	minUserAddr = 4096
	maxUserAddr = 1 << 56
)

// possibleUserAddr reports whether user code can run at addr.
func possibleUserAddr(addr uint64) bool { return addr >= minUserAddr && addr < maxUserAddr }

// resolve appends the frame of addr to a.frames, unless addr is a user
// address no code can run at. Every address but the leaf of a stack is a
// return address: resolving the byte before it names the call instruction,
// so the caller's line is the line of the call rather than of whatever
// follows it.
//
// Addresses resolved before, and cached, get their id at once and a frame
// with only its Kind set.
func (a *Aggregator) resolve(s *sampler.Sample, pc *procCache, addr uint64, kernel, leaf bool) {
	if !kernel && !possibleUserAddr(addr) {
		return
	}
	if !leaf && addr > 0 {
		addr--
	}
	if kernel {
		if id := a.kernelLocs[addr]; id != 0 {
			a.frames = append(a.frames, symbolize.Frame{Kind: symbolize.KindKernel})
			a.ids = append(a.ids, id)
			return
		}
		a.frames = append(a.frames, a.res.Kernel(addr, s.Time))
		a.ids = append(a.ids, 0)
		return
	}
	if id := pc.locs[addr]; id != 0 {
		a.frames = append(a.frames, symbolize.Frame{Kind: symbolize.KindUser})
		a.ids = append(a.ids, id)
		return
	}
	a.frames = append(a.frames, a.res.User(s.PID, addr, s.Time))
	a.ids = append(a.ids, 0)
}

// intern returns the location id (from 1) of f, adding it if new. mu must
// be held.
func (a *Aggregator) intern(f *symbolize.Frame, pid uint32) uint32 {
	k := locKey{mapping: f.Mapping, prog: f.Prog, addr: f.Addr, kind: f.Kind}
	if f.Mapping == nil && f.Kind == symbolize.KindUser {
		k.pid = pid
	}
	if id, ok := a.locIndex[k]; ok {
		return id
	}
	var info locInfo
	if f.Kind == symbolize.KindBPF && f.Prog != nil {
		p, ok := a.progIndex[f.Prog]
		if !ok {
			a.progs = append(a.progs, progCount{prog: f.Prog, seq: a.counters.ProgramsSeen})
			p = uint32(len(a.progs))
			a.progIndex[f.Prog] = p
			a.counters.ProgramsSeen++
		}
		info.prog = p
		lk := lineKey{prog: f.Prog, fn: f.Func, systemName: f.SystemName, file: f.File, line: f.Line}
		l, ok := a.lineIndex[lk]
		if !ok {
			a.lines = append(a.lines, lineCount{prog: f.Prog, fn: f.Func, file: f.File, line: f.Line, source: f.Source})
			l = uint32(len(a.lines))
			a.lineIndex[lk] = l
		}
		info.line = l
	}
	a.locs = append(a.locs, *f)
	id := uint32(len(a.locs))
	if info.prog != 0 {
		a.addrs = append(a.addrs, addrCount{loc: id, prog: info.prog})
		info.addr = uint32(len(a.addrs))
	}
	a.locInfo = append(a.locInfo, info)
	a.locIndex[k] = id
	return id
}

// alloc copies ids into the arena, which grows by whole new chunks so that
// slices handed out earlier, and shared by Snapshots, never move or change.
func (a *Aggregator) alloc(ids []uint32) []uint32 {
	if len(ids) > cap(a.arena)-len(a.arena) {
		a.arena = make([]uint32, 0, max(4096, len(ids)))
	}
	n := len(a.arena)
	a.arena = append(a.arena, ids...)
	return a.arena[n : n+len(ids) : n+len(ids)]
}

// Counters returns the running totals, cheaply: for a progress line.
func (a *Aggregator) Counters() Counters {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counters
}

// Snapshot returns an immutable copy of everything counted so far. It costs
// time in proportion to the distinct stacks, lines and programs, not to the
// samples, and does not stop the aggregation for longer than that copy:
// the stacks of the previous Snapshot are copied whole, and only those
// counted since, or new, are built again.
func (a *Aggregator) Snapshot() *Snapshot {
	a.mu.Lock()
	s := &Snapshot{
		Start:     a.start,
		End:       a.end,
		Counters:  a.counters,
		Locations: a.locs[:len(a.locs):len(a.locs)],
		Stacks:    make([]Stack, len(a.stacks)),
		Programs:  make([]Program, len(a.progs)),
		Lines:     make([]Line, len(a.lines)),
	}
	for _, ac := range a.addrs {
		if ac.samples != 0 {
			s.Addrs = append(s.Addrs, a.addr(&ac, ac.samples, ac.self, ac.period))
		}
	}
	copy(s.Stacks, a.lastStacks)
	for _, i := range a.touched {
		st := &a.stacks[i]
		s.Stacks[i].Count, s.Stacks[i].Period = st.count, st.period
		st.touched = false
	}
	a.touched = a.touched[:0]
	for i := len(a.lastStacks); i < len(a.stacks); i++ {
		st := &a.stacks[i]
		s.Stacks[i] = Stack{
			Locations: st.locs,
			PID:       st.pid,
			TID:       st.tid,
			CPU:       st.cpu,
			Comm:      a.comms[st.comm],
			Count:     st.count,
			Period:    st.period,
		}
		if st.prog != 0 {
			s.Stacks[i].Prog = a.progs[st.prog-1].prog
		}
	}
	a.lastStacks = s.Stacks
	for i, p := range a.progs {
		s.Programs[i] = Program{Prog: p.prog, Samples: p.samples, Self: p.self, Period: p.time}
	}
	for i, l := range a.lines {
		s.Lines[i] = Line{
			Prog: l.prog, Func: l.fn, File: l.file, Line: l.line, Source: l.source,
			Samples: l.samples, Self: l.self, Period: l.time,
		}
	}
	a.mu.Unlock()

	sortPrograms(s.Programs)
	sortLines(s.Lines)
	sortAddrs(s.Addrs)
	return s
}

// addr returns the Addr of ac with the given counts. mu must be held.
func (a *Aggregator) addr(ac *addrCount, samples, self, period uint64) Addr {
	f := &a.locs[ac.loc-1]
	return Addr{Prog: a.progs[ac.prog-1].prog, Addr: f.Addr, Func: f.Func, Location: ac.loc, Samples: samples, Self: self, Period: period}
}

// sortAddrs sorts addresses by program id, then address.
func sortAddrs(as []Addr) {
	slices.SortFunc(as, func(x, y Addr) int {
		return cmp.Or(cmp.Compare(x.Prog.ID, y.Prog.ID), cmp.Compare(x.Addr, y.Addr))
	})
}

// sortPrograms sorts programs by samples, most first, then by id.
func sortPrograms(ps []Program) {
	slices.SortStableFunc(ps, func(x, y Program) int {
		return cmp.Or(cmp.Compare(y.Samples, x.Samples), cmp.Compare(x.Prog.ID, y.Prog.ID))
	})
}

// sortLines sorts lines by program id, file, line and function.
func sortLines(ls []Line) {
	slices.SortStableFunc(ls, func(x, y Line) int {
		return cmp.Or(
			cmp.Compare(x.Prog.ID, y.Prog.ID),
			cmp.Compare(x.File, y.File),
			cmp.Compare(x.Line, y.Line),
			cmp.Compare(x.Func, y.Func),
		)
	})
}

// ProgramsSeen returns the BPF programs seen in samples, in the order first
// seen, from the from-th on (0 for all), and the from of the next call: a
// consumer that keeps it asks only for the new ones. With a Window,
// programs dropped meanwhile are left out.
func (a *Aggregator) ProgramsSeen(from int) (progs []*symbolize.Prog, next int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	i, _ := slices.BinarySearchFunc(a.progs, from, func(p progCount, seq int) int { return cmp.Compare(p.seq, seq) })
	for _, p := range a.progs[i:] {
		progs = append(progs, p.prog)
	}
	return progs, a.counters.ProgramsSeen
}
