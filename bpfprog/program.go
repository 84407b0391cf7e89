// Package bpfprog lists the BPF programs loaded in the kernel with their
// facts (type, names, tag, sizes, maps, JIT symbols, attach points, owning
// processes) and samples their run-time statistics.
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
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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
	return collect(opts, forEachProgram)
}

// Get returns the program with id, or an error matching ErrNotFound.
// Requires CAP_SYS_ADMIN.
func Get(id ID, opts ListOptions) (*Program, error) {
	progs, err := collect(opts, func(fn func(fd int) error) error {
		fd, err := fdByID(unix.BPF_PROG_GET_FD_BY_ID, uint32(id))
		if errors.Is(err, unix.ENOENT) {
			return notFound(Selector{Kind: SelectID, ID: id})
		}
		if err != nil {
			return kernelError(fmt.Sprintf("opening BPF program %d", id), err)
		}
		return fn(fd)
	})
	if err != nil {
		return nil, err
	}
	return &progs[0], nil
}

// CheckAccess reports whether this process may list BPF programs: nil, or an
// error matching ErrPermission that names the missing capability
// (CAP_SYS_ADMIN). Commands call it before loading or sampling anything.
func CheckAccess() error {
	if _, _, err := nextID(unix.BPF_PROG_GET_NEXT_ID, 0); err != nil {
		return kernelError("listing BPF programs", err)
	}
	return nil
}

