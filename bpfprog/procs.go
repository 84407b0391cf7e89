package bpfprog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Proc is a process holding a BPF program: through a program file
// descriptor, or through a link to it.
type Proc struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
}

// FDObject is the kind of BPF object an fd refers to, as its fdinfo tells.
type FDObject int

// Kinds of fds, by the type line of their fdinfo.
const (
	// FDOther is an fd that is not a BPF program, link or map.
	FDOther FDObject = iota
	// FDProg is a BPF program (a "prog_type" line).
	FDProg
	// FDLink is a BPF link (a "link_type" line).
	FDLink
	// FDMap is a BPF map (a "map_type" line).
	FDMap
)

// FDInfo is what /proc/PID/fdinfo/FD says about a BPF program or link file
// descriptor. Fields a file does not list stay zero, with their Has flag
// false.
type FDInfo struct {
	Object FDObject
	// ProgID is the program of a program fd, or the program of a link fd
	// (Linux 5.7 or later lists it for links too).
	ProgID     ID
	HasProgID  bool
	LinkID     uint32
	HasLinkID  bool
	Memlock    uint64
	HasMemlock bool
}

// ParseFDInfo reads the lines of a /proc/PID/fdinfo/FD file that bpfprof
// needs: prog_id, link_id and memlock. Other lines, and values that are not
// decimal numbers, are ignored; only a read error is an error.
func ParseFDInfo(r io.Reader) (FDInfo, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return FDInfo{}, fmt.Errorf("read fdinfo: %w", err)
	}
	return parseFDInfo(raw), nil
}

func parseFDInfo(raw []byte) FDInfo {
	var fi FDInfo
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(key) {
		case "prog_id", "link_id", "memlock":
		case "prog_type":
			fi.Object = FDProg
			continue
		case "link_type":
			fi.Object = FDLink
			continue
		case "map_type":
			fi.Object = FDMap
			continue
		default:
			continue
		}
		v, err := strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil {
			continue
		}
		switch string(key) {
		case "prog_id":
			if v <= 0xffffffff {
				fi.ProgID, fi.HasProgID = ID(v), true
			}
		case "link_id":
			if v <= 0xffffffff {
				fi.LinkID, fi.HasLinkID = uint32(v), true
			}
		case "memlock":
			fi.Memlock, fi.HasMemlock = v, true
		}
	}
	return fi
}

// holders is what one scan of /proc found: who holds which program and link,
// and the memlock of every program fd seen (saving an fdinfo read later).
type holders struct {
	progs   map[ID][]Proc
	links   map[uint32][]Proc // links whose fdinfo did not name a program
	memlock map[ID]uint64
}

// The names /proc/PID/fd links have for BPF objects (anon_inode_getfile).
const (
	anonProg = "anon_inode:bpf-prog"
	anonLink = "anon_inode:bpf_link"
)

// scanPIDs scans the processes names (PIDs, directories of procRoot) with
// workers goroutines, this one included, and returns what they found.
func scanPIDs(procRoot string, names []string, workers int) *holders {
	ps := newProcScan(procRoot, 0)
	ps.list = func() ([]string, error) { return names, nil }
	return runScan(ps, workers)
}

// runScan runs ps to its end with workers goroutines, this one included.
func runScan(ps *procScan, workers int) *holders {
	defer ps.close()
	scanners := make([]*procScanner, max(1, workers))
	var wg sync.WaitGroup
	for i := range scanners {
		scanners[i] = newProcScanner()
		if i > 0 {
			wg.Go(func() {
				for ps.step(scanners[i]) {
				}
			})
		}
	}
	for ps.step(scanners[0]) {
	}
	wg.Wait()
	return mergeHolders(scanners)
}

// mergeHolders gathers what the scanners found into the holders of the one
// that found most, which saves copying the bulk when one worker scanned a
// big process alone.
func mergeHolders(scanners []*procScanner) *holders {
	h := scanners[0].h
	for _, s := range scanners[1:] {
		if len(s.h.progs)+len(s.h.links) > len(h.progs)+len(h.links) {
			h = s.h
		}
	}
	for _, s := range scanners {
		if s.h != h {
			h.merge(s.h)
		}
	}
	return h
}

// procScan is one scan of the processes of a proc mount, shared by any
// number of workers, each with a procScanner of its own, that call step
// until it returns false.
//
// The first step lists the processes. Then a worker takes one process at a
// time and scans the first fdChunkSize fds of it; the rest of a big
// process's fds are queued in chunks for any worker to take. Processes come
// first: how long one takes is unknown until its fds are listed, while
// chunks are of one size, so a scan that ends with chunks ends with the
// workers finishing together. Only the fd directories of big processes stay
// open meanwhile: the process's fd table should not grow (see collect).
type procScan struct {
	procRoot string
	// list returns the processes to scan: directories of procRoot.
	list     func() ([]string, error)
	listOnce sync.Once
	err      error // from list

	root  int // the proc mount, or -1
	names []string
	next  atomic.Int64 // index in names of the next process to take

	mu     sync.Mutex
	queued []*fdChunk // chunks not taken yet

	// pending counts the processes and chunks not scanned to the end,
	// and the listing until it is done: zero once the scan is complete.
	pending atomic.Int64
}

