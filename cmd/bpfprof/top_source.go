package main

import (
	"cmp"
	"context"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/session"
	"github.com/bpfprof/bpfprof/symbolize"
	"github.com/bpfprof/bpfprof/tui"
)

// Programs' facts that need a walk over /proc and every link (owners,
// attach points) are read again when the set of programs changed, at most
// every factsMinAge, and otherwise every factsMaxAge. Between those, a
// refresh costs one BPF_OBJ_GET_INFO_BY_FD per program, as bpftop's does.
const (
	factsMinAge = 2 * time.Second
	factsMaxAge = 30 * time.Second
)

// liveSource is the tui.Source of a running top: the kernel's run-time
// stats of every program, and the samples of a session.
type liveSource struct {
	stats *bpfprog.Stats
	// sess is nil when sampling is off; samplingNote says why.
	sess         *session.Session
	tracker      *aggregate.Tracker
	samplingNote string
	event        string
	frequency    uint64
	demo         bool
	logf         func(format string, args ...any)

	mu        sync.Mutex
	prev      *bpfprog.Snapshot
	prevTime  time.Time
	facts     map[bpfprog.ID]*bpfprog.Program
	factsAt   time.Time
	mapMem    map[uint32]mapFacts
	comms     map[uint32]string
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
		rates = bpfprog.Rates(s.prev, snap)
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
	return mapFacts{name: info.Name, typ: strings.ToLower(info.Type.String()), maxEntries: info.MaxEntries, memlock: mem}
}

// samples fills the frame's sampling header and heat from the samples
// counted since the previous refresh, and returns each program's samples.
func (s *liveSource) samples(f *tui.Frame) map[uint32]uint64 {
	if s.tracker == nil {
		return nil
	}
	select {
	case <-s.sess.Done():
		// The session ended on an error: say so instead of showing
		// periods without samples.
		f.Header.Event = ""
		f.Header.SamplingNote = "sampling stopped"
		if err := s.sess.Err(); err != nil {
			f.Header.SamplingNote += ": " + err.Error()
		}
		return nil
	default:
	}
	d := s.tracker.Next()
	f.Header.Samples = d.Samples
	f.Header.BPFSamples = d.BPFSamples
	f.Header.Lost = d.Lost + d.LostSamples

	f.Heat = make(map[uint32]*tui.Heat, len(d.Programs))
	out := make(map[uint32]uint64, len(d.Programs))
	for _, p := range d.Programs {
		if p.Prog == nil || p.Samples == 0 {
			continue
		}
		out[p.Prog.ID] = p.Samples
		f.Heat[p.Prog.ID] = &tui.Heat{Samples: p.Samples, Lines: map[tui.LineKey]uint64{}, Addrs: map[uint64]uint64{}}
	}
	for _, l := range d.Lines {
		if h := heatOf(f, l.Prog); h != nil && l.Samples > 0 {
			h.Lines[tui.LineKey{File: l.File, Line: l.Line}] += l.Samples
		}
	}
	for _, a := range d.Addrs {
		if h := heatOf(f, a.Prog); h != nil && a.Self > 0 {
			h.Addrs[a.Addr] += a.Self
		}
	}
	type payKey struct {
		prog, pid, cpu uint32
		comm           string
	}
	pays := map[payKey]uint64{}
	for _, st := range d.Stacks {
		if st.Prog != nil && st.Count > 0 {
			pays[payKey{st.Prog.ID, st.PID, st.CPU, st.Comm}] += st.Count
		}
	}
	for k, n := range pays {
		if h := f.Heat[k.prog]; h != nil {
			comm := k.comm
			if comm == "" {
				comm = s.comm(k.pid)
			}
			h.Payers = append(h.Payers, tui.Payer{PID: k.pid, CPU: k.cpu, Comm: comm, Samples: n})
		}
	}
	for _, h := range f.Heat {
		slices.SortFunc(h.Payers, func(a, b tui.Payer) int {
			return cmp.Or(cmp.Compare(b.Samples, a.Samples), cmp.Compare(a.PID, b.PID), cmp.Compare(a.CPU, b.CPU))
		})
	}
	return out
}

