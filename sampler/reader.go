// Package sampler samples the machine with perf events, as perf record does,
// and delivers typed records (samples, mmaps, BPF program loads, ...) in
// time order.
//
// Open sets up one ring buffer per CPU. Into it go the sampling events of
// that CPU and a side-band dummy event that reports process and mapping
// changes (MMAP2, COMM, FORK, EXIT) and kernel symbol changes (KSYMBOL,
// BPF_EVENT) for the whole CPU, so a JIT-compiled BPF program is known
// before the first sample in it. Reader.Run reads the rings and merges
// them by time. The record decoder is a pure function over bytes
// (Decoder), usable on records from a file.
//
// Needs root, or CAP_PERFMON, or a permissive kernel.perf_event_paranoid;
// SamplingProblem says which is missing.
package sampler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/perfabi"
)

// Defaults of Options.
const (
	// DefaultFrequency is the sampling frequency when neither Frequency
	// nor Period is set, as perf's.
	DefaultFrequency = 4000
	// DefaultRingPages is the number of data pages per CPU ring (512 KiB
	// with 4 KiB pages), as perf's default for root.
	DefaultRingPages = 128
)

// pollTimeoutMs bounds how long records may sit in a ring below the wake-up
// watermark before Run reads them.
const pollTimeoutMs = 100

// Options say what to sample.
type Options struct {
	// Events to sample; none means DefaultEvent(). Sample.Event indexes
	// this slice.
	Events []Event
	// Frequency is the sampling rate in samples per second per CPU (perf
	// -F). When both Frequency and Period are 0, DefaultFrequency, lowered
	// to kernel.perf_event_max_sample_rate if that is less (as perf does;
	// Reader.Warnings says so). A Frequency above that limit is an error.
	Frequency uint64
	// Period samples every Period occurrences of the event (perf -c);
	// nanoseconds for cpu-clock and task-clock. Excludes Frequency.
	Period uint64
	// CPUs to sample, each once however often listed; nil (or empty)
	// means every online CPU. Open refuses a CPU that is not online with
	// an error wrapping ErrNotFound.
	CPUs []int
	// PIDs restricts sampling to these processes, their threads and their
	// future children (inherit); nil samples every process. Reader.Run
	// ends by itself once they have all exited.
	PIDs []int
	// Cgroup restricts sampling to the processes of this cgroup v2
	// directory (e.g. /sys/fs/cgroup/system.slice); "" for none. Excludes
	// PIDs.
	Cgroup string
	// CallGraph adds kernel and user callchains to samples (frame
	// pointers; PERF_SAMPLE_CALLCHAIN).
	CallGraph bool
	// EnableOnExec, with PIDs, opens the sampling events disabled: each
	// starts when its process next calls execve. For a child started
	// stopped (ptrace) by the caller, as perf record -- cmd does.
	EnableOnExec bool
	// RingPages is the number of data pages per CPU ring, a power of two;
	// 0 means DefaultRingPages.
	RingPages int
	// Group samples with Events[0] only and counts Events[1:] alongside it
	// in one group: every sample carries the counts of all of them since
	// they were enabled, in Sample.Counters (perf's leader sampling,
	// -e '{a,b}:S'). All events must be able to share a PMU (software
	// events join any group).
	Group bool
}

// Reader owns the perf events and ring buffers of one sampling session.
type Reader struct {
	fds      []int // every perf event fd
	sampling []int // the sampling events among fds
	sideband []int // the side-band dummy events among fds
	rings    []*ring
	epfd     int
	cpus     []int

	freq     uint64   // the frequency sampled at, 0 with Options.Period
	warnings []string // what Open changed of the Options

	pidMode bool // Options.PIDs: Run ends when every target has exited
	perTask bool // the side-band follows the targets, not whole CPUs

	m     merger
	stats counters

	ran     atomic.Bool
	closing atomic.Bool
	exited  atomic.Bool // Run ended because every target exited
	runMu   sync.Mutex  // held by Run; Close waits for it
	closed  bool        // under runMu

	wakeMu sync.Mutex // guards evfd against Close
	evfd   int        // eventfd that wakes Run early
}

