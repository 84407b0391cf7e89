package symbolize

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
)

// Options configures a Symbolizer.
type Options struct {
	// PIDs limits user-space tracking to these processes and the
	// children they fork (nil: every process; empty: none).
	PIDs []int
	// ProcDir is where procfs is mounted: kallsyms, modules and the
	// per-process maps, comm, root and map_files are read from it.
	// Default "/proc"; tests point it at fixtures. The kernel's build ID
	// is read from /sys/kernel/notes only with the default.
	ProcDir string
	// NoBPF keeps the Symbolizer from reading BPF program info from the
	// kernel (which needs CAP_SYS_ADMIN): JIT images are then named only
	// by their kernel symbols, from kallsyms and KSYMBOL records.
	NoBPF bool
	// Window, if not 0, bounds what a live view keeps, as
	// aggregate.Options.Window does for counts: processes and BPF
	// programs that ended are dropped Window after their end (on the
	// records' and samples' clock) even if samples looked them up, and
	// processes nothing looked up or described for Window (their EXIT
	// lost) are dropped too, to be read again from /proc if they come
	// back. 0 keeps what samples looked up until Close, as a recording
	// needs for its profile.
	Window time.Duration
	// Offline, if set, resolves a recording made earlier or elsewhere
	// instead of following this machine (see Offline).
	Offline *Offline
	// DebugDirs are where separate debug info of user-space files is
	// looked for, by build ID (DIR/.build-id/xx/yyyy.debug) and by
	// .gnu_debuglink (DIR/PATH-OF-FILE/LINK); nil: DefaultDebugDir.
	// Debug links are also looked for beside the file and in .debug/
	// beside it.
	DebugDirs []string
	// DWARFBudget bounds the bytes of DWARF held for file and line
	// information (0: DefaultDWARFBudget); NoDWARF leaves DWARF unread.
	DWARFBudget int
	NoDWARF     bool
}

// refreshInterval rate-limits the re-reading of BPF programs and process
// maps when an address is in nothing known.
const refreshInterval = time.Second

// Symbolizer resolves kernel, BPF and user addresses to frames, following
// the machine's changes through the sampler's side-band records.
//
// Kernel, User, Comm, Programs, BPFStats and KptrRestricted may be called
// from any goroutine, also while another one calls HandleRecord: the kernel
// and BPF tables are immutable snapshots swapped atomically, so Kernel takes
// no lock on its fast path; user-space state is guarded by a mutex.
// Frames hold shared strings and pointers: resolving allocates nothing once
// the symbol tables it needs are loaded.
type Symbolizer struct {
	opts    Options
	procDir string
	src     progSource

	kern atomic.Pointer[kernelTable]
	// bpf is the snapshot of bpfIdx, published by each change to it
	// before s.mu is released, so that BPF lookups take no lock.
	bpf atomic.Pointer[bpfTable]

	mu sync.Mutex
	// BPF state, published to bpf.
	bpfIdx *bpfIndex
	progs  map[uint32]*progEntry
	// recTime is the latest time of a BPF or process record;
	// sampleTime, of a sample resolved. Images of unloaded programs are
	// dropped bpfRetention behind the later of the two, processes that
	// exited unsampled procRetention behind it.
	recTime    uint64
	sampleTime atomic.Uint64
	stats      BPFStats
	// lastRefresh is when the list of programs was last read again
	// (UnixNano).
	lastRefresh atomic.Int64
	// User-space state.
	procs      map[uint32]*process
	exitQ      []exitedProc    // exited processes not yet retired, by exit
	dropped    int             // processes dropped since objects were swept
	filter     map[uint32]bool // nil: every process
	objs       map[objKey]*object
	symsByID   map[string]*objSyms
	strs       map[string]string
	vdso       *objSyms
	vdsoLoaded bool
	closed     bool
	// procRead reads what /proc says of a process (readProcFiles; tests
	// replace it). It is called without s.mu.
	procRead func(pid uint32, comm bool) procData
	// debugDirs and dwarf serve separate debug info and DWARF.
	debugDirs []string
	dwarf     *dwarfCache

	// unloadQ holds the programs unloaded, by unload (Options.Window).
	unloadQ []unloadedProg
	// nextIdleSweep is the record or sample time of the next sweep of
	// processes nothing touched for a Window.
	nextIdleSweep uint64

	// pf reads program info ahead of PROG_LOAD records (Prefetch).
	pf prefetcher
	// kernRefreshed is when kallsyms was last read again (UnixNano),
	// kernRefreshEvery the least time between two reads (in ns: it
	// doubles, up to maxKernelRefreshInterval, while reads find nothing
	// new), kernReloads how many were started; bg counts the goroutines
	// reading it.
	kernRefreshed    atomic.Int64
	kernRefreshEvery atomic.Int64
	kernReloads      int
	bg               sync.WaitGroup
}