// forEachProgram opens every loaded program in ID order and calls fn with
// its fd, which fn owns and must close. Programs gone before they can be
// opened are skipped.
func forEachProgram(fn func(fd int) error) error {
	var id uint32
	for {
		next, ok, err := nextID(unix.BPF_PROG_GET_NEXT_ID, id)
		if err != nil {
			return kernelError("listing BPF programs", err)
		}
		if !ok {
			return nil
		}
		id = next
		fd, err := fdByID(unix.BPF_PROG_GET_FD_BY_ID, id)
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
}

// collect reads the programs each calls back with and the BPF links while
// the /proc scan runs concurrently, then joins them.
//
// Memlock comes from fdinfo, three syscalls per program. The /proc scan reads
// the fdinfo of every program a process holds anyway, so a program read
// after the scan is done takes its memlock from there if it can; one read
// before waits for the scan and, if no process holds it, is opened again
// for its fdinfo. collect never keeps program fds open: holding hundreds
// would make the kernel grow this process's fd table, and every growth of
// a multi-threaded process's table waits for an RCU grace period
// (milliseconds).
func collect(opts ListOptions, each func(func(fd int) error) error) ([]Program, error) {
	btf := newBTFCache()
	var (
		wg      sync.WaitGroup
		hold    *holders
		holdErr error
		scanned = make(chan struct{}) // closed once hold is set
		links   []Attach
		linkErr error
	)
	var mine *holders
	if opts.SkipProcs {
		close(scanned)
	} else {
		// The listing opens every program for a moment: scan this
		// process before it does, so that only what the caller holds
		// counts; the other processes are scanned meanwhile.
		self := os.Getpid()
		mine = scanPIDs("/proc", []string{strconv.Itoa(self)}, 1)
		wg.Go(func() {
			defer close(scanned)
			hold, holdErr = scanProcs("/proc", runtime.GOMAXPROCS(0), self)
		})
	}
	r := newReader(btf)
	defer r.close()
	var (
		progs []Program
		later []int // programs whose memlock waits for the scan
	)
	err := each(func(fd int) error {
		defer closeFD(fd)
		var p Program
		if err := r.read(fd, &p); err != nil {
			return err
		}
		select {
		case <-scanned:
			if !memlockOf(&p, hold, mine) {
				r.readMemlock(fd, &p)
			}
		default:
			later = append(later, len(progs))
		}
		progs = append(progs, p)
		return nil
	})
	if err == nil && !opts.SkipAttach {
		// Links are few: reading them here costs less than a goroutine.
		links, linkErr = listLinks(newResolver(btf))
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if linkErr != nil {
		return nil, linkErr
	}
	if holdErr != nil {
		return nil, holdErr
	}
	for _, i := range later {
		if !memlockOf(&progs[i], hold, mine) {
			r.reopenMemlock(&progs[i])
		}
	}
	if hold != nil {
		hold.merge(mine)
	}
	join(progs, hold, links)
	return progs, nil
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
	info     progInfo
	mapIDs   [mapIDsCap]uint32
	ksyms    [funcsCap]uint64
	funcLens [funcsCap]uint32
	funcInfo [funcsCap]funcInfoRec
	fdinfo   [1024]byte

	btf   *btfCache
	clock bootClock
	// fdinfoDir is /proc/self/fdinfo, or -1, once fdinfoTried.
	fdinfoDir   int
	fdinfoTried bool
}

func newReader(btf *btfCache) *reader {
	return &reader{btf: btf, clock: newBootClock(), fdinfoDir: -1}
}

// read fills p from program fd.
func (r *reader) read(fd int, p *Program) error {
	mapIDs, ksyms, funcLens, funcInfo := r.mapIDs[:], r.ksyms[:], r.funcLens[:], r.funcInfo[:]
	for {
		r.info = progInfo{
			nrMapIDs:        uint32(len(mapIDs)),
			mapIDs:          unsafe.Pointer(&mapIDs[0]),
			nrJitedKsyms:    uint32(len(ksyms)),
			jitedKsyms:      unsafe.Pointer(&ksyms[0]),
			nrJitedFuncLens: uint32(len(funcLens)),
			jitedFuncLens:   unsafe.Pointer(&funcLens[0]),
			nrFuncInfo:      uint32(len(funcInfo)),
			funcInfoRecSize: uint32(unsafe.Sizeof(funcInfoRec{})),
			funcInfo:        unsafe.Pointer(&funcInfo[0]),
		}
		if err := objInfo(fd, unsafe.Pointer(&r.info), unsafe.Sizeof(r.info)); err != nil {
			return kernelError("reading BPF program info", err)
		}
		in := &r.info
		if int(in.nrMapIDs) <= len(mapIDs) && int(in.nrJitedKsyms) <= len(ksyms) &&
			int(in.nrJitedFuncLens) <= len(funcLens) && int(in.nrFuncInfo) <= len(funcInfo) {
			break
		}
		// Too many for the preallocated arrays: ask again with room.
		mapIDs = make([]uint32, max(in.nrMapIDs, 1))
		ksyms = make([]uint64, max(in.nrJitedKsyms, 1))
		funcLens = make([]uint32, max(in.nrJitedFuncLens, 1))
		funcInfo = make([]funcInfoRec, max(in.nrFuncInfo, 1))
	}
	in := &r.info
	*p = Program{
		ID:            ID(in.id),
		Type:          Type(in.typ),
		Name:          cString(in.name[:]),
		Tag:           hex.EncodeToString(in.tag[:]),
		GPL:           in.flags&1 != 0,
		LoadedAt:      r.clock.wall(int64(in.loadTime)),
		UID:           in.createdByUID,
		XlatedSize:    in.xlatedProgLen,
		JitedSize:     in.jitedProgLen,
		VerifiedInsns: in.verifiedInsns,
		MapIDs:        slices.Clone(mapIDs[:in.nrMapIDs]),
		BTFID:         in.btfID,
		Subprograms:   int(max(in.nrFuncInfo, in.nrJitedKsyms, 1)) - 1,
		Stats: RunStats{
			RunTime:         time.Duration(in.runTimeNs),
			RunCount:        in.runCnt,
			RecursionMisses: in.recursionMisses,
		},
		loadTime: int64(in.loadTime),
		readAt:   r.clock.now(),
	}
	// The kernel clears the pointers when kptr_restrict hides addresses.
	if in.jitedKsyms != nil && in.nrJitedKsyms > 0 && in.jitedProgLen > 0 {
		p.JitedKsyms = slices.Clone(ksyms[:in.nrJitedKsyms])
	}
	if in.jitedFuncLens != nil && in.nrJitedFuncLens > 0 && in.jitedProgLen > 0 {
		p.JitedFuncLens = slices.Clone(funcLens[:in.nrJitedFuncLens])
	}
	p.FullName = p.Name
	if (len(p.Name) == len(in.name)-1 || p.Name == "") && in.nrFuncInfo > 0 && funcInfo[0].insnOff == 0 {
		if names := r.btf.get(in.btfID); names != nil {
			if full, ok := names.name(funcInfo[0].typeID); ok && strings.HasPrefix(full, p.Name) {
				p.FullName = full
			}
		}
	}
	return nil
}

// reopenMemlock opens p again to read its memlock; a program unloaded
// meanwhile keeps none.
func (r *reader) reopenMemlock(p *Program) {
	fd, err := fdByID(unix.BPF_PROG_GET_FD_BY_ID, uint32(p.ID))
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