// target is what one sampling event watches besides its CPU.
type target struct {
	pid   int // -1: every process; a thread id; or a cgroup fd
	flags int // PERF_FLAG_PID_CGROUP for a cgroup fd
	proc  int // the process a thread belongs to, for errors
}

// Open opens the events of opts on every chosen CPU, maps one ring per CPU
// and starts the events (or, with EnableOnExec, arms them). On error it
// closes everything it opened. Close the Reader when done.
//
// Needs CAP_PERFMON (or root), or kernel.perf_event_paranoid <= 0; an event
// the machine lacks fails with an error wrapping ErrNotSupported, a missing
// privilege with one wrapping ErrPermission, a CPU that is not online or a
// process or cgroup that does not exist with one wrapping ErrNotFound.
//
// With PIDs, less is needed: events that leave the kernel out (:u) on the
// caller's own processes open at kernel.perf_event_paranoid <= 2 without
// any capability. The side-band is then refused a whole CPU and follows
// the target processes instead (PerTaskSideband).
func Open(opts Options) (_ *Reader, err error) {
	if len(opts.Events) == 0 {
		opts.Events = []Event{DefaultEvent()}
	}
	if err := opts.check(); err != nil {
		return nil, err
	}
	var warnings []string
	if opts.Frequency == 0 && opts.Period == 0 {
		max, ok := readIntFile(maxSampleRateFile)
		var w string
		opts.Frequency, w = defaultFrequency(max, ok)
		if w != "" {
			warnings = append(warnings, w)
		}
	}
	online, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	cpus := online
	if len(opts.CPUs) > 0 {
		if cpus, err = checkCPUs(opts.CPUs, online); err != nil {
			return nil, err
		}
	}
	pages := opts.RingPages
	if pages == 0 {
		pages = DefaultRingPages
	}

	// Per-thread events of Options.PIDs follow the threads created after
	// them by inheritance, but a thread that a target creates after Open
	// listed the threads and before its creator's events are all open
	// inherits none or some of them: it, and every process it starts, would
	// go unseen for the whole recording. So list the threads again once
	// all is open, and if any is new, close it all and start over: events
	// that are still disabled have recorded nothing.
	for attempt := 1; ; attempt++ {
		r, raced, err := open(opts, cpus, pages, warnings)
		if err != nil {
			return nil, err
		}
		if len(raced) > 0 {
			if attempt < openAttempts {
				r.Close()
				continue
			}
			r.warnings = append(r.warnings, fmt.Sprintf("threads %v of the target processes started while the "+
				"sampler opened its events %d times: they and the processes they start may go unsampled", raced, attempt))
		}
		if err := r.enable(opts.EnableOnExec); err != nil {
			r.Close()
			return nil, err
		}
		return r, nil
	}
}

// openAttempts bounds how often Open starts over because a target created
// a thread while its events were opened.
const openAttempts = 5