// progEntry is one BPF program the Symbolizer has seen.
type progEntry struct {
	prog *Prog
	// img is nil when its info could not be read, or once its images
	// were dropped.
	img *progImage
	// entries is the images given to the program, until it unloads.
	entries  []*bpfEntry
	unloaded bool
}

// BPFStats counts what a Symbolizer saw of BPF programs.
type BPFStats struct {
	// AtStart counts the programs loaded when New ran, Loaded and
	// Unloaded the PROG_LOAD and PROG_UNLOAD events handled since, and
	// Refreshed the programs found by re-reading the list of programs
	// for an address in no known image.
	AtStart, Loaded, Unloaded, Refreshed int
	// InfoErrors counts programs whose info could not be read, most
	// often because they unloaded first; they are named by their kernel
	// symbols only.
	InfoErrors int
	// InfoErr, if not nil, says why no program info can be read at all
	// (it matches errs.ErrPermission without CAP_SYS_ADMIN).
	InfoErr error
}

// New reads the kernel's symbols (/proc/kallsyms and /proc/modules), the
// info of every loaded BPF program and the maps of every process (or of
// Options.PIDs). It needs root in practice: kallsyms addresses are zeroed
// for readers without CAP_SYSLOG under kptr_restrict (then
// KptrRestricted reports it), program info needs CAP_SYS_ADMIN (without it
// BPFStats().InfoErr says so), other processes' maps need
// CAP_SYS_PTRACE.
func New(opts Options) (*Symbolizer, error) {
	if opts.Offline != nil {
		return newSymbolizer(opts, offlineProgs{opts.Offline})
	}
	return newSymbolizer(opts, kernelProgs{})
}

// progSource lists loaded BPF programs and reads their info: the kernel,
// or fixtures in tests.
type progSource interface {
	// next returns the id of the program after id, ok false at the end.
	next(id uint32) (next uint32, ok bool, err error)
	// info reads program id; errors match errs.ErrNotFound for a program
	// that vanished, errs.ErrPermission for a missing privilege.
	info(id uint32) (*progInfo, error)
}

// kernelProgs is the progSource of the running kernel.
type kernelProgs struct{}

func (kernelProgs) next(id uint32) (uint32, bool, error) { return nextProgID(id) }
func (kernelProgs) info(id uint32) (*progInfo, error)    { return readProgInfo(id) }

func newSymbolizer(opts Options, src progSource) (*Symbolizer, error) {
	s := &Symbolizer{
		src:      src,
		opts:     opts,
		procDir:  opts.ProcDir,
		progs:    map[uint32]*progEntry{},
		bpfIdx:   newBPFIndex(),
		procs:    map[uint32]*process{},
		objs:     map[objKey]*object{},
		symsByID: map[string]*objSyms{},
		strs:     map[string]string{},
	}
	if s.procDir == "" {
		s.procDir = "/proc"
	}
	s.procRead = s.readProcFiles
	s.debugDirs = opts.DebugDirs
	if s.debugDirs == nil {
		s.debugDirs = []string{DefaultDebugDir}
	}
	if !opts.NoDWARF {
		s.dwarf = newDWARFCache(opts.DWARFBudget)
	}
	off := opts.Offline
	kt, err := s.loadKernel()
	if err != nil {
		return nil, err
	}
	s.kern.Store(kt)

	s.mu.Lock()
	defer s.mu.Unlock()
	if off != nil {
		// Only the recording's records and program info count.
		s.publishBPFLocked()
		return s, nil
	}
	s.addKallsymsBPF(kt)
	if !opts.NoBPF && !kt.restricted {
		// Nothing else holds s yet: reading under s.mu waits for no
		// one.
		infos, infoErrs, err := s.readNewPrograms(nil)
		s.stats.AtStart = s.addProgramsLocked(infos)
		s.stats.InfoErrors += infoErrs
		if err != nil {
			s.stats.InfoErr = err
		}
	}
	s.publishBPFLocked()
	if opts.PIDs != nil {
		s.filter = map[uint32]bool{}
		for _, pid := range opts.PIDs {
			s.filter[uint32(pid)] = true
		}
	}
	s.scanProcesses()
	return s, nil
}