// newProcScan returns a scan of the processes in procRoot but the one with
// PID skip (if not 0).
func newProcScan(procRoot string, skip int) *procScan {
	ps := &procScan{procRoot: procRoot, root: -1}
	ps.list = func() ([]string, error) { return listPIDs(procRoot, skip) }
	ps.pending.Store(1)
	return ps
}

// listPIDs returns the names in procRoot, all but the PID skip (if not 0).
// Names that are not PIDs are left for the scan to skip.
func listPIDs(procRoot string, skip int) ([]string, error) {
	names, err := newProcScanner().readDir(procRoot, nil)
	if err != nil {
		return nil, fmt.Errorf("scan processes in %s: %w", procRoot, err)
	}
	if skip > 0 {
		self := strconv.Itoa(skip)
		names = slices.DeleteFunc(names, func(n string) bool { return n == self })
	}
	return names, nil
}

// start lists the processes and opens the proc mount; the first step does it,
// and the other workers' first steps wait for it.
func (ps *procScan) start() {
	defer ps.pending.Add(-1)
	names, err := ps.list()
	if err != nil {
		ps.err = err
		return
	}
	// Paths are opened relative to the proc mount: one lookup less each.
	if ps.root, err = openat(unix.AT_FDCWD, ps.procRoot, unix.O_RDONLY|unix.O_DIRECTORY); err != nil {
		ps.root = -1
		return
	}
	ps.names = names
	ps.pending.Add(int64(len(names)))
}

// step scans one process or one chunk of fds with s, and reports whether
// there was one left to take. A scan is complete once every worker's step
// returned false (or done reports true); a worker whose step returns false
// may still see chunks later, which other workers queue.
func (ps *procScan) step(s *procScanner) bool {
	ps.listOnce.Do(ps.start)
	if i := int(ps.next.Add(1)) - 1; i < len(ps.names) {
		ps.scanProcess(s, ps.names[i])
		ps.pending.Add(-1)
		return true
	}
	ps.mu.Lock()
	var c *fdChunk
	if n := len(ps.queued); n > 0 {
		c, ps.queued = ps.queued[n-1], ps.queued[:n-1]
	}
	ps.mu.Unlock()
	if c == nil {
		return false
	}
	s.scanChunk(c)
	c.dir.release()
	ps.pending.Add(-1)
	return true
}

// done reports whether every process and chunk has been scanned: then what
// the workers' procScanners found is complete, and safe to read in the
// goroutine that saw done return true.
func (ps *procScan) done() bool { return ps.pending.Load() == 0 }

// close releases the proc mount and the fd directories of chunks left
// over by workers that stopped early, once no worker calls step any more.
func (ps *procScan) close() {
	for _, c := range ps.queued {
		c.dir.release()
	}
	ps.queued = nil
	if ps.root >= 0 {
		closeFD(ps.root)
	}
	ps.root = -1
}

// scanProcess scans process name (a directory of the proc mount): it queues
// its fds after the first fdChunkSize in chunks, then scans the first ones.
func (ps *procScan) scanProcess(s *procScanner, name string) {
	pid, err := strconv.Atoi(name)
	if err != nil || pid <= 0 {
		return
	}
	dir := &procDir{pid: pid, root: ps.root, name: name}
	dir.fd, err = openat(ps.root, name+"/fd", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return
	}
	fds, err := s.readDirFD(dir.fd, nil)
	if err != nil || len(fds) == 0 {
		closeFD(dir.fd)
		return
	}
	var chunks []*fdChunk
	for len(fds) > 0 {
		n := min(len(fds), fdChunkSize)
		chunks = append(chunks, &fdChunk{dir: dir, fds: fds[:n]})
		fds = fds[n:]
	}
	dir.refs.Store(int32(len(chunks)))
	if rest := chunks[1:]; len(rest) > 0 {
		// Queued before this worker scans the first chunk, so that the
		// others can start on them at once.
		ps.pending.Add(int64(len(rest)))
		ps.mu.Lock()
		ps.queued = append(ps.queued, rest...)
		ps.mu.Unlock()
	}
	s.scanChunk(chunks[0])
	dir.release()
}

// fdChunkSize is how many fds of one process a scan worker takes at a time.
const fdChunkSize = 64

// procDir is the fd directory of one process, open while chunks of it are
// still to be scanned.
type procDir struct {
	pid  int
	root int    // the proc mount
	name string // PID, in root
	fd   int    // open on path/fd
	refs atomic.Int32
	// dense is set once a chunk was mostly BPF fds.
	dense atomic.Bool
}

// release closes the directory after its last chunk.
func (d *procDir) release() {
	if d.refs.Add(-1) == 0 {
		closeFD(d.fd)
	}
}

// fdChunk is some fds of one process, for one scan worker.
type fdChunk struct {
	dir *procDir
	fds []string
}

// procScanner is one scan worker: its results and scratch buffers.
type procScanner struct {
	h                *holders
	dents, link, buf []byte
	// The comm of the last process looked up, cached across its chunks.
	commPID int
	comm    string
}

