package symbolize

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/sampler"
)

// objKey identifies a mapped file: by build ID when the record carries
// one, else by device and inode, else (anonymous and special mappings) by
// name.
type objKey struct {
	buildID      string
	major, minor uint32
	inode        uint64
	path         string
}

// object is one mapped file (or special mapping) with its symbols, loaded
// on the first address resolved in it.
type object struct {
	path    string // as mapped, without " (deleted)"
	deleted bool
	base    string // name in frames of addresses without a symbol
	special bool   // no file behind it: anonymous memory, [vdso], [heap], ...
	// pid mapped it at [start, limit): the file is read through
	// /proc/PID/map_files or /proc/PID/root while the process lives.
	pid          uint32
	start, limit uint64
	// buildID is the one an MMAP2 record gave, if any.
	buildID string
	loaded  bool
	// loading is closed when a load that released the lock ends.
	loading chan struct{}
	syms    *objSyms // nil when unreadable
	// unknown holds the names of addresses without a symbol,
	// "libfoo.so+0x1234" (file offset), made once each.
	unknown map[uint64]string
}

// process is the address space of one process as far as it is known.
type process struct {
	comm string
	// maps is sorted by start, without overlaps. A forked child shares
	// its parent's slice, mapsShared set in both, until either changes it
	// (ownMaps).
	maps       []*userMap
	mapsShared bool
	exited     bool
	gone       bool // /proc knew nothing of it
	lastRead   time.Time
	// loading is closed when the first read of the process from /proc
	// ends: until then it holds only what records said, and a lookup
	// waits for the read. reading is set while /proc is read, without
	// s.mu; the records handled meanwhile leave recorded (the mappings
	// they added), execed and commSet, so that what was read, perhaps
	// before them, does not undo them.
	loading  chan struct{}
	reading  bool
	recorded []*userMap
	execed   bool
	commSet  bool
	// exitTime is the time of its EXIT record; hit is set once a sample
	// looked it up (User or Comm): an exited process never hit is
	// dropped procRetention after its exit.
	exitTime uint64
	hit      bool
	// touched is the latest record or sample time that described it or
	// looked it up (for Options.Window).
	touched uint64
}

// procRetention is how long an exited process that no sample looked up is
// kept past its EXIT, relative to the latest record or sample time: as
// for unloaded BPF images, no sample of it can come later than that.
// Processes that samples did look up are kept until Close.
const procRetention = bpfRetention

// exitedProc is a process in the queue of those that exited, with the
// time of the exit that queued it.
type exitedProc struct {
	pid uint32
	p   *process
	at  uint64
}

// userMap is one executable mapping of a process.
type userMap struct {
	start, limit, pgoff uint64
	obj                 *object
	// buildID is the one the MMAP2 record gave, if any.
	buildID string
	// mapping is made on the first address resolved in the mapping, once
	// the object is loaded and its build ID known, and never changed:
	// frames handed out share it with readers on other goroutines.
	mapping *Mapping
}

func newUserMap(start, limit, pgoff uint64, obj *object, buildID string) *userMap {
	return &userMap{start: start, limit: limit, pgoff: pgoff, obj: obj, buildID: buildID}
}

// cut returns the part [start, limit) of m, which a new mapping left.
func (m *userMap) cut(start, limit uint64) *userMap {
	return newUserMap(start, limit, m.pgoff+(start-m.start), m.obj, m.buildID)
}

// mappingLocked returns the Mapping of m, made on first use; m.obj must
// be loaded by then, so that the Mapping is complete when it is published.
func (m *userMap) mappingLocked() *Mapping {
	if m.mapping == nil {
		id := m.buildID
		if id == "" && m.obj.syms != nil {
			id = m.obj.syms.buildID
		}
		m.mapping = &Mapping{Kind: KindUser, Start: m.start, Limit: m.limit, Offset: m.pgoff, File: m.obj.path, BuildID: id}
	}
	return m.mapping
}