// loadKernel reads the kernel's symbols, unless an offline recording was
// made on another kernel: then the table is empty.
func (s *Symbolizer) loadKernel() (*kernelTable, error) {
	if o := s.opts.Offline; o != nil && o.Kallsyms != "" {
		f, err := os.Open(o.Kallsyms)
		if err != nil {
			return nil, fmt.Errorf("read the recording's kernel symbols: %w", osErr(err))
		}
		defer f.Close()
		kt, err := parseKallsyms(f)
		if err != nil {
			return nil, fmt.Errorf("read the recording's kernel symbols from %s: %w", o.Kallsyms, err)
		}
		return kt, nil
	}
	if o := s.opts.Offline; o != nil && !o.KernelSymbols {
		kt := &kernelTable{regions: []kernelRegion{{}}}
		kt.makeMappings()
		return kt, nil
	}
	kt, err := loadKernelTable(s.procDir, s.opts.ProcDir == "")
	if err != nil {
		return nil, err
	}
	if o := s.opts.Offline; o != nil && o.KernelText != 0 && kt.text != 0 {
		kt.shift = kt.text - o.KernelText
	}
	return kt, nil
}

// loadKernelTable reads kallsyms and modules from procDir and the kernel's
// build ID from /sys/kernel/notes if sysNotes.
func loadKernelTable(procDir string, sysNotes bool) (*kernelTable, error) {
	f, err := os.Open(filepath.Join(procDir, "kallsyms"))
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", osErr(err))
	}
	defer f.Close()
	kt, err := parseKallsyms(f)
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols from %s: %w", f.Name(), err)
	}
	if mf, err := os.Open(filepath.Join(procDir, "modules")); err == nil {
		mods, err := parseModules(mf)
		mf.Close()
		if err == nil && !kt.restricted {
			kt.applyModules(mods)
		}
	}
	if sysNotes {
		if notes, err := os.ReadFile("/sys/kernel/notes"); err == nil {
			if id, ok := parseBuildIDNote(notes, binary.NativeEndian); ok {
				kt.kernelMapping().BuildID = id
			}
		}
	}
	return kt, nil
}

// osErr makes a missing file match errs.ErrNotFound and a refused one
// errs.ErrPermission.
func osErr(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %w", errs.ErrNotFound, err)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: %w", errs.ErrPermission, err)
	}
	return err
}

// Close drops every table: later lookups resolve to "[unknown]".
func (s *Symbolizer) Close() error {
	s.pf.close()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	empty := &kernelTable{regions: []kernelRegion{{}}}
	empty.makeMappings()
	s.kern.Store(empty)
	s.bpfIdx = newBPFIndex()
	s.progs = map[uint32]*progEntry{}
	s.bpf.Store(nil)
	s.procs = map[uint32]*process{}
	s.exitQ, s.dropped = nil, 0
	s.objs = map[objKey]*object{}
	s.symsByID = map[string]*objSyms{}
	s.vdso = nil
	return nil
}

// KptrRestricted reports whether kallsyms gave only zero addresses
// (kernel.kptr_restrict hides them from this process): kernel and BPF
// frames then cannot be named.
func (s *Symbolizer) KptrRestricted() bool { return s.kern.Load().restricted }

// KernelSymbols returns the number of kernel text symbols held.
func (s *Symbolizer) KernelSymbols() int { return s.kern.Load().len() }