func newProcScanner() *procScanner {
	return &procScanner{
		h:     &holders{progs: map[ID][]Proc{}, links: map[uint32][]Proc{}, memlock: map[ID]uint64{}},
		dents: make([]byte, 8<<10),
		link:  make([]byte, 64),
		buf:   make([]byte, 1024),
	}
}

// merge adds what another worker found.
func (h *holders) merge(o *holders) {
	for id, procs := range o.progs {
		for _, p := range procs {
			h.progs[id] = addProc(h.progs[id], p)
		}
	}
	for id, procs := range o.links {
		for _, p := range procs {
			h.links[id] = addProc(h.links[id], p)
		}
	}
	for id, m := range o.memlock {
		h.memlock[id] = m
	}
}

// readDir appends the names in directory path (no "." and "..") to names.
func (s *procScanner) readDir(path string, names []string) ([]string, error) {
	fd, err := openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer closeFD(fd)
	return s.readDirFD(fd, names)
}

// readDirFD appends the names in directory fd to names.
func (s *procScanner) readDirFD(fd int, names []string) ([]string, error) {
	for {
		n, err := getdents(fd, s.dents)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(s.dents[:n], -1, names)
	}
	return names, nil
}

// scanChunk scans some fds of one process.
//
// Mostly it reads each fd's link and the fdinfo of BPF fds only. Once a chunk
// of a process turns out to be mostly BPF fds (a loader holding hundreds of
// programs), its later chunks skip the links and read every fdinfo: it tells
// the kind of object too, and a readlink per fd costs more than the fdinfo
// reads of the few other fds.
func (s *procScanner) scanChunk(c *fdChunk) {
	d := c.dir
	dense := d.dense.Load()
	infoDir := -1
	defer func() {
		if infoDir >= 0 {
			closeFD(infoDir)
		}
	}()
	bpfFDs := 0
	for _, fd := range c.fds {
		if !dense {
			n, err := readlinkat(d.fd, fd, s.link)
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				// The process is not ours to inspect: neither is
				// any other of its fds.
				return
			}
			if err != nil || n >= len(s.link) {
				continue
			}
			if target := string(s.link[:n]); target != anonProg && target != anonLink {
				continue
			}
		}
		if infoDir < 0 {
			var err error
			infoDir, err = openat(d.root, d.name+"/fdinfo", unix.O_RDONLY|unix.O_DIRECTORY)
			if err != nil {
				return
			}
		}
		raw, ok := readAt(infoDir, fd, s.buf)
		if !ok {
			continue
		}
		fi := parseFDInfo(raw)
		if fi.Object != FDProg && fi.Object != FDLink {
			continue
		}
		bpfFDs++
		if s.commPID != d.pid {
			s.commPID, s.comm = d.pid, s.readComm(d.root, d.name)
		}
		proc := Proc{PID: d.pid, Comm: s.comm}
		h := s.h
		switch {
		case fi.HasProgID:
			h.progs[fi.ProgID] = addProc(h.progs[fi.ProgID], proc)
			if fi.Object == FDProg && fi.HasMemlock {
				h.memlock[fi.ProgID] = fi.Memlock
			}
		case fi.HasLinkID:
			h.links[fi.LinkID] = addProc(h.links[fi.LinkID], proc)
		}
	}
	if !dense && bpfFDs*4 >= len(c.fds)*3 {
		d.dense.Store(true)
	}
}

// readComm reads PID/comm in the proc mount root; empty if the process is
// gone.
func (s *procScanner) readComm(root int, pid string) string {
	raw, ok := readAt(root, pid+"/comm", s.buf)
	if !ok {
		return ""
	}
	return string(bytes.TrimSuffix(raw, []byte("\n")))
}

// addProc appends p to procs unless the process is already there: a process
// may hold a program through several fds.
func addProc(procs []Proc, p Proc) []Proc {
	if slices.ContainsFunc(procs, func(q Proc) bool { return q.PID == p.PID }) {
		return procs
	}
	return append(procs, p)
}

// readAt reads the fdinfo file name in directory dirfd into buf; false if it
// cannot be read (the fd was closed meanwhile) or does not fit.
func readAt(dirfd int, name string, buf []byte) ([]byte, bool) {
	fd, err := openat(dirfd, name, unix.O_RDONLY)
	if err != nil {
		return nil, false
	}
	defer closeFD(fd)
	return readShort(fd, buf)
}

// readShort reads the start of a small procfs file (fdinfo, comm) into buf.
// The kernel formats them in one go (single_open seq_file), so a read that
// does not fill buf has returned all of it: no second read to see EOF, a
// syscall saved per file. A longer file (the fdinfo of a kprobe_multi link
// lists every function) is cut after its last whole line in buf: the lines
// bpfprof needs come first.
func readShort(fd int, buf []byte) ([]byte, bool) {
	for {
		n, err := read(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, false
		}
		if n == len(buf) {
			n = bytes.LastIndexByte(buf, '\n') + 1
		}
		return buf[:n], true
	}
}
