// Package bpfprog lists the BPF programs loaded in the kernel with their
// facts (type, names, tag, sizes, maps, JIT symbols, attach points, owning
// processes) and samples their run-time statistics. It is bpfprof's one
// reader of program info: ReadDetail reads one program's code, JIT images
// and BTF func and line info for symbolize and annotate.
//
// Reading other programs needs CAP_SYS_ADMIN: the kernel refuses
// BPF_PROG_GET_NEXT_ID and BPF_PROG_GET_FD_BY_ID to CAP_BPF alone. Errors
// match ErrPermission, ErrNotFound and ErrNotSupported with errors.Is.
package bpfprog

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
)

// ID is the kernel's ID of a loaded BPF program.
type ID uint32

// RunStats are a program's cumulative run-time statistics. The kernel counts
// only while statistics are enabled (see OpenStats).
type RunStats struct {
	// RunTime is the time spent in the program. Linux 5.8 or later.
	RunTime time.Duration
	// RunCount is the number of runs. Linux 5.8 or later.
	RunCount uint64
	// RecursionMisses counts runs skipped because another BPF program was
	// running on the CPU. Linux 5.12 or later.
	RecursionMisses uint64
}

// Program is what the kernel tells about one loaded BPF program
// (BPF_OBJ_GET_INFO_BY_FD), plus its attach points and holders. Facts an
// older kernel does not report are zero.
type Program struct {
	ID   ID
	Type Type
	// Name is the kernel's name: at most 15 bytes, possibly empty.
	Name string
	// FullName is the BTF name of the main function where Name is
	// truncated or empty, else Name.
	FullName string
	// Tag is the hex hash of the program's instructions, as bpftool shows.
	Tag string
	// GPL reports whether the program is GPL compatible.
	GPL bool
	// LoadedAt is when the program was loaded, on the wall clock.
	LoadedAt time.Time
	// UID is the user that loaded the program.
	UID uint32
	// XlatedSize and JitedSize are the sizes in bytes of the verified
	// instructions and of the JIT image (0: not JIT compiled).
	XlatedSize uint32
	JitedSize  uint32
	// VerifiedInsns is the number of instructions the verifier processed.
	// Linux 5.16 or later.
	VerifiedInsns uint32
	// Memlock is the memory charged for the program, from fdinfo; 0 if
	// unknown.
	Memlock uint64
	// MapIDs lists the maps the program uses.
	MapIDs []uint32
	// BTFID is the program's BTF object, 0 if it has none.
	BTFID uint32
	// JitedKsyms are the kernel addresses of the JIT images of the main
	// program and each subprogram; JitedFuncLens their lengths. Empty
	// when kernel.kptr_restrict hides them.
	JitedKsyms    []uint64
	JitedFuncLens []uint32
	// Subprograms is the number of BPF-to-BPF functions besides the main
	// one.
	Subprograms int
	// Stats are the cumulative run statistics when the program was read.
	Stats RunStats
	// Attach lists the BPF links that attach the program, if any.
	// Programs attached without a link (netlink XDP, tc, legacy cgroup
	// attach) show none.
	Attach []Attach
	// Procs lists the processes holding the program or a link to it,
	// sorted by PID.
	Procs []Proc

	loadTime int64 // ns on CLOCK_BOOTTIME
	readAt   int64 // ns on CLOCK_BOOTTIME
}

// ListOptions leave out the parts of a listing a caller does not need.
type ListOptions struct {
	// SkipProcs leaves Procs empty, saving the scan of /proc.
	SkipProcs bool
	// SkipAttach leaves Attach empty, saving the walk of BPF links.
	SkipAttach bool
}

// List returns every loaded BPF program, sorted by ID. Programs unloaded
// while being read are left out. Requires CAP_SYS_ADMIN (an error matching
// ErrPermission otherwise); the owning processes of other users need root.
func List(opts ListOptions) ([]Program, error) {
	return collect(opts, allIDs)
}

// Get returns the program with id, or an error matching ErrNotFound.
// Requires CAP_SYS_ADMIN.
func Get(id ID, opts ListOptions) (*Program, error) {
	progs, err := collect(opts, func() ([]uint32, error) { return []uint32{uint32(id)}, nil })
	if err != nil {
		return nil, err
	}
	if len(progs) == 0 {
		return nil, notFound(Selector{Kind: SelectID, ID: id})
	}
	return &progs[0], nil
}