// Kernel resolves a kernel address, in the kernel, a module or a JITed BPF
// image, at a sample's time (CLOCK_MONOTONIC ns; 0 means now). A BPF
// address resolves to the program that occupied it at that time (give or
// take 50ms, for records slightly out of order), with the source line in
// effect there; an image that unloaded stays resolvable for samples of its
// time until Close if a sample resolved into it, else for 5s past its
// unload, measured on the latest record or sample time (SampleTime).
//
// An address in no known image or module, above the kernel's text, may be
// code of a BPF program whose records were lost: then, at most once a
// second, Kernel lists the loaded programs again and reads the info of
// those it does not know. Otherwise the frame is "[unknown]".
func (s *Symbolizer) Kernel(addr, time uint64) Frame {
	if r := s.bpfTable().lookup(addr, time); r != nil {
		r.markHit()
		return r.fn.frame(addr)
	}
	k := s.kern.Load()
	if f, ok := k.frame(addr + k.shift); ok {
		f.Addr = addr
		return f
	}
	if s.refreshBPF(k, addr) {
		if r := s.bpfTable().lookup(addr, time); r != nil {
			r.markHit()
			return r.fn.frame(addr)
		}
	}
	s.refreshKernel(addr)
	return Frame{Kind: KindKernel, Addr: addr, Func: unknownFunc, Mapping: k.kernelMapping()}
}

// kernelRefreshInterval rate-limits the re-reading of kallsyms and
// modules for kernel addresses in no known symbol; while the reads find
// nothing new (an address that is in no symbol for good, such as code
// kallsyms does not list), the wait doubles up to maxKernelRefreshInterval,
// so that a long-running session does not parse kallsyms every few seconds.
const (
	kernelRefreshInterval    = 10 * time.Second
	maxKernelRefreshInterval = 160 * time.Second
)

// refreshKernel re-reads /proc/kallsyms and /proc/modules for an address
// in the kernel half that no symbol holds, as perf does on the MMAP of a
// module: a module loaded since the start. It does so at most once per
// kernelRefreshInterval and on a goroutine of its own, so that the sample
// that asked waits for nothing; later samples get the names.
func (s *Symbolizer) refreshKernel(addr uint64) {
	if s.opts.Offline != nil || !KernelAddr(addr) {
		return
	}
	now := time.Now().UnixNano()
	last := s.kernRefreshed.Load()
	wait := s.kernRefreshEvery.Load()
	if wait == 0 {
		wait = int64(kernelRefreshInterval)
	}
	if last != 0 && now-last < wait || !s.kernRefreshed.CompareAndSwap(last, now) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.kernReloads++
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		kt, err := loadKernelTable(s.procDir, s.opts.ProcDir == "")
		if err != nil {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed || kt.restricted {
			return
		}
		if old := s.kern.Load(); old != nil && old.len() == kt.len() && len(old.regions) == len(kt.regions) {
			s.kernRefreshEvery.Store(min(2*wait, int64(maxKernelRefreshInterval)))
		} else {
			s.kernRefreshEvery.Store(int64(kernelRefreshInterval))
		}
		s.kern.Store(kt)
	}()
}

// SampleTime tells the Symbolizer the time of a sample whose frames are
// about to be resolved, once per sample: images of unloaded programs and
// processes that exited unsampled are dropped behind the latest record or
// sample time (Kernel and User do not raise it for each frame).
func (s *Symbolizer) SampleTime(t uint64) {
	for {
		cur := s.sampleTime.Load()
		if t <= cur || s.sampleTime.CompareAndSwap(cur, t) {
			return
		}
	}
}

// bpfTable returns the current BPF snapshot.
func (s *Symbolizer) bpfTable() *bpfTable { return s.bpf.Load() }

// publishBPFLocked swaps in a new snapshot if the BPF state changed: in
// time logarithmic in the images held for each image changed (see
// bpfIndex.publish). Every change to the BPF state is published before
// s.mu is released.
func (s *Symbolizer) publishBPFLocked() {
	if s.closed {
		return
	}
	s.bpf.Store(s.bpfIdx.publish(s.bpf.Load()))
}

// refreshBPF lists the loaded programs again for an unknown kernel-half
// address, rate-limited, and reports whether it found new ones. The rate
// limit is checked without s.mu, and the kernel is asked without it.
func (s *Symbolizer) refreshBPF(k *kernelTable, addr uint64) bool {
	if s.opts.NoBPF || s.opts.Offline != nil || k.restricted || !KernelAddr(addr) {
		return false
	}
	now := time.Now().UnixNano()
	last := s.lastRefresh.Load()
	if last != 0 && now-last < int64(refreshInterval) || !s.lastRefresh.CompareAndSwap(last, now) {
		return false
	}
	s.mu.Lock()
	if s.closed || s.stats.InfoErr != nil {
		s.mu.Unlock()
		return false
	}
	known := make(map[uint32]bool, len(s.progs))
	for id := range s.progs {
		known[id] = true
	}
	s.mu.Unlock()
	infos, infoErrs, err := s.readNewPrograms(known)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.stats.InfoErrors += infoErrs
	if err != nil && s.stats.InfoErr == nil {
		s.stats.InfoErr = err
	}
	n := s.addProgramsLocked(infos)
	s.stats.Refreshed += n
	s.publishBPFLocked()
	return n > 0
}