// open opens the events of a Reader, disabled, and returns the threads of
// Options.PIDs that were not there when it listed them (threadsAdded).
func open(opts Options, cpus []int, pages int, warnings []string) (_ *Reader, raced []int, err error) {
	r := &Reader{epfd: -1, evfd: -1, cpus: cpus, pidMode: len(opts.PIDs) > 0, freq: opts.Frequency, warnings: warnings}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if r.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return nil, nil, fmt.Errorf("eventfd: %w", err)
	}
	if err = r.poll(r.evfd); err != nil {
		return nil, nil, err
	}

	targets, closeTargets, err := opts.targets()
	if err != nil {
		return nil, nil, err
	}
	defer closeTargets()

	sampleType := uint64(unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_TID |
		unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_CPU | unix.PERF_SAMPLE_PERIOD)
	if opts.CallGraph {
		sampleType |= unix.PERF_SAMPLE_CALLCHAIN
	}
	sideBits := perfabi.BitKsymbol | perfabi.BitBPFEvent | perfabi.BitBuildID
	ids := map[uint64]int{}
	for _, cpu := range cpus {
		owner, err := r.openSideband(cpu, sampleType, pages, &sideBits, &opts, targets)
		if err != nil {
			return nil, nil, err
		}
		opened := 0
	targets:
		for _, t := range targets {
			leader := -1
			for i, ev := range opts.Events {
				attr := opts.sampleAttr(ev, sampleType)
				if opts.Group && i > 0 {
					attr = opts.memberAttr(ev, sampleType)
				}
				fd, err := perfabi.Open(&attr, t.pid, cpu, leader, t.flags)
				if errors.Is(err, unix.ESRCH) && t.proc > 0 && leader < 0 {
					continue targets // the thread exited since we listed it
				}
				if err != nil {
					return nil, nil, openError(ev, cpu, &opts, err)
				}
				r.fds = append(r.fds, fd)
				id, err := perfabi.ID(fd)
				if err != nil {
					return nil, nil, fmt.Errorf("open %s on cpu %d: %w", ev, cpu, err)
				}
				ids[id] = i
				if opts.Group && i > 0 {
					continue // counted with the leader; writes no records
				}
				if opts.Group {
					leader = fd
				}
				r.sampling = append(r.sampling, fd)
				if err := perfabi.SetOutput(fd, owner); err != nil {
					return nil, nil, fmt.Errorf("open %s on cpu %d: %w", ev, cpu, err)
				}
				if r.pidMode {
					// Polled for the hang-up that says its task and the
					// task's children have all exited. EPOLLIN too: the
					// ring's wake-up may be reported on any fd writing
					// to it.
					if err := r.poll(fd); err != nil {
						return nil, nil, err
					}
				}
			}
			opened++
		}
		if opened == 0 {
			return nil, nil, fmt.Errorf("open %s on cpu %d: %w: every process in %v has exited", opts.Events[0], cpu, ErrNotFound, opts.PIDs)
		}
	}
	format := Format{SampleType: sampleType, SampleIDAll: true, EventIDs: ids}
	if opts.Group {
		format.SampleType |= unix.PERF_SAMPLE_READ
		format.ReadFormat = groupReadFormat
	}
	r.m = merger{
		rings: r.rings,
		dec:   NewDecoder(format),
		stats: &r.stats,
	}

	if r.pidMode {
		if raced, err = threadsAdded(opts.PIDs, targets); err != nil {
			return nil, nil, err
		}
	}
	return r, raced, nil
}

// enable starts the events: the side-band first, so the first samples'
// processes and programs are already described; the sampling events too
// unless the kernel enables them at the target's exec.
func (r *Reader) enable(onExec bool) error {
	for _, fd := range r.sideband {
		if err := perfabi.Enable(fd); err != nil {
			return fmt.Errorf("enable side-band: %w", err)
		}
	}
	if !onExec {
		for _, fd := range r.sampling {
			if err := perfabi.Enable(fd); err != nil {
				return fmt.Errorf("enable sampling: %w", err)
			}
		}
	}
	return nil
}

// threadsAdded lists the threads of pids again and returns those not among
// the targets, the threads they had when their events were opened.
// Processes that have exited since are skipped.
func threadsAdded(pids []int, targets []target) ([]int, error) {
	had := make(map[int]bool, len(targets))
	for _, t := range targets {
		had[t.pid] = true
	}
	var added []int
	for _, pid := range pids {
		tids, err := listThreads(pid)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("process %d: %w", pid, err)
		}
		for _, tid := range tids {
			if !had[tid] {
				added = append(added, tid)
			}
		}
	}
	return added, nil
}