// maxComms bounds the cache of process names.
const maxComms = 4096

// comm names process pid from /proc, for the samples the session leaves
// unnamed (it follows no user space); "" once the process is gone.
func (s *liveSource) comm(pid uint32) string {
	if c, ok := s.comms[pid]; ok {
		return c
	}
	if len(s.comms) >= maxComms || s.comms == nil {
		s.comms = map[uint32]string{}
	}
	b, _ := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/comm")
	c := strings.TrimSpace(string(b))
	s.comms[pid] = c
	return c
}

func heatOf(f *tui.Frame, p *symbolize.Prog) *tui.Heat {
	if p == nil {
		return nil
	}
	return f.Heat[p.ID]
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
	for _, m := range p.MapIDs {
		mf := readMap(m)
		d.Maps = append(d.Maps, tui.Map{ID: m, Name: mf.name, Type: mf.typ, MaxEntries: mf.maxEntries, Memlock: mf.memlock})
	}
	d.Listing, d.ListingNote = s.listing(id)
	if d.ListingNote != "" && s.logf != nil {
		s.logf("program %d: no listing: %s", id, d.ListingNote)
	}
	return d, nil
}

// listing reads program id's code and lays it out by function and source
// line with the annotate model, helpers and call targets named from the
// session's kernel symbols; or says why it cannot.
func (s *liveSource) listing(id uint32) (*tui.Listing, string) {
	var (
		ap  *annotate.Program
		err error
		opt = annotate.Options{JIT: true}
	)
	if s.sess != nil {
		ap, err = s.sess.Program(id)
		if ks := s.sess.KernelSymbols(); ks != nil {
			opt.Kernel = ks
		}
	} else {
		ap, err = session.Capture(id, nil)
	}
	if err != nil {
		return nil, err.Error()
	}
	al, err := annotate.Build(ap, annotate.Counts{}, opt)
	if err != nil {
		return nil, err.Error()
	}
	// Whatever the program lacks (line info, JIT image) the notes say;
	// the rest is listed.
	return tuiListing(al), strings.Join(al.Notes, "; ")
}

// tuiListing turns an annotate listing into the TUI's: one source line per
// run of blocks of the same line, each block's machine code under its first
// instruction.
func tuiListing(al *annotate.Listing) *tui.Listing {
	l := &tui.Listing{Funcs: make([]tui.Func, 0, len(al.Functions))}
	for _, fn := range al.Functions {
		tf := tui.Func{Name: fn.Name}
		for _, b := range fn.Blocks {
			sl := tui.SourceLine{Text: "(no source line)"}
			if b.Source != nil {
				sl = tui.SourceLine{LineKey: tui.LineKey{File: b.Source.File, Line: b.Source.Line}, Text: b.Source.Text}
			}
			for _, in := range b.Insns {
				text := in.Text
				if in.Comment != "" {
					text += "  ; " + in.Comment
				}
				sl.Insns = append(sl.Insns, tui.Insn{Index: in.Index, Text: text})
			}
			if len(b.JIT) > 0 {
				jit := make([]tui.JITInsn, len(b.JIT))
				for i, j := range b.JIT {
					jit[i] = tui.JITInsn{Addr: j.Addr, Len: j.Len, Text: j.Text}
				}
				if len(sl.Insns) == 0 {
					sl.Insns = append(sl.Insns, tui.Insn{Index: -1})
				}
				sl.Insns[0].JIT = jit
			}
			if n := len(tf.Lines); n > 0 && b.Source != nil && tf.Lines[n-1].LineKey == sl.LineKey {
				tf.Lines[n-1].Insns = append(tf.Lines[n-1].Insns, sl.Insns...)
				continue
			}
			tf.Lines = append(tf.Lines, sl)
		}
		l.Funcs = append(l.Funcs, tf)
	}
	return l
}

// topLogger writes to the --log file, or nowhere.
func topLogger(l *log.Logger) func(string, ...any) {
	if l == nil {
		return func(string, ...any) {}
	}
	return l.Printf
}