// readNewPrograms reads the info of every loaded program not in known,
// skipping programs that vanish meanwhile, and counts the other programs
// whose info could not be read. It stops at a missing privilege. It runs
// without s.mu.
func (s *Symbolizer) readNewPrograms(known map[uint32]bool) (infos []*progInfo, infoErrs int, err error) {
	var id uint32
	for {
		next, ok, err := s.src.next(id)
		if err != nil || !ok {
			return infos, infoErrs, err
		}
		id = next
		if known[id] {
			continue
		}
		info, err := s.src.info(id)
		switch {
		case errors.Is(err, errs.ErrNotFound):
			continue
		case errors.Is(err, errs.ErrPermission):
			return infos, infoErrs, err
		case err != nil:
			infoErrs++
			continue
		}
		infos = append(infos, info)
	}
}

// addProgramsLocked adds the programs of infos not known yet, as loaded
// since before the start, and returns how many it added.
func (s *Symbolizer) addProgramsLocked(infos []*progInfo) int {
	n := 0
	for _, info := range infos {
		if s.progs[info.ID] == nil {
			s.addImageLocked(info, 0)
			n++
		}
	}
	return n
}

// addKallsymsBPF registers the JIT images kallsyms listed, as loaded
// since before the start. Their sizes are not listed: each is assumed to
// reach the next one, at most a page, until program info says better.
func (s *Symbolizer) addKallsymsBPF(kt *kernelTable) {
	syms := slices.Clone(kt.bpf)
	slices.SortFunc(syms, func(a, b kallsymsBPF) int {
		return cmp.Compare(a.addr, b.addr)
	})
	for i, b := range syms {
		size := uint64(4096)
		if i+1 < len(syms) && syms[i+1].addr > b.addr {
			size = min(size, syms[i+1].addr-b.addr)
		}
		s.registerSymLocked(b.addr, size, b.name, 0)
	}
}

// HandleRecord follows the side-band records of a sampler: KSYMBOL and
// BPF_EVENT (JIT images and programs coming and going), MMAP2, COMM, FORK
// and EXIT (processes). Other records are ignored, so a Symbolizer is a
// sampler.Handler. On a PROG_LOAD it reads the program's info from the
// kernel at once, before the program can unload.
func (s *Symbolizer) HandleRecord(r sampler.Record) {
	switch r := r.(type) {
	case *sampler.KSymbol:
		s.handleKSymbol(r)
	case *sampler.BPFEvent:
		s.handleBPFEvent(r)
	case *sampler.Mmap2:
		s.handleMmap2(r)
	case *sampler.Comm:
		s.handleComm(r)
	case *sampler.Fork:
		s.handleFork(r)
	case *sampler.Exit:
		s.handleExit(r)
	}
}