// insertMap returns maps with m added over whatever it overlaps,
// changing maps in place: the caller must own it (see process.ownMaps).
// It finds the place by binary search and moves only the mappings after
// it, instead of copying and sorting them all on each MMAP2.
func insertMap(maps []*userMap, m *userMap) []*userMap {
	// maps[lo:hi] are those m overlaps: sorted and disjoint, they end in
	// order too.
	lo, _ := slices.BinarySearchFunc(maps, m.start, func(e *userMap, start uint64) int {
		return cmp.Compare(e.limit, start+1)
	})
	hi := lo
	for hi < len(maps) && maps[hi].start < m.limit {
		hi++
	}
	var buf [3]*userMap
	repl := buf[:0]
	if lo < hi && maps[lo].start < m.start {
		repl = append(repl, maps[lo].cut(maps[lo].start, m.start))
	}
	repl = append(repl, m)
	if lo < hi && maps[hi-1].limit > m.limit {
		repl = append(repl, maps[hi-1].cut(m.limit, maps[hi-1].limit))
	}
	return slices.Replace(maps, lo, hi, repl...)
}

// ownMaps makes p's mappings its own before a change in place: a forked
// child and its parent share theirs until either changes.
func (p *process) ownMaps() {
	if p.mapsShared {
		p.maps = slices.Clone(p.maps)
		p.mapsShared = false
	}
}

// find returns the mapping holding addr.
func (p *process) find(addr uint64) *userMap {
	lo := searchAfter(p.maps, addr, func(e **userMap) uint64 { return (*e).start })
	if lo == 0 {
		return nil
	}
	if m := p.maps[lo-1]; addr < m.limit {
		return m
	}
	return nil
}

// tracked reports whether user space of pid is followed.
func (s *Symbolizer) tracked(pid uint32) bool {
	return s.filter == nil || s.filter[pid]
}

// scanProcesses reads the maps and names of every tracked process. It
// runs in New, before the Symbolizer is shared.
func (s *Symbolizer) scanProcesses() {
	add := func(pid uint32) {
		p := &process{}
		s.installProcLocked(pid, p, s.procRead(pid, true))
		s.procs[pid] = p
	}
	if s.filter != nil {
		for pid := range s.filter {
			add(pid)
		}
		return
	}
	ents, err := os.ReadDir(s.procDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		pid, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil || !e.IsDir() {
			continue
		}
		add(uint32(pid))
	}
}

// procData is what /proc said of a process: read without s.mu, installed
// under it.
type procData struct {
	comm    []byte // nil if not read
	entries []mapEntry
	mapsOK  bool // entries were read
	gone    bool // /proc knows no such process
}

// readProcFiles reads the maps of process pid, and its name if comm, from
// /proc. It must run without s.mu: a read of procfs may sleep.
func (s *Symbolizer) readProcFiles(pid uint32, comm bool) procData {
	if s.opts.Offline != nil {
		// A recorded pid is no process of this machine.
		return procData{gone: true}
	}
	var d procData
	dir := filepath.Join(s.procDir, strconv.FormatUint(uint64(pid), 10))
	if comm {
		if c, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
			d.comm = bytes.TrimSuffix(c, []byte("\n"))
		}
	}
	f, err := os.Open(filepath.Join(dir, "maps"))
	if err != nil {
		d.gone = os.IsNotExist(err)
		return d
	}
	defer f.Close()
	if d.entries, _, err = parseMaps(bufio.NewReader(f)); err == nil {
		d.mapsOK = true
	}
	return d
}

// installProcLocked gives p what /proc said, d, under what the records
// handled while it was read said since: the mappings they added go over
// the ones read, an exec makes the read ones stale, a COMM record's name
// stands.
func (s *Symbolizer) installProcLocked(pid uint32, p *process, d procData) {
	rec, execed, commSet := p.recorded, p.execed, p.commSet
	p.reading, p.recorded, p.execed, p.commSet = false, nil, false, false
	p.lastRead = time.Now()
	if d.comm != nil && !commSet && !execed {
		p.comm = s.intern(d.comm)
	}
	if execed {
		return
	}
	if !d.mapsOK {
		p.gone = d.gone && len(rec) == 0
		return
	}
	var maps []*userMap
	for _, e := range d.entries {
		if !e.exec {
			continue
		}
		path := s.intern([]byte(e.path))
		key := objKey{major: e.major, minor: e.minor, inode: e.inode}
		if e.inode == 0 {
			key = objKey{path: path}
		}
		obj := s.objectLocked(key, path, pid, e.start, e.limit)
		maps = insertMap(maps, newUserMap(e.start, e.limit, e.offset, obj, ""))
	}
	for _, m := range rec {
		maps = insertMap(maps, m)
	}
	p.maps, p.mapsShared = maps, false
}