// CheckAccess reports whether this process may list BPF programs: nil, or an
// error matching ErrPermission that names the missing capability
// (CAP_SYS_ADMIN). Commands call it before loading or sampling anything.
func CheckAccess() error {
	if _, _, err := bpfabi.NextID(unix.BPF_PROG_GET_NEXT_ID, 0); err != nil {
		return kernelError("listing BPF programs", err)
	}
	return nil
}

// allIDs returns the IDs of every loaded program, in order.
func allIDs() ([]uint32, error) {
	var ids []uint32
	var id ID
	for {
		next, ok, err := NextID(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return ids, nil
		}
		ids = append(ids, uint32(next))
		id = next
	}
}

// forEachProgram opens every loaded program in ID order and calls fn with
// its fd, which fn owns and must close. Programs gone before they can be
// opened are skipped.
func forEachProgram(fn func(fd int) error) error {
	ids, err := allIDs()
	if err != nil {
		return err
	}
	for _, id := range ids {
		fd, err := bpfabi.FDByID(unix.BPF_PROG_GET_FD_BY_ID, id)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return kernelError(fmt.Sprintf("opening BPF program %d", id), err)
		}
		if err := fn(fd); err != nil {
			return err
		}
	}
	return nil
}

// collect reads the programs whose IDs ids returns, the BPF links and the
// holders of both in /proc, then joins them.
//
// The work is shared out to one worker per processor (GOMAXPROCS), this
// goroutine included, in small pieces that any worker may take: a process
// or a chunk of a big process's fds, the links, a few programs. The scan
// comes first, so that the program reads that follow find their memlock in
// it, and so that no worker is left alone with a long piece at the end
// while the others wait: the pieces a listing ends with are short. (A
// machine's other work may leave a worker without a processor for a while;
// the others then carry on with what is left.)
//
// Memlock comes from fdinfo, three syscalls per program. The /proc scan reads
// the fdinfo of every program a process holds anyway, so a program read
// after the scan is done takes its memlock from there if it can; one read
// before waits for the scan and, if no process holds it, is opened again
// for its fdinfo. collect never keeps program fds open: holding hundreds
// would make the kernel grow this process's fd table, and every growth of
// a multi-threaded process's table waits for an RCU grace period
// (milliseconds).
func collect(opts ListOptions, ids func() ([]uint32, error)) ([]Program, error) {
	l := &listing{btf: newBTFCache(), skipAttach: opts.SkipAttach, idsReady: make(chan struct{})}
	workers := max(1, runtime.GOMAXPROCS(0))
	self := os.Getpid()
	if !opts.SkipProcs {
		l.scan = newProcScan("/proc", self)
		l.scanners = make([]*procScanner, workers)
		for i := range l.scanners {
			l.scanners[i] = newProcScanner()
		}
	}
	clock := newBootClock()
	readers := make([]*reader, workers)
	var wg sync.WaitGroup
	for w := range readers {
		readers[w] = newReader(l.btf, clock)
		defer readers[w].close()
		if w > 0 {
			wg.Go(func() { l.work(w, readers[w]) })
		}
	}
	// While the other workers list the processes and begin the scan, this
	// one scans this process (before the listing opens any program or
	// link here, so that only what the caller holds counts) and walks the
	// program IDs.
	if !opts.SkipProcs {
		l.mine = scanPIDs("/proc", []string{strconv.Itoa(self)}, 1)
	}
	var err error
	if l.ids, err = ids(); err != nil {
		l.fail(err)
	}
	l.progs = make([]Program, len(l.ids))
	l.state = make([]progState, len(l.ids))
	close(l.idsReady)
	l.work(0, readers[0])
	wg.Wait()
	if l.scan != nil {
		l.scan.close()
	}
	switch {
	case l.err != nil:
		return nil, l.err
	case l.scan != nil && l.scan.err != nil:
		return nil, l.scan.err
	case l.linkErr != nil:
		return nil, l.linkErr
	}

	var hold *holders
	if l.scan != nil {
		hold = l.holders()
	}
	progs := l.progs[:0]
	for i := range l.progs {
		switch l.state[i] {
		case progGone:
			continue
		case progLater:
			if !memlockOf(&l.progs[i], hold, l.mine) {
				readers[0].reopenMemlock(&l.progs[i])
			}
		}
		progs = append(progs, l.progs[i])
	}
	if hold != nil {
		hold.merge(l.mine)
		fillOldPerfLinks(l.links, hold, newResolver(l.btf))
	}
	join(progs, hold, l.links)
	return progs, nil
}