// listThreads returns the thread IDs of process pid from /proc/PID/task.
func listThreads(pid int) ([]int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

func (o *Options) check() error {
	switch {
	case len(o.Events) == 0:
		return errors.New("sampler: no event to sample")
	case o.Frequency != 0 && o.Period != 0:
		return errors.New("sampler: set Frequency or Period, not both")
	case len(o.PIDs) > 0 && o.Cgroup != "":
		return errors.New("sampler: set PIDs or Cgroup, not both")
	case o.EnableOnExec && len(o.PIDs) == 0:
		return errors.New("sampler: EnableOnExec needs PIDs")
	case o.RingPages < 0 || o.RingPages&(o.RingPages-1) != 0:
		return fmt.Errorf("sampler: RingPages %d is not a power of two", o.RingPages)
	}
	for _, e := range o.Events {
		if e.name == "" {
			return errors.New("sampler: zero Event; use ParseEvent")
		}
	}
	return nil
}

// maxSampleRateFile holds kernel.perf_event_max_sample_rate.
const maxSampleRateFile = "/proc/sys/kernel/perf_event_max_sample_rate"

// defaultFrequency returns the frequency to sample at when none is given:
// DefaultFrequency, or the kernel's limit max (if known) when lower, with a
// warning saying so, as perf's "Lowering default frequency rate".
func defaultFrequency(max int64, known bool) (uint64, string) {
	if !known || max <= 0 || max >= DefaultFrequency {
		return DefaultFrequency, ""
	}
	return uint64(max), fmt.Sprintf("lowering the default frequency from %d to %d Hz, "+
		"kernel.perf_event_max_sample_rate; raise that sysctl to sample more often", DefaultFrequency, max)
}

// Frequency returns the frequency the events sample at, in Hz per CPU:
// Options.Frequency or its default; 0 when sampling by Options.Period.
func (r *Reader) Frequency() uint64 { return r.freq }

// Warnings returns what Open changed of the Options it was given, or could
// not do, one line each: a default frequency lowered to the kernel's limit;
// threads of Options.PIDs that kept starting while it opened the events,
// which may go unsampled.
func (r *Reader) Warnings() []string { return r.warnings }

// groupReadFormat is the read_format of Options.Group: every member's count
// with its id.
const groupReadFormat = unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_ID

func (o *Options) sampleAttr(e Event, sampleType uint64) unix.PerfEventAttr {
	a := e.attr()
	a.Sample_type = sampleType
	if o.Group {
		a.Sample_type |= unix.PERF_SAMPLE_READ
		a.Read_format = groupReadFormat
	}
	a.Bits |= unix.PerfBitDisabled | unix.PerfBitSampleIDAll | unix.PerfBitUseClockID
	a.Clockid = unix.CLOCK_MONOTONIC
	if o.Period != 0 {
		a.Sample = o.Period
	} else {
		a.Bits |= unix.PerfBitFreq
		a.Sample = o.Frequency
	}
	if len(o.PIDs) > 0 {
		a.Bits |= unix.PerfBitInherit
		if o.EnableOnExec {
			a.Bits |= unix.PerfBitEnableOnExec
		}
	}
	return a
}

// memberAttr is the attr of a counting member of an Options.Group: the
// leader's attr (o.Group set) without sampling, enabled and disabled with its
// leader.
func (o *Options) memberAttr(e Event, sampleType uint64) unix.PerfEventAttr {
	a := o.sampleAttr(e, sampleType)
	a.Bits &^= unix.PerfBitDisabled | unix.PerfBitFreq | unix.PerfBitEnableOnExec
	a.Sample = 0
	return a
}

// targets lists what each sampling event watches: every process, each
// thread of opts.PIDs (inherit covers threads and children created later),
// or the cgroup. The returned func closes the cgroup directory.
func (o *Options) targets() ([]target, func(), error) {
	switch {
	case o.Cgroup != "":
		fd, err := openCgroup(o.Cgroup)
		if err != nil {
			return nil, func() {}, err
		}
		return []target{{pid: fd, flags: unix.PERF_FLAG_PID_CGROUP}}, func() { unix.Close(fd) }, nil
	case len(o.PIDs) > 0:
		var ts []target
		for _, pid := range o.PIDs {
			tids, err := listThreads(pid)
			if errors.Is(err, fs.ErrNotExist) && len(o.PIDs) > 1 {
				// Exited since the caller listed it (record -u lists
				// every process of a user), as threads do below.
				continue
			}
			if err != nil {
				return nil, func() {}, fmt.Errorf("process %d: %w (%v)", pid, ErrNotFound, err)
			}
			for _, tid := range tids {
				ts = append(ts, target{pid: tid, proc: pid})
			}
		}
		if len(ts) == 0 {
			return nil, func() {}, fmt.Errorf("every process in %v has exited: %w", o.PIDs, ErrNotFound)
		}
		return ts, func() {}, nil
	}
	return []target{{pid: -1}}, func() {}, nil
}

// openCgroup opens the cgroup v2 directory path, as PERF_FLAG_PID_CGROUP
// takes it. Any other directory (perf_event_open would say ENOENT) is
// refused with an error saying what is needed; a path that does not exist
// with one wrapping ErrNotFound.
func openCgroup(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return -1, errs.New(ErrNotFound, fmt.Sprintf("cgroup %s does not exist", path))
	case errors.Is(err, unix.ENOTDIR):
		return -1, cgroupError(path, "not a directory")
	case err != nil:
		return -1, fmt.Errorf("open cgroup %s: %w", path, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("statfs cgroup %s: %w", path, err)
	}
	if what := cgroupFS(int64(st.Type)); what != "" {
		unix.Close(fd)
		return -1, cgroupError(path, what)
	}
	return fd, nil
}

func cgroupError(path, what string) error {
	return fmt.Errorf("--cgroup needs a cgroup v2 directory (under /sys/fs/cgroup on a unified hierarchy, "+
		"/sys/fs/cgroup/unified on a hybrid one): %s: %s", path, what)
}

// cgroupFS says what a filesystem of statfs type magic is if not cgroup v2,
// or "" for cgroup v2.
func cgroupFS(magic int64) string {
	switch magic {
	case unix.CGROUP2_SUPER_MAGIC:
		return ""
	case unix.CGROUP_SUPER_MAGIC:
		return "a cgroup v1 hierarchy"
	case unix.TMPFS_MAGIC:
		return "on tmpfs, not a cgroup"
	case unix.SYSFS_MAGIC:
		return "on sysfs, not a cgroup"
	}
	return fmt.Sprintf("not a cgroup (filesystem type %#x)", magic)
}

// openSideband opens the side-band dummy events of cpu and maps the ring
// that every other event of the CPU writes to; it returns the fd that owns
// the ring. Attr bits the kernel rejects (build IDs before 5.12) are dropped
// from *bits for later CPUs.
//
// One dummy event on the whole CPU sees every process's mmaps and every BPF
// program that loads. Refused that (no CAP_PERFMON, perf_event_paranoid
// above 0), a PID-mode Reader falls back to one dummy per target thread,
// inherited by the threads and children they create, as perf record -p does
// then: it sees what the targets do, their own BPF programs included, but
// not the programs other processes load.
func (r *Reader) openSideband(cpu int, sampleType uint64, pages int, bits *uint64, opts *Options, targets []target) (int, error) {
	pageSize := os.Getpagesize()
	dataSize := pages * pageSize
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_SOFTWARE,
		Config:      unix.PERF_COUNT_SW_DUMMY,
		Sample_type: sampleType,
		Bits: unix.PerfBitDisabled | unix.PerfBitMmap | unix.PerfBitMmap2 | unix.PerfBitComm |
			unix.PerfBitCommExec | unix.PerfBitTask | unix.PerfBitSampleIDAll | unix.PerfBitUseClockID |
			unix.PerfBitWatermark,
		// Wake up when a quarter of the ring is full: early enough that
		// a busy CPU does not fill the rest before Run drains it.
		Wakeup:  uint32(max(dataSize/4, pageSize)),
		Clockid: unix.CLOCK_MONOTONIC,
	}
	dummy := Event{name: "side-band dummy", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_DUMMY}
	if !r.perTask {
		// BPF_EVENT records go to a ring of their own (openBPFEvents).
		main := *bits &^ perfabi.BitBPFEvent
		fd, err := r.openDummy(attr, -1, cpu, &main)
		*bits = main | *bits&perfabi.BitBPFEvent
		switch {
		case err == nil:
			if err := r.mapRing(fd, cpu, pages); err != nil {
				return -1, err
			}
			if *bits&perfabi.BitBPFEvent != 0 {
				if err := r.openBPFEvents(cpu, sampleType); err != nil {
					return -1, err
				}
			}
			return fd, nil
		case !r.pidMode || !isPermission(err) || len(r.rings) > 0:
			return -1, openError(dummy, cpu, &Options{}, err)
		}
		r.perTask = true
	}
	// Without the privilege to profile the kernel (perf_event_paranoid 2),
	// an event on a process must exclude it; side-band records come all
	// the same.
	attr.Bits |= unix.PerfBitInherit | unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv
	dummy.onlyUser = true
	owner := -1
	for _, t := range targets {
		fd, err := r.openDummy(attr, t.pid, cpu, bits)
		if errors.Is(err, unix.ESRCH) {
			continue // the thread exited since we listed it
		}
		if err != nil {
			return -1, openError(dummy, cpu, opts, err)
		}
		if owner < 0 {
			if err := r.mapRing(fd, cpu, pages); err != nil {
				return -1, err
			}
			owner = fd
		} else if err := perfabi.SetOutput(fd, owner); err != nil {
			return -1, fmt.Errorf("open %s on cpu %d: %w", dummy, cpu, err)
		}
	}
	if owner < 0 {
		return -1, fmt.Errorf("open %s on cpu %d: %w: every process in %v has exited", dummy, cpu, ErrNotFound, opts.PIDs)
	}
	return owner, nil
}

