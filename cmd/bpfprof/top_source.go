package main

import (
	"context"
	"fmt"
	"log"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/session"
	"github.com/bpfprof/bpfprof/tui"
)

// Programs' facts that need a walk over /proc and every link (owners,
// attach points) are read again when the set of programs changed, at most
// every factsMinAge, and otherwise every factsMaxAge. Between those, a
// refresh costs one BPF_OBJ_GET_INFO_BY_FD per program, as bpftop's does.
const (
	factsMinAge = 2 * time.Second
	factsMaxAge = 10 * time.Second
)

// liveSource is the tui.Source of a running top: the kernel's run-time
// stats of every program, and the samples of a session.
type liveSource struct {
	stats *bpfprog.Stats
	// sess is nil when sampling is off; samplingNote says why.
	sess         *session.Session
	samplingNote string
	event        string
	frequency    uint64
	demo         bool
	logf         func(format string, args ...any)

	mu        sync.Mutex
	prev      *bpfprog.Snapshot
	prevAgg   *aggregate.Snapshot
	prevLost  uint64
	prevTime  time.Time
	facts     map[bpfprog.ID]*bpfprog.Program
	factsAt   time.Time
	mapMem    map[uint32]mapFacts
	refreshes int
}

// mapFacts are what the program view shows of a map, read once per map.
type mapFacts struct {
	name, typ  string
	maxEntries uint32
	memlock    uint64
}

// Refresh implements tui.Source.
func (s *liveSource) Refresh(context.Context) (*tui.Frame, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	snap, err := s.stats.Snapshot()
	if err != nil {
		return nil, err
	}
	if err := s.updateFacts(snap, now); err != nil {
		return nil, err
	}
	f := &tui.Frame{Time: now, Header: tui.Header{
		StatsNote:    "our fd",
		Event:        s.event,
		Frequency:    s.frequency,
		SamplingNote: s.samplingNote,
		Demo:         s.demo,
	}}
	if s.stats.AlreadyEnabled() {
		f.Header.StatsNote = "sysctl was already on"
	}
	if !s.prevTime.IsZero() {
		f.Period = now.Sub(s.prevTime)
	}
	var rates map[bpfprog.ID]bpfprog.Rate
	if s.prev != nil {
		rates = map[bpfprog.ID]bpfprog.Rate{}
		for _, r := range bpfprog.Delta(s.prev, snap) {
			if !r.Gone && !r.New {
				rates[r.ID] = r
			}
		}
	}
	s.prev, s.prevTime = snap, now

	sampled := s.samples(f)
	f.Programs = make([]tui.Program, 0, len(snap.Samples))
	for _, smp := range snap.Samples {
		p := tui.Program{ID: uint32(smp.ID)}
		if fp := s.facts[smp.ID]; fp != nil {
			p.Type, p.Name, p.Tag = fp.Type.String(), fp.FullName, fp.Tag
			for i := range fp.Attach {
				p.Attach = append(p.Attach, fp.Attach[i].Description)
			}
			for _, pr := range fp.Procs {
				p.Procs = append(p.Procs, tui.Proc{PID: pr.PID, Comm: pr.Comm})
			}
			for _, m := range fp.MapIDs {
				p.MapsMem += s.mapMem[m].memlock
			}
		} else {
			p.Type = "?"
		}
		if r, ok := rates[smp.ID]; ok {
			p.HasStats = true
			p.RunsPerSec, p.AvgNs, p.CPUPercent = r.RunsPerSec, r.AvgRunNs, r.CPUPercent
		}
		if n := sampled[p.ID]; n > 0 && f.Header.Samples > 0 {
			p.Samples = n
			p.SampledPercent = float64(n) * 100 / float64(f.Header.Samples)
		}
		f.Programs = append(f.Programs, p)
	}
	s.refreshes++
	return f, nil
}

// updateFacts lists the programs again when the set changed or the facts
// are old, and reads the maps not seen before.
func (s *liveSource) updateFacts(snap *bpfprog.Snapshot, now time.Time) error {
	changed := len(snap.Samples) != len(s.facts)
	if !changed {
		for _, smp := range snap.Samples {
			if s.facts[smp.ID] == nil {
				changed = true
				break
			}
		}
	}
	age := now.Sub(s.factsAt)
	if s.facts != nil && (!changed || age < factsMinAge) && age < factsMaxAge {
		return nil
	}
	progs, err := bpfprog.List(bpfprog.ListOptions{})
	if err != nil {
		return err
	}
	s.facts = make(map[bpfprog.ID]*bpfprog.Program, len(progs))
	seen := map[uint32]bool{}
	for i := range progs {
		s.facts[progs[i].ID] = &progs[i]
		for _, m := range progs[i].MapIDs {
			seen[m] = true
			if _, ok := s.mapMem[m]; !ok {
				s.mapMem[m] = readMap(m)
			}
		}
	}
	// Maps of unloaded programs are forgotten, so that churn holds no
	// memory.
	for m := range s.mapMem {
		if !seen[m] {
			delete(s.mapMem, m)
		}
	}
	s.factsAt = now
	return nil
}