// progChunk is how many programs a worker reads at a time: enough to make
// taking them cheap, few enough that the workers finish together.
const progChunk = 16

// progState is how far collect got with one program.
type progState uint8

const (
	progGone  progState = iota // unloaded before it could be opened
	progRead                   // read, memlock too if it has one
	progLater                  // read; its memlock waits for the scan
)

// listing is the work of one collect, shared by its workers.
type listing struct {
	btf        *btfCache
	skipAttach bool

	scan     *procScan      // nil with ListOptions.SkipProcs
	scanners []*procScanner // by worker
	mine     *holders       // this process, scanned before the others
	hold     *holders       // once the scan is done: all scanners' finds
	holdOnce sync.Once

	ids      []uint32
	idsReady chan struct{} // closed once ids and mine are set
	nextProg atomic.Int64  // index in ids of the next chunk to take
	progs    []Program     // by index in ids, each written by one worker
	state    []progState   // likewise

	linksTaken atomic.Bool
	links      []Attach
	linkErr    error

	stop  atomic.Bool // set on the first error
	errMu sync.Mutex
	err   error
}

// work is one worker: it takes pieces of the listing until none is left.
func (l *listing) work(w int, r *reader) {
	for !l.stop.Load() {
		if l.scan != nil && l.scan.step(l.scanners[w]) {
			continue
		}
		// Links and programs are opened here: not before this process
		// has been scanned.
		<-l.idsReady
		if !l.skipAttach && !l.linksTaken.Swap(true) {
			// Links are few: one piece.
			l.links, l.linkErr = listLinks(newResolver(l.btf))
			continue
		}
		if !l.readChunk(r) {
			return
		}
	}
}

// fail records err, the first error, and stops the workers.
func (l *listing) fail(err error) {
	l.errMu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.errMu.Unlock()
	l.stop.Store(true)
}

// holders returns what the scan found, once it is done.
func (l *listing) holders() *holders {
	l.holdOnce.Do(func() { l.hold = mergeHolders(l.scanners) })
	return l.hold
}

// readChunk reads the next few programs with r; false if none are left.
func (l *listing) readChunk(r *reader) bool {
	i := int(l.nextProg.Add(progChunk)) - progChunk
	if i >= len(l.ids) {
		return false
	}
	for j := i; j < min(i+progChunk, len(l.ids)); j++ {
		if err := l.readProgram(r, j); err != nil {
			l.fail(err)
			return false
		}
	}
	return true
}

// readProgram reads program l.ids[i] into l.progs[i]; one unloaded
// meanwhile is left out.
func (l *listing) readProgram(r *reader, i int) error {
	id := l.ids[i]
	fd, err := bpfabi.FDByID(unix.BPF_PROG_GET_FD_BY_ID, id)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return kernelError(fmt.Sprintf("opening BPF program %d", id), err)
	}
	defer closeFD(fd)
	p := &l.progs[i]
	if err := r.read(fd, p); err != nil {
		return err
	}
	switch {
	case l.scan == nil:
		r.readMemlock(fd, p)
	case l.scan.done():
		if !memlockOf(p, l.holders(), l.mine) {
			r.readMemlock(fd, p)
		}
	default:
		l.state[i] = progLater
		return nil
	}
	l.state[i] = progRead
	return nil
}

// memlockOf sets p's memlock from what a /proc scan read, if it did.
func memlockOf(p *Program, scans ...*holders) bool {
	for _, h := range scans {
		if h == nil {
			continue
		}
		if m, ok := h.memlock[p.ID]; ok {
			p.Memlock = m
			return true
		}
	}
	return false
}