// bpfEventPages is the size in pages of the ring of BPF_EVENT records.
const bpfEventPages = 8

// openBPFEvents opens a dummy event of cpu for BPF_EVENT records only, with
// a small ring of its own that wakes Run on every record, as perf's
// side-band thread does: a program's PROG_LOAD then reaches the handler
// while the program is most likely still loaded, so that its info (line
// tables) can be read, rather than up to 100 ms later, when a short-lived
// one is gone. The merge orders its records with the other rings'.
// (cmd/bpfprof's tests count the perf fds a recording opens per CPU, three
// with this one, to know that it has started: change both together.)
func (r *Reader) openBPFEvents(cpu int, sampleType uint64) error {
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_SOFTWARE,
		Config:      unix.PERF_COUNT_SW_DUMMY,
		Sample_type: sampleType,
		Bits: unix.PerfBitDisabled | unix.PerfBitSampleIDAll | unix.PerfBitUseClockID |
			unix.PerfBitWatermark | perfabi.BitBPFEvent,
		Wakeup:  1, // a watermark of one byte: every record
		Clockid: unix.CLOCK_MONOTONIC,
	}
	bits := uint64(0)
	fd, err := r.openDummy(attr, -1, cpu, &bits)
	if err != nil {
		dummy := Event{name: "side-band dummy", typ: unix.PERF_TYPE_SOFTWARE, config: unix.PERF_COUNT_SW_DUMMY}
		return openError(dummy, cpu, &Options{}, err)
	}
	return r.mapRing(fd, cpu, bpfEventPages)
}