// readMap reads one map's facts; a map gone meanwhile has none.
func readMap(id uint32) mapFacts {
	m, err := ebpf.NewMapFromID(ebpf.MapID(id))
	if err != nil {
		return mapFacts{}
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		return mapFacts{}
	}
	mem, _ := info.Memlock()
	return mapFacts{name: info.Name, typ: info.Type.String(), maxEntries: info.MaxEntries, memlock: mem}
}

// samples fills the frame's sampling header and heat from the samples
// counted since the previous refresh, and returns each program's samples.
func (s *liveSource) samples(f *tui.Frame) map[uint32]uint64 {
	if s.sess == nil {
		return nil
	}
	cur := s.sess.Snapshot()
	st := s.sess.Stats()
	prev := s.prevAgg
	s.prevAgg = cur
	lost := st.Sampler.Lost + st.Sampler.LostSamples
	f.Header.Lost = lost - s.prevLost
	s.prevLost = lost
	if prev == nil {
		prev = &aggregate.Snapshot{}
	}
	f.Header.Samples = cur.Samples - prev.Samples
	f.Header.BPFSamples = cur.BPFSamples - prev.BPFSamples

	// Stacks are kept in the order first seen: stack i is the same in
	// both snapshots, and its count only grows.
	f.Heat = map[uint32]*tui.Heat{}
	heat := func(id uint32) *tui.Heat {
		h := f.Heat[id]
		if h == nil {
			h = &tui.Heat{Lines: map[tui.LineKey]uint64{}, Addrs: map[uint64]uint64{}}
			f.Heat[id] = h
		}
		return h
	}
	type payKey struct {
		pid, cpu uint32
		comm     string
	}
	pays := map[uint32]map[payKey]uint64{}
	for i := range cur.Stacks {
		st := &cur.Stacks[i]
		n := st.Count
		if i < len(prev.Stacks) {
			n -= prev.Stacks[i].Count
		}
		if n == 0 || st.Prog == nil {
			continue
		}
		h := heat(st.Prog.ID)
		h.Samples += n
		for _, loc := range st.Locations {
			fr := cur.Location(loc)
			if fr != nil && fr.Prog != nil {
				h.Addrs[fr.Addr] += n
				if fr.File != "" {
					h.Lines[tui.LineKey{File: fr.File, Line: fr.Line}] += n
				}
				break
			}
		}
		if pays[st.Prog.ID] == nil {
			pays[st.Prog.ID] = map[payKey]uint64{}
		}
		pays[st.Prog.ID][payKey{st.PID, st.CPU, st.Comm}] += n
	}
	out := make(map[uint32]uint64, len(f.Heat))
	for id, h := range f.Heat {
		out[id] = h.Samples
		for k, n := range pays[id] {
			h.Payers = append(h.Payers, tui.Payer{PID: k.pid, CPU: k.cpu, Comm: k.comm, Samples: n})
		}
		slices.SortFunc(h.Payers, func(a, b tui.Payer) int {
			switch {
			case a.Samples != b.Samples:
				return int(int64(b.Samples) - int64(a.Samples))
			case a.PID != b.PID:
				return int(int64(a.PID) - int64(b.PID))
			}
			return int(int64(a.CPU) - int64(b.CPU))
		})
	}
	return out
}

// Details implements tui.Source: the program's facts, its maps and a
// listing of its source lines with their xlated instructions and JIT
// addresses.
func (s *liveSource) Details(_ context.Context, id uint32) (*tui.Details, error) {
	p, err := bpfprog.Get(bpfprog.ID(id), bpfprog.ListOptions{})
	if err != nil {
		return nil, err
	}
	d := &tui.Details{
		ID: id, Tag: p.Tag, Type: p.Type.String(), Name: p.FullName,
		LoadedAt: p.LoadedAt, UID: p.UID, XlatedSize: p.XlatedSize, JitedSize: p.JitedSize,
		VerifiedInsns: p.VerifiedInsns, Memlock: p.Memlock, BTFID: p.BTFID,
	}
	for i := range p.Attach {
		d.Attach = append(d.Attach, p.Attach[i].Description)
	}
	for _, pr := range p.Procs {
		d.Procs = append(d.Procs, tui.Proc{PID: pr.PID, Comm: pr.Comm})
	}
	names := map[uint32]string{}
	for _, m := range p.MapIDs {
		mf := readMap(m)
		names[m] = mf.name
		d.Maps = append(d.Maps, tui.Map{ID: m, Name: mf.name, Type: mf.typ, MaxEntries: mf.maxEntries, Memlock: mf.memlock})
	}
	d.Listing, d.ListingNote = listing(id, names)
	if d.Listing == nil && s.logf != nil {
		s.logf("program %d: no listing: %s", id, d.ListingNote)
	}
	return d, nil
}