// objectLocked returns the object of key, made on first sight.
func (s *Symbolizer) objectLocked(key objKey, path string, pid uint32, start, limit uint64) *object {
	if o := s.objs[key]; o != nil {
		return o
	}
	o := &object{pid: pid, start: start, limit: limit}
	p, deleted := strings.CutSuffix(path, " (deleted)")
	o.path, o.deleted = p, deleted
	switch {
	case p == "" || p == "//anon":
		o.path, o.base, o.special = "[anon]", "[anon]", true
	case !strings.HasPrefix(p, "/"):
		o.base, o.special = p, true
	default:
		o.base = filepath.Base(p)
	}
	s.objs[key] = o
	return o
}

// procLocked returns the process pid, read from /proc on first sight; nil
// if it is not tracked or the Symbolizer closed. s.mu is released while
// /proc is read, so that lookups of other processes, and records, do not
// wait for it; a lookup of the same process waits for the first one's
// read. Records handled meanwhile go to the process as it is known so far.
func (s *Symbolizer) procLocked(pid uint32) *process {
	for {
		p := s.procs[pid]
		if p != nil && p.loading == nil {
			return p
		}
		if p != nil {
			ch := p.loading
			s.mu.Unlock()
			<-ch
			s.mu.Lock()
			continue
		}
		if s.closed || !s.tracked(pid) {
			return nil
		}
		p = &process{loading: make(chan struct{}), reading: true, touched: max(s.recTime, s.sampleTime.Load())}
		s.procs[pid] = p
		s.mu.Unlock()
		d := s.procRead(pid, true)
		s.mu.Lock()
		close(p.loading)
		p.loading = nil
		if s.closed {
			return nil
		}
		s.installProcLocked(pid, p, d)
		return p
	}
}

// User resolves a user-space address of process pid at a sample's time:
// mappings are tracked as the records arrive, not by time, and time only
// tells how far recording went, for dropping processes that exited
// unsampled. A process
// neither read at the start nor seen forking is read from /proc on its
// first address; an address in no known mapping makes the Symbolizer
// re-read the process's maps, at most once a second per process.
//
// Functions come from the ELF symbol table (.symtab, else .dynsym) and,
// for Go binaries, from the pclntab with file and line (the ELF symbols
// then name only C code, in cgo binaries); calls inlined at the address
// come in Frame.Inlined, from the pclntab's inline trees. An address without a
// symbol gives "FILE+0xOFFSET", OFFSET being the offset in the file.
func (s *Symbolizer) User(pid uint32, addr, time uint64) Frame {
	s.mu.Lock()
	fr, dw, va, named := s.userLocked(pid, addr)
	s.mu.Unlock()
	if dw != nil {
		// DWARF has a lock of its own: parsing a unit's lines holds up
		// no other lookup.
		refineDWARF(&fr, dw, va, named)
	}
	return fr
}

// userLocked resolves addr in process pid by its symbols, and returns the
// DWARF table (nil if none) that can refine the frame at ELF address va;
// named says a symbol named it.
func (s *Symbolizer) userLocked(pid uint32, addr uint64) (fr Frame, dw *dwarfTable, va uint64, named bool) {
	p := s.procLocked(pid)
	if p == nil {
		return Frame{Kind: KindUser, Addr: addr, Func: unknownFunc}, nil, 0, false
	}
	p.hit = true
	p.touched = max(p.touched, s.sampleTime.Load())
	m := p.find(addr)
	if m == nil && !p.exited && !p.gone && !p.reading && sinceRead(p) >= refreshInterval {
		// Read the maps again, without s.mu; lookups meanwhile use
		// the mappings known.
		p.reading = true
		s.mu.Unlock()
		d := s.procRead(pid, false)
		s.mu.Lock()
		if s.closed {
			return Frame{Kind: KindUser, Addr: addr, Func: unknownFunc}, nil, 0, false
		}
		s.installProcLocked(pid, p, d)
		m = p.find(addr)
	}
	if m == nil {
		return Frame{Kind: KindUser, Addr: addr, Func: unknownFunc}, nil, 0, false
	}
	return s.userFrameLocked(m, addr)
}