// openDummy opens a side-band dummy event for pid on cpu, dropping
// BitBuildID from *bits if the kernel rejects it.
func (r *Reader) openDummy(attr unix.PerfEventAttr, pid, cpu int, bits *uint64) (int, error) {
	for {
		a := attr
		a.Bits |= *bits
		fd, err := perfabi.Open(&a, pid, cpu, -1, 0)
		if errors.Is(err, unix.EINVAL) && *bits&perfabi.BitBuildID != 0 {
			*bits &^= perfabi.BitBuildID
			continue
		}
		if err != nil {
			return -1, err
		}
		r.fds = append(r.fds, fd)
		r.sideband = append(r.sideband, fd)
		return fd, nil
	}
}

// mapRing maps the ring of the event behind fd, of pages data pages, as
// cpu's ring and polls it.
func (r *Reader) mapRing(fd, cpu, pages int) error {
	pageSize := os.Getpagesize()
	dataSize := pages * pageSize
	mem, err := unix.Mmap(fd, 0, pageSize+dataSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("map %d KiB ring on cpu %d: %w: above kernel.perf_event_mlock_kb without CAP_IPC_LOCK; use fewer RingPages",
				dataSize>>10, cpu, ErrPermission)
		}
		return fmt.Errorf("map %d KiB ring on cpu %d: %w", dataSize>>10, cpu, err)
	}
	page := (*perfabi.MmapPage)(unsafe.Pointer(&mem[0]))
	off, size := page.DataOffset, page.DataSize
	if off == 0 { // kernels before 4.1 leave data_offset and data_size 0
		off, size = uint64(pageSize), uint64(dataSize)
	}
	if off+size > uint64(len(mem)) || size == 0 || size&(size-1) != 0 {
		unix.Munmap(mem)
		return fmt.Errorf("map ring on cpu %d: kernel reports data at %d+%d in a %d-byte mapping", cpu, off, size, len(mem))
	}
	rg := newRing(uint32(cpu), page, mem[off:off+size])
	rg.mem = mem
	r.rings = append(r.rings, rg)
	return r.poll(fd)
}