func (s *Symbolizer) handleKSymbol(r *sampler.KSymbol) {
	if r.Type != sampler.KSymbolBPF && r.Type != sampler.KSymbolOOL {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	t := r.Time
	s.recTime = max(s.recTime, t)
	if r.Unregister {
		s.unregisterSymLocked(r.Addr, uint64(r.Len), r.Name, t)
		s.pruneBPFLocked()
	} else {
		s.registerSymLocked(r.Addr, uint64(r.Len), strings.Clone(r.Name), t)
	}
	s.publishBPFLocked()
}

// registerSymLocked registers the JIT image of a kernel symbol at time t.
func (s *Symbolizer) registerSymLocked(addr, size uint64, name string, t uint64) {
	x := s.bpfIdx
	end := addr + max(size, 1)
	found := false
	for _, e := range x.overlappingOpen(addr, end) {
		if e.start == addr && (e.fn.sysName == name || (e.fn.guessed && e.end == end)) {
			// The same image, known already from program info or
			// from kallsyms: its symbol may come later or earlier.
			found = true
			x.setFrom(e, t)
			if e.fn.sysName != name {
				fn := *e.fn
				fn.sysName, fn.guessed = name, false
				x.setFn(e, &fn)
			}
			continue
		}
		// Two live images cannot overlap: the old one's unregister was
		// lost or comes later.
		if e.from <= t {
			x.setUntil(e, t)
		}
	}
	if !found {
		x.add(bpfRange{start: addr, end: end, from: t, until: openEnd, fn: newSymFunc(addr, size, name, nil)})
	}
}

// unregisterSymLocked ends the JIT image of a kernel symbol at time t: of
// the images registered at addr under that name, the last one registered
// at or before t. An image never seen registering (it loaded between New
// and the start of sampling, or its record was lost) is recorded as having
// held its addresses until t, so its samples are not taken for a later
// occupant's.
func (s *Symbolizer) unregisterSymLocked(addr, size uint64, name string, t uint64) {
	var best *bpfEntry
	for _, e := range s.bpfIdx.byStart[addr] {
		// An image registered after t is not the one ending: records
		// from different CPUs can come a round apart, and an identical
		// program (same tag, same name) may have held the addresses
		// before.
		if e.from > t || (e.fn.sysName != name && !e.fn.guessed) {
			continue
		}
		if best == nil || e.from > best.from {
			best = e
		}
	}
	if best == nil {
		s.bpfIdx.add(bpfRange{start: addr, end: addr + max(size, 1), from: 0, until: t, fn: newSymFunc(addr, size, strings.Clone(name), nil)})
	} else {
		s.bpfIdx.setUntil(best, min(best.until, t))
	}
}

// pruneBPFLocked drops the images of unloaded programs that ended more
// than bpfRetention before the latest record or sample and that no sample
// resolved into; a program whose images all went keeps its Prog but lets
// its line tables go.
func (s *Symbolizer) pruneBPFLocked() {
	now := max(s.recTime, s.sampleTime.Load())
	retention, keep := bpfRetention, keepBPF
	if w := uint64(s.opts.Window); w > 0 {
		// A live view: what samples looked up goes too, a window on.
		retention, keep = max(retention, w), func(*bpfEntry) bool { return false }
	}
	if now < retention {
		return
	}
	cut := now - retention
	defer s.dropUnloadedLocked(cut)
	s.bpfIdx.prune(cut, keep, func(e *bpfEntry) bool {
		img := e.img
		if img == nil {
			return true
		}
		for _, o := range img.entries {
			if !o.removed {
				return true
			}
		}
		if pe := s.progs[img.prog.ID]; pe != nil && pe.img == img {
			pe.img = nil
		}
		img.entries = nil
		return true
	})
}

// unloadedProg is a program in the queue of those unloaded (with
// Options.Window), with the time of its unload.
type unloadedProg struct {
	id uint32
	pe *progEntry
	at uint64
}

// dropUnloadedLocked forgets the programs unloaded at or before cut
// (Options.Window only): a live view has no use for them any more.
func (s *Symbolizer) dropUnloadedLocked(cut uint64) {
	n := 0
	for ; n < len(s.unloadQ) && s.unloadQ[n].at <= cut; n++ {
		u := s.unloadQ[n]
		s.unloadQ[n] = unloadedProg{}
		if s.progs[u.id] == u.pe {
			delete(s.progs, u.id)
		}
	}
	s.unloadQ = s.unloadQ[n:]
}

// keepBPF reports whether an ended image must stay: a sample resolved
// into it or into another image of its program.
func keepBPF(e *bpfEntry) bool {
	if e.hit.Load() {
		return true
	}
	if e.img != nil {
		for _, o := range e.img.entries {
			if o.hit.Load() {
				return true
			}
		}
	}
	return false
}

func (s *Symbolizer) handleBPFEvent(r *sampler.BPFEvent) {
	switch r.Type {
	case sampler.BPFEventProgLoad:
		s.mu.Lock()
		known := s.closed || s.progs[r.ProgID] != nil
		s.mu.Unlock()
		if known {
			return
		}
		// Read the info without the lock: readers of user frames need
		// not wait for the kernel. Prefetch may have read it already.
		var info *progInfo
		var err error
		if p, ok := s.pf.take(r.ProgID); ok {
			info, err = p.info, p.err
		} else if s.opts.NoBPF {
			err = fmt.Errorf("program info not read: %w", errs.ErrNotSupported)
		} else {
			info, err = s.src.info(r.ProgID)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		defer s.publishBPFLocked()
		if s.closed || s.progs[r.ProgID] != nil {
			return
		}
		t := r.Time
		s.stats.Loaded++
		if err == nil {
			s.addImageLocked(info, t)
			return
		}
		if !s.opts.NoBPF {
			s.stats.InfoErrors++
			if errors.Is(err, errs.ErrPermission) && s.stats.InfoErr == nil {
				s.stats.InfoErr = err
			}
		}
		s.addSymProgLocked(r.ProgID, r.Tag, t)
	case sampler.BPFEventProgUnload:
		s.mu.Lock()
		defer s.mu.Unlock()
		defer s.publishBPFLocked()
		e := s.progs[r.ProgID]
		if e == nil || e.unloaded {
			return
		}
		t := r.Time
		s.recTime = max(s.recTime, t)
		e.unloaded = true
		s.stats.Unloaded++
		if s.opts.Window > 0 {
			s.unloadQ = append(s.unloadQ, unloadedProg{id: r.ProgID, pe: e, at: t})
		}
		for _, rg := range e.entries {
			if rg.fn.prog == e.prog && rg.until == openEnd && !rg.removed {
				s.bpfIdx.setUntil(rg, max(t, rg.from))
			}
		}
		e.entries = nil
		s.pruneBPFLocked()
	}
}

// addImageLocked adds a program from its info, loaded at time from: its
// functions take over the images registered by their kernel symbols.
func (s *Symbolizer) addImageLocked(info *progInfo, from uint64) {
	x := s.bpfIdx
	img := buildImage(info, s.openSymName)
	pe := &progEntry{prog: img.prog, img: img}
	s.progs[info.ID] = pe
	for _, f := range img.funcs {
		end := f.addr + max(f.size, 1)
		matched := false
		for _, e := range x.byStart[f.addr] {
			if e.img != nil || e.until != openEnd {
				continue
			}
			x.unindexSym(e)
			e.img = img
			x.setFn(e, f)
			x.setEnd(e, end)
			x.setFrom(e, from)
			img.entries = append(img.entries, e)
			matched = true
		}
		if !matched {
			img.entries = append(img.entries, x.add(bpfRange{start: f.addr, end: end, from: from, until: openEnd, fn: f, img: img}))
		}
	}
	pe.entries = slices.Clone(img.entries)
}

// openSymName returns the kernel symbol name of the live image at addr.
func (s *Symbolizer) openSymName(addr uint64) string {
	l := s.bpfIdx.byStart[addr]
	for i := len(l) - 1; i >= 0; i-- {
		if e := l[i]; e.until == openEnd && !e.fn.guessed {
			return e.fn.sysName
		}
	}
	return ""
}

// addSymProgLocked records a program whose info could not be read, loaded
// at time t: the image whose symbol carries its tag and that was live then
// becomes its main function. (Identical programs share a tag, so only
// images live at t qualify.)
func (s *Symbolizer) addSymProgLocked(id uint32, tag [8]byte, t uint64) {
	hexTag := hex.EncodeToString(tag[:])
	prog := &Prog{ID: id, Tag: hexTag, Type: "unknown", Name: "bpf_prog_" + hexTag}
	pe := &progEntry{prog: prog}
	s.progs[id] = pe
	for _, e := range s.bpfIdx.symOnly[tag] {
		if e.until < t {
			continue
		}
		if _, name, _ := splitProgSym(e.fn.sysName); name != "" {
			prog.Name = name
		}
		pe.entries = append(pe.entries, e)
	}
	for _, e := range pe.entries {
		s.bpfIdx.setFn(e, newSymFunc(e.start, e.end-e.start, e.fn.sysName, prog))
	}
}

// Programs returns every BPF program seen, loaded at the start or while
// recording, unloaded or not, by ID.
func (s *Symbolizer) Programs() []Prog {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Prog, 0, len(s.progs))
	for _, e := range s.progs {
		out = append(out, *e.prog)
	}
	slices.SortFunc(out, func(a, b Prog) int {
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// BPFStats returns the counts of BPF programs seen.
func (s *Symbolizer) BPFStats() BPFStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// intern returns a shared copy of str.
func (s *Symbolizer) intern(str []byte) string {
	if v, ok := s.strs[string(str)]; ok {
		return v
	}
	v := string(str)
	s.strs[v] = v
	return v
}