// join fills each program's Attach and Procs.
func join(progs []Program, hold *holders, links []Attach) {
	byProg := map[ID][]Attach{}
	for _, a := range links {
		byProg[a.ProgID] = append(byProg[a.ProgID], a)
	}
	for i := range progs {
		p := &progs[i]
		p.Attach = byProg[p.ID]
		if hold == nil {
			continue
		}
		procs := slices.Clone(hold.progs[p.ID])
		for _, a := range p.Attach {
			for _, q := range hold.links[a.LinkID] {
				procs = addProc(procs, q)
			}
		}
		slices.SortFunc(procs, func(a, b Proc) int { return cmp.Compare(a.PID, b.PID) })
		p.Procs = procs
	}
}

// Capacities of the arrays a reader offers the kernel in its one
// BPF_OBJ_GET_INFO_BY_FD call per program; a program with more gets a
// second call.
const (
	mapIDsCap = 64
	funcsCap  = 64
)

// reader reads program facts with one BPF_OBJ_GET_INFO_BY_FD call per program
// in the common case, into preallocated arrays. Not for concurrent use.
type reader struct {
	info     bpfabi.ProgInfo
	mapIDs   [mapIDsCap]uint32
	ksyms    [funcsCap]uint64
	funcLens [funcsCap]uint32
	funcInfo [funcsCap]bpfabi.FuncInfo
	fdinfo   [1024]byte

	btf   *btfCache
	clock bootClock
	// fdinfoDir is /proc/self/fdinfo, or -1, once fdinfoTried.
	fdinfoDir   int
	fdinfoTried bool
}

// newReader returns a reader that looks names up in btf and converts load
// times with clock.
func newReader(btf *btfCache, clock bootClock) *reader {
	return &reader{btf: btf, clock: clock, fdinfoDir: -1}
}

// read fills p from program fd.
func (r *reader) read(fd int, p *Program) error {
	mapIDs, ksyms, funcLens, funcInfo := r.mapIDs[:], r.ksyms[:], r.funcLens[:], r.funcInfo[:]
	for {
		r.info = bpfabi.ProgInfo{
			NrMapIDs:        uint32(len(mapIDs)),
			MapIDs:          unsafe.Pointer(&mapIDs[0]),
			NrJitedKsyms:    uint32(len(ksyms)),
			JitedKsyms:      unsafe.Pointer(&ksyms[0]),
			NrJitedFuncLens: uint32(len(funcLens)),
			JitedFuncLens:   unsafe.Pointer(&funcLens[0]),
			NrFuncInfo:      uint32(len(funcInfo)),
			FuncInfoRecSize: uint32(unsafe.Sizeof(bpfabi.FuncInfo{})),
			FuncInfo:        unsafe.Pointer(&funcInfo[0]),
		}
		if err := bpfabi.ObjInfo(fd, unsafe.Pointer(&r.info), unsafe.Sizeof(r.info)); err != nil {
			return kernelError("reading BPF program info", err)
		}
		in := &r.info
		if int(in.NrMapIDs) <= len(mapIDs) && int(in.NrJitedKsyms) <= len(ksyms) &&
			int(in.NrJitedFuncLens) <= len(funcLens) && int(in.NrFuncInfo) <= len(funcInfo) {
			break
		}
		// Too many for the preallocated arrays: ask again with room.
		mapIDs = make([]uint32, max(in.NrMapIDs, 1))
		ksyms = make([]uint64, max(in.NrJitedKsyms, 1))
		funcLens = make([]uint32, max(in.NrJitedFuncLens, 1))
		funcInfo = make([]bpfabi.FuncInfo, max(in.NrFuncInfo, 1))
	}
	in := &r.info
	*p = Program{
		ID:            ID(in.ID),
		Type:          Type(in.Type),
		Name:          unix.ByteSliceToString(in.Name[:]),
		Tag:           hex.EncodeToString(in.Tag[:]),
		GPL:           in.Flags&bpfabi.ProgInfoGPLCompatible != 0,
		LoadedAt:      r.clock.wall(int64(in.LoadTime)),
		UID:           in.CreatedByUID,
		XlatedSize:    in.XlatedProgLen,
		JitedSize:     in.JitedProgLen,
		VerifiedInsns: in.VerifiedInsns,
		MapIDs:        slices.Clone(mapIDs[:in.NrMapIDs]),
		BTFID:         in.BTFID,
		Subprograms:   int(max(in.NrFuncInfo, in.NrJitedKsyms, 1)) - 1,
		Stats: RunStats{
			RunTime:         time.Duration(in.RunTimeNs),
			RunCount:        in.RunCnt,
			RecursionMisses: in.RecursionMisses,
		},
		loadTime: int64(in.LoadTime),
		readAt:   r.clock.now(),
	}
	// The kernel clears the pointers when kptr_restrict hides addresses.
	if in.JitedKsyms != nil && in.NrJitedKsyms > 0 && in.JitedProgLen > 0 {
		p.JitedKsyms = slices.Clone(ksyms[:in.NrJitedKsyms])
	}
	if in.JitedFuncLens != nil && in.NrJitedFuncLens > 0 && in.JitedProgLen > 0 {
		p.JitedFuncLens = slices.Clone(funcLens[:in.NrJitedFuncLens])
	}
	p.FullName = p.Name
	if mayBeTruncated(p.Name) && in.NrFuncInfo > 0 {
		p.FullName = fullName(p.Name, funcInfo[0], r.btf.get(in.BTFID))
	}
	return nil
}