func (r *Reader) poll(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// Run reads the rings and calls h for every record until ctx is done, the
// Reader is closed, or, for a Reader of Options.PIDs, every target process
// has exited with all its threads and inherited children (as perf record -p
// ends; TargetsExited then reports it); then it stops the events, delivers
// what is left in the rings, and returns nil. h runs on Run's goroutine; a
// record is only valid during its call. Run may be called once.
//
// The kernel reports a task's exit to a system-wide side-band only after
// hanging up the task's own events, so the EXIT record of the last target
// thread may come too late for a Run that ended because the targets exited.
//
// Each wake-up (a ring a quarter full, or 100ms) is one round: Run takes
// every ring's records published so far and delivers them merged across
// CPUs in time order, so a KSYMBOL on one CPU comes before the samples in
// that symbol on another. A record the kernel published after the round
// began comes in the next round, even if older than some already
// delivered.
func (r *Reader) Run(ctx context.Context, h Handler) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("sampler: Run called twice")
	}
	r.runMu.Lock()
	defer r.runMu.Unlock()
	if r.closed {
		return errors.New("sampler: Run on a closed Reader")
	}
	stop := context.AfterFunc(ctx, r.wake)
	defer stop()

	// The sampling events of a PID-mode Reader not yet hung up: the kernel
	// reports EPOLLHUP on one once its task and every child that inherited
	// it have exited.
	live := map[int32]bool{}
	if r.pidMode {
		for _, fd := range r.sampling {
			live[int32(fd)] = true
		}
	}
	// Level-triggered: ready fds beyond the batch come in the next one.
	evs := make([]unix.EpollEvent, min(len(r.rings)+len(live)+1, 1024))
	for ctx.Err() == nil && !r.closing.Load() {
		n, err := unix.EpollWait(r.epfd, evs, pollTimeoutMs)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range evs[:max(n, 0)] {
			// An event whose task is gone reports HUP for ever: stop
			// polling it, and keep reading its ring every round.
			if ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 && int(ev.Fd) != r.evfd {
				unix.EpollCtl(r.epfd, unix.EPOLL_CTL_DEL, int(ev.Fd), nil)
				delete(live, ev.Fd)
			}
		}
		r.m.local.Wakeups++
		r.m.round(h)
		if r.pidMode && len(live) == 0 {
			r.exited.Store(true)
			break
		}
	}
	for _, fd := range r.fds {
		perfabi.Disable(fd)
	}
	r.m.round(h)
	return nil
}

// wake makes a blocked Run return from epoll_wait.
func (r *Reader) wake() {
	r.wakeMu.Lock()
	defer r.wakeMu.Unlock()
	if r.evfd >= 0 {
		var one [8]byte
		ne.PutUint64(one[:], 1)
		unix.Write(r.evfd, one[:])
	}
}

// TargetsExited reports whether Run returned because every process of
// Options.PIDs had exited, with all its threads and the children that
// inherited its events (every sampling event hung up), rather than because
// its context was done or the Reader closed. Always false for a Reader
// without PIDs.
func (r *Reader) TargetsExited() bool { return r.exited.Load() }