// listing reads program id's code and lays it out by function and source
// line, or says why it cannot.
func listing(id uint32, mapNames map[uint32]string) (*tui.Listing, string) {
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		return nil, fmt.Sprintf("cannot open program %d: %v", id, err)
	}
	defer prog.Close()
	info, err := prog.Info()
	if err != nil {
		return nil, fmt.Sprintf("cannot read program %d: %v", id, err)
	}
	ap, err := annotate.FromProgramInfo(info, annotate.CaptureOptions{MapNames: mapNames})
	if err != nil {
		return nil, err.Error()
	}
	if len(ap.Lines) == 0 {
		return nil, "the program has no BTF line info (loaded without BTF): no source to annotate"
	}
	// Xlated instructions by their offset in 8-byte slots.
	type insnText struct {
		off  int
		text string
	}
	var insns []insnText
	if xi, err := info.Instructions(); err == nil {
		off := 0
		for _, in := range xi {
			insns = append(insns, insnText{off, fmt.Sprintf("%v", in)})
			off += int(in.Size() / 8)
		}
	}
	l := &tui.Listing{}
	fn := -1
	nextFunc := 0
	for i, line := range ap.Lines {
		for nextFunc < len(ap.Funcs) && ap.Funcs[nextFunc].Insn <= line.Insn {
			l.Funcs = append(l.Funcs, tui.Func{Name: ap.Funcs[nextFunc].Name})
			fn = len(l.Funcs) - 1
			nextFunc++
		}
		if fn < 0 {
			l.Funcs = append(l.Funcs, tui.Func{Name: ap.Name})
			fn = 0
		}
		end := uint32(1 << 31)
		if i+1 < len(ap.Lines) {
			end = ap.Lines[i+1].Insn
		}
		sl := tui.SourceLine{LineKey: tui.LineKey{File: line.File, Line: line.Line}, Text: line.Text}
		for _, in := range insns {
			if uint32(in.off) >= line.Insn && uint32(in.off) < end {
				sl.Insns = append(sl.Insns, tui.Insn{Index: in.off, Text: in.text})
			}
		}
		// The machine code of the line runs from its JIT address to the
		// next line's; it goes with the line's first instruction.
		if line.JITAddr != 0 && len(sl.Insns) > 0 {
			jitEnd := line.JITAddr
			if i+1 < len(ap.Lines) && ap.Lines[i+1].JITAddr > line.JITAddr {
				jitEnd = ap.Lines[i+1].JITAddr
			} else if ap.JIT != nil {
				jitEnd = jitFuncEnd(ap.JIT, line.JITAddr)
			}
			sl.Insns[0].JIT = []tui.JITInsn{{Addr: line.JITAddr, Len: int(jitEnd - line.JITAddr),
				Text: fmt.Sprintf("%d bytes of machine code", jitEnd-line.JITAddr)}}
		}
		// Records of one line that follow each other (a line's columns)
		// make one source line.
		lines := l.Funcs[fn].Lines
		if n := len(lines); n > 0 && lines[n-1].LineKey == sl.LineKey {
			lines[n-1].Insns = append(lines[n-1].Insns, sl.Insns...)
			continue
		}
		l.Funcs[fn].Lines = append(lines, sl)
	}
	return l, ""
}

// jitFuncEnd returns the end of the JIT function holding addr.
func jitFuncEnd(j *annotate.JIT, addr uint64) uint64 {
	for i, k := range j.Ksyms {
		n := uint64(len(j.Image))
		if i < len(j.FuncLens) {
			n = uint64(j.FuncLens[i])
		}
		if addr >= k && addr < k+n {
			return k + n
		}
	}
	return addr
}

// topLogger writes to the --log file, or nowhere.
func topLogger(l *log.Logger) func(string, ...any) {
	if l == nil {
		return func(string, ...any) {}
	}
	return l.Printf
}