func sinceRead(p *process) time.Duration { return time.Since(p.lastRead) }

// userFrameLocked resolves addr in mapping m by its symbols; see
// userLocked.
func (s *Symbolizer) userFrameLocked(m *userMap, addr uint64) (fr Frame, dw *dwarfTable, va uint64, named bool) {
	o := m.obj
	s.loadObjectLocked(o)
	fr = Frame{Kind: KindUser, Addr: addr, Mapping: m.mappingLocked()}
	off := addr - m.start + m.pgoff
	if o.syms != nil {
		va = o.syms.vaddr(off)
		if named, dw = o.syms.resolve(&fr, va); named {
			return fr, dw, va, true
		}
	}
	if o.special {
		fr.Func, fr.Offset = o.base, addr-m.start
		return fr, dw, va, false
	}
	fr.Func = o.unknownName(off)
	return fr, dw, va, false
}

// unknownName names an address without a symbol by the file's base name
// and the file offset.
func (o *object) unknownName(off uint64) string {
	if n, ok := o.unknown[off]; ok {
		return n
	}
	if o.unknown == nil {
		o.unknown = map[uint64]string{}
	}
	n := o.base + "+0x" + strconv.FormatUint(off, 16)
	o.unknown[off] = n
	return n
}

// loadObjectLocked reads the symbols of an object, once: through
// /proc/PID/map_files (the very file mapped, even if deleted or replaced
// since), else /proc/PID/root/PATH (the process's mount namespace), else
// PATH. Files with a build ID already loaded are not parsed again.
//
// s.mu must be held; it is released while the file is read and parsed
// (seconds for a large binary), so that lookups in other objects, and
// records, do not wait for it. A second caller for the same object waits
// for the first one's result.
func (s *Symbolizer) loadObjectLocked(o *object) {
	for o.loading != nil {
		ch := o.loading
		s.mu.Unlock()
		<-ch
		s.mu.Lock()
	}
	if o.loaded {
		return
	}
	if o.special {
		if o.path == "[vdso]" && (s.opts.Offline == nil || s.opts.Offline.KernelSymbols) {
			if !s.vdsoLoaded {
				done := make(chan struct{})
				o.loading = done
				s.mu.Unlock()
				syms := readVDSO()
				s.mu.Lock()
				o.loading = nil
				close(done)
				if !s.vdsoLoaded {
					s.vdso, s.vdsoLoaded = syms, true
				}
			}
			o.syms = s.vdso
		}
		o.loaded = true
		return
	}
	var paths []string
	if s.opts.Offline == nil {
		dir := filepath.Join(s.procDir, strconv.FormatUint(uint64(o.pid), 10))
		paths = append(paths, filepath.Join(dir, "map_files", fmt.Sprintf("%x-%x", o.start, o.limit)), filepath.Join(dir, "root", o.path))
	}
	if !o.deleted {
		paths = append(paths, o.path)
	}
	if off := s.opts.Offline; off != nil && off.DebugDir != "" {
		// perf record keeps a copy of each binary samples hit in its
		// build-ID cache, also of those deleted since.
		if id := s.offlineBuildID(o); len(id) > 2 {
			paths = append(paths, filepath.Join(off.DebugDir, ".build-id", id[:2], id[2:], "elf"))
		}
	}
	done := make(chan struct{})
	o.loading = done
	snap := *o // what reading needs, as it is now
	s.mu.Unlock()
	syms := s.readObject(&snap, paths)
	s.mu.Lock()
	o.loading = nil
	close(done)
	o.loaded = true
	if syms == nil || s.closed {
		return
	}
	if syms.buildID != "" {
		if c := s.symsByID[syms.buildID]; c != nil {
			syms = c // loaded meanwhile for another object
		} else {
			s.symsByID[syms.buildID] = syms
		}
	}
	o.syms = syms
}

// readObject reads the symbols of o from the first of paths that is its
// file. It runs without s.mu.
func (s *Symbolizer) readObject(o *object, paths []string) *objSyms {
	cached := func(id string) *objSyms {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.symsByID[id]
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		src := elfSource{opened: p, path: o.path, debugDirs: s.debugDirs, dwarf: s.dwarf}
		if o.deleted {
			src.path = "" // its debug link is not beside the deleted path
		}
		syms, err := loadELFFrom(f, src, cached)
		f.Close()
		if err != nil || !s.offlineMatch(o, syms) {
			continue
		}
		return syms
	}
	return nil
}