// PerTaskSideband reports whether the side-band events follow the target
// processes rather than whole CPUs: Open falls back to that for a Reader of
// Options.PIDs when a system-wide event is refused (no CAP_PERFMON, and
// kernel.perf_event_paranoid above 0). MMAP2, COMM, FORK and EXIT of the
// targets and their children still come; KSYMBOL and BPF_EVENT only for the
// BPF programs the targets load themselves, so programs other processes
// load while recording can't be followed (those loaded before can still be
// named from /proc/kallsyms, or program info, read at start).
func (r *Reader) PerTaskSideband() bool { return r.perTask }

// Stats returns the counts so far. It is safe to call while Run runs; the
// counts advance once per round of reading.
func (r *Reader) Stats() Stats {
	return r.stats.snapshot()
}

// CPUs returns the CPUs the Reader samples.
func (r *Reader) CPUs() []int {
	return append([]int(nil), r.cpus...)
}

// Close stops a running Run (waiting for it to return), unmaps every ring
// and closes every file descriptor. It is idempotent.
func (r *Reader) Close() error {
	r.closing.Store(true)
	r.wake()
	r.runMu.Lock()
	defer r.runMu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for _, rg := range r.rings {
		if rg.mem != nil {
			if err := unix.Munmap(rg.mem); err != nil {
				errs = append(errs, fmt.Errorf("unmap ring of cpu %d: %w", rg.cpu, err))
			}
			rg.mem, rg.data, rg.page = nil, nil, nil
		}
	}
	for _, fd := range r.fds {
		if err := unix.Close(fd); err != nil {
			errs = append(errs, fmt.Errorf("close perf event: %w", err))
		}
	}
	r.fds, r.sampling, r.sideband = nil, nil, nil
	if r.epfd >= 0 {
		unix.Close(r.epfd)
		r.epfd = -1
	}
	r.wakeMu.Lock()
	if r.evfd >= 0 {
		unix.Close(r.evfd)
		r.evfd = -1
	}
	r.wakeMu.Unlock()
	return errors.Join(errs...)
}

// onlineCPUs reads the CPUs the kernel has online.
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("online CPUs: %w", err)
	}
	cpus, err := ParseCPUList(string(b))
	if err != nil {
		return nil, fmt.Errorf("online CPUs: %w", err)
	}
	return cpus, nil
}

// checkCPUs returns want sorted and without duplicates, or an error
// wrapping ErrNotFound naming those of want that are not in online (a
// sorted list).
func checkCPUs(want, online []int) ([]int, error) {
	cpus := slices.Clone(want)
	slices.Sort(cpus)
	cpus = slices.Compact(cpus)
	var offline []int
	for _, c := range cpus {
		if _, ok := slices.BinarySearch(online, c); !ok {
			offline = append(offline, c)
		}
	}
	switch len(offline) {
	case 0:
		return cpus, nil
	case 1:
		return nil, errs.New(ErrNotFound, fmt.Sprintf("cpu %d is not online (online: %s)", offline[0], FormatCPUList(online)))
	}
	return nil, errs.New(ErrNotFound, fmt.Sprintf("cpus %s are not online (online: %s)", FormatCPUList(offline), FormatCPUList(online)))
}

// maxCPUList bounds the CPUs a list may name, counting repeats: far above
// the kernel's NR_CPUS limit (8192).
const maxCPUList = 1 << 16

// ParseCPUList parses a kernel CPU list such as "0-3,5,7-8" (the format of
// /sys/devices/system/cpu/online) into CPU numbers, sorted and without
// duplicates: "1,1" is CPU 1 once.
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad CPU list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 1<<16 {
				return nil, fmt.Errorf("bad CPU list %q", s)
			}
		}
		// Overlapping ranges repeated ("0-65536,0-65536,...") would
		// otherwise grow the list without bound before it is compacted.
		if len(cpus)+b-a+1 > maxCPUList {
			return nil, fmt.Errorf("bad CPU list %q: more than %d CPUs", s, maxCPUList)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// FormatCPUList writes CPU numbers as the kernel lists them, ranges joined:
// [0 1 2 3 5] is "0-3,5". The input must be sorted.
func FormatCPUList(cpus []int) string {
	var b strings.Builder
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(cpus[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return b.String()
}