// mayBeTruncated reports whether name, a kernel name of a program, may be
// the start of a longer one: it fills the kernel's 15 bytes, or is empty.
func mayBeTruncated(name string) bool {
	return len(name) == len(bpfabi.ProgInfo{}.Name)-1 || name == ""
}

// fullName returns the BTF name of a program's main function, first, the
// first func info record, where it starts with the kernel's name of the
// program; else name.
func fullName(name string, first bpfabi.FuncInfo, names *btfNames) string {
	if first.InsnOff != 0 || names == nil {
		return name
	}
	if full, ok := names.name(first.TypeID); ok && strings.HasPrefix(full, name) {
		return full
	}
	return name
}

// reopenMemlock opens p again to read its memlock; a program unloaded
// meanwhile keeps none.
func (r *reader) reopenMemlock(p *Program) {
	fd, err := bpfabi.FDByID(unix.BPF_PROG_GET_FD_BY_ID, uint32(p.ID))
	if err != nil {
		return
	}
	r.readMemlock(fd, p)
	closeFD(fd)
}

// readMemlock reads p's memlock from the fdinfo of fd.
func (r *reader) readMemlock(fd int, p *Program) {
	if !r.fdinfoTried {
		// Opened once: a path walk through /proc/self per program
		// would cost as much as the read.
		r.fdinfoTried = true
		if dir, err := openat(unix.AT_FDCWD, "/proc/self/fdinfo", unix.O_RDONLY|unix.O_DIRECTORY); err == nil {
			r.fdinfoDir = dir
		}
	}
	if r.fdinfoDir < 0 {
		return
	}
	raw, ok := readAt(r.fdinfoDir, strconv.Itoa(fd), r.fdinfo[:])
	if !ok {
		return
	}
	if fi := parseFDInfo(raw); fi.HasMemlock {
		p.Memlock = fi.Memlock
	}
}

// close releases what the reader opened.
func (r *reader) close() {
	if r.fdinfoDir >= 0 {
		closeFD(r.fdinfoDir)
	}
	r.fdinfoDir = -1
}

// bootClock reads CLOCK_BOOTTIME, the clock of bpf_prog_info.load_time,
// through Go's monotonic clock (vDSO, no syscall): both advance together
// except across a suspend, which a listing does not span.
type bootClock struct {
	base time.Time
	boot int64
}

func newBootClock() bootClock { return bootClock{base: time.Now(), boot: bootTime()} }

// now returns the time in ns on CLOCK_BOOTTIME.
func (c bootClock) now() int64 { return c.boot + int64(time.Since(c.base)) }

// wall converts a CLOCK_BOOTTIME time to the wall clock.
func (c bootClock) wall(boot int64) time.Time {
	return time.Unix(0, c.base.UnixNano()-c.boot+boot)
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