// offlineMatch reports whether a file found on this machine is the one a
// recording mapped: the build ID recorded for it, by the mapping or by
// Offline.BuildIDs, must be the file's. Without a recorded one, any file
// at the path will do.
func (s *Symbolizer) offlineMatch(o *object, syms *objSyms) bool {
	if s.opts.Offline == nil {
		return true
	}
	want := s.offlineBuildID(o)
	return want == "" || want == syms.buildID
}

// offlineBuildID is the build ID recorded for an object, "" if none.
func (s *Symbolizer) offlineBuildID(o *object) string {
	if o.buildID != "" {
		return o.buildID
	}
	return s.opts.Offline.BuildIDs[o.path]
}

// readVDSO reads the symbols of the vDSO from this process's memory: the
// kernel maps the same one into every process, so this process's copy
// serves for all. It runs without s.mu.
func readVDSO() *objSyms {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil
	}
	entries, _, _ := parseMaps(bytes.NewReader(data))
	for _, e := range entries {
		if e.path != "[vdso]" {
			continue
		}
		mem, err := os.Open("/proc/self/mem")
		if err != nil {
			return nil
		}
		defer mem.Close()
		img := make([]byte, e.limit-e.start)
		if _, err := mem.ReadAt(img, int64(e.start)); err != nil {
			return nil
		}
		syms, err := loadELF(bytes.NewReader(img), nil)
		if err != nil {
			return nil
		}
		return syms
	}
	return nil
}

// Comm returns the name of process pid, also after it exited (until
// Close if User or Comm looked the process up before its exit was
// retired); "" if unknown. pid 0 is the idle task, "swapper".
func (s *Symbolizer) Comm(pid uint32) string {
	if pid == 0 {
		return "swapper"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.procLocked(pid); p != nil {
		p.hit = true
		p.touched = max(p.touched, s.sampleTime.Load())
		return p.comm
	}
	return ""
}

func (s *Symbolizer) handleMmap2(r *sampler.Mmap2) {
	if r.Prot != 0 && r.Prot&unix.PROT_EXEC == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.tracked(r.PID) || r.Len == 0 || r.Addr+r.Len < r.Addr {
		return
	}
	s.recTime = max(s.recTime, r.Time)
	p := s.procs[r.PID]
	if p == nil {
		// Unknown so far: /proc has its other mappings, if it still
		// runs.
		if p = s.procLocked(r.PID); p == nil {
			return
		}
	}
	path := s.intern([]byte(r.Filename))
	var key objKey
	var buildID string
	switch {
	case len(r.BuildID) > 0:
		buildID = hex.EncodeToString(r.BuildID)
		key = objKey{buildID: buildID}
	case r.Ino != 0:
		key = objKey{major: r.Maj, minor: r.Min, inode: r.Ino}
	default:
		key = objKey{path: path}
	}
	obj := s.objectLocked(key, path, r.PID, r.Addr, r.Addr+r.Len)
	obj.buildID = buildID
	m := newUserMap(r.Addr, r.Addr+r.Len, r.PgOff, obj, buildID)
	p.ownMaps()
	p.maps = insertMap(p.maps, m)
	if p.reading {
		p.recorded = append(p.recorded, m)
	}
	p.gone, p.exited = false, false
	p.touched = max(p.touched, r.Time)
}

func (s *Symbolizer) handleComm(r *sampler.Comm) {
	if r.PID != r.TID && !r.Exec {
		return // a thread's name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.tracked(r.PID) {
		return
	}
	s.recTime = max(s.recTime, r.Time)
	p := s.procs[r.PID]
	switch {
	case p == nil && r.Exec:
		// A new program: the MMAP2 records that follow map it.
		p = &process{lastRead: time.Now()}
		s.procs[r.PID] = p
	case p == nil:
		if p = s.procLocked(r.PID); p == nil {
			return
		}
	case r.Exec:
		p.maps, p.mapsShared = nil, false
		if p.reading {
			p.execed, p.recorded = true, nil
		}
	}
	p.comm = s.intern([]byte(r.Comm))
	p.commSet = p.reading
	p.gone, p.exited = false, false
	p.touched = max(p.touched, r.Time)
}

func (s *Symbolizer) handleFork(r *sampler.Fork) {
	if r.PID == r.PPID {
		return // a new thread
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (!s.tracked(r.PPID) && !s.tracked(r.PID)) {
		return
	}
	s.recTime = max(s.recTime, r.Time)
	if s.filter != nil {
		s.filter[r.PID] = true
	}
	parent := s.procs[r.PPID]
	if parent == nil || parent.loading != nil {
		delete(s.procs, r.PID) // read from /proc on first sight
		return
	}
	parent.mapsShared = true
	s.procs[r.PID] = &process{comm: parent.comm, maps: parent.maps, mapsShared: true, lastRead: time.Now(), touched: r.Time}
}

func (s *Symbolizer) handleExit(r *sampler.Exit) {
	if r.PID != r.TID {
		return // a thread
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.recTime = max(s.recTime, r.Time)
	if p := s.procs[r.PID]; p != nil && !p.exited {
		p.exited, p.exitTime, p.touched = true, r.Time, max(p.touched, r.Time)
		s.exitQ = append(s.exitQ, exitedProc{pid: r.PID, p: p, at: r.Time})
	}
	s.pruneProcsLocked()
}

// pruneProcsLocked drops the processes that exited more than
// procRetention before the latest record or sample and that no sample
// looked up. The queue is in the order the exits arrived, which is their
// time order give or take the wait in per-CPU rings: an exit a little out
// of order only waits for the one before it.
func (s *Symbolizer) pruneProcsLocked() {
	now := max(s.recTime, s.sampleTime.Load())
	s.sweepIdleLocked(now)
	retention := procRetention
	if w := uint64(s.opts.Window); w > 0 {
		retention = max(retention, w)
	}
	if now < retention {
		return
	}
	cut := now - retention
	n := 0
	for ; n < len(s.exitQ) && s.exitQ[n].at <= cut; n++ {
		e := s.exitQ[n]
		s.exitQ[n] = exitedProc{}
		// A process hit, revived by a record after its exit, exited
		// again later or replaced by a new one of the same pid stays.
		// With a Window, a hit one goes too.
		if p := e.p; s.procs[e.pid] == p && p.exited && p.exitTime == e.at && (!p.hit || s.opts.Window > 0) {
			delete(s.procs, e.pid)
			if s.filter != nil {
				// The pid may come back as an unrelated process.
				delete(s.filter, e.pid)
			}
			s.dropped++
		}
	}
	s.exitQ = s.exitQ[n:]
	if s.dropped > max(len(s.procs), 64) {
		s.sweepObjectsLocked()
	}
}

// sweepIdleLocked drops, with Options.Window, the processes that nothing
// touched for a Window: their EXIT was lost, or they sleep. One that comes
// back is read from /proc again. It runs once every half Window.
func (s *Symbolizer) sweepIdleLocked(now uint64) {
	w := uint64(s.opts.Window)
	if w == 0 || now < s.nextIdleSweep {
		return
	}
	s.nextIdleSweep = now + w/2
	if now < w {
		return
	}
	for pid, p := range s.procs {
		if p.touched < now-w {
			delete(s.procs, pid)
			if s.filter != nil && p.exited {
				delete(s.filter, pid)
			}
			s.dropped++
		}
	}
}

// sweepObjectsLocked releases the objects no process maps any more, and
// the symbol tables only they held. It runs once as many processes were
// dropped as are held, so that its cost, in the mappings and objects held,
// is spread over the drops.
func (s *Symbolizer) sweepObjectsLocked() {
	s.dropped = 0
	used := make(map[*object]bool, len(s.objs))
	for _, p := range s.procs {
		for _, m := range p.maps {
			used[m.obj] = true
		}
	}
	syms := map[*objSyms]bool{}
	for k, o := range s.objs {
		if !used[o] {
			delete(s.objs, k)
		} else if o.syms != nil {
			syms[o.syms] = true
		}
	}
	for id, o := range s.symsByID {
		if !syms[o] {
			delete(s.symsByID, id)
		}
	}
}
