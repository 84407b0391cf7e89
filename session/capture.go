package session

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

// KernelSymbols names kernel text for a capture: the helpers a program's
// xlated code calls. *symbolize.Symbolizer provides it.
type KernelSymbols interface {
	annotate.KernelSymbols
	// KernelSymbolAddr returns the address of a kernel text symbol.
	KernelSymbolAddr(name string) (uint64, bool)
}

// Capture reads what a listing of BPF program id needs and keeps it as
// plain values, so that it can be shown after the program unloads: its
// xlated instructions, JIT image, BTF func and line info, the names of its
// maps, the kfuncs it calls, and (with ks) the names of the helpers it
// calls. Requires
// CAP_SYS_ADMIN; JIT addresses also need kptr_restrict to allow them. A
// program that is not loaded fails with an error matching errs.ErrNotFound,
// a missing privilege with one matching errs.ErrPermission.
func Capture(id uint32, ks KernelSymbols) (*annotate.Program, error) {
	d, err := bpfprog.ReadDetail(bpfprog.ID(id), bpfprog.DetailAll)
	if err != nil {
		return nil, progError(id, err)
	}
	opts := annotate.CaptureOptions{MapNames: map[uint32]string{}, KernelTypeName: bpfprog.KernelTypeName}
	for _, mid := range d.MapIDs {
		if m, err := ebpf.NewMapFromID(ebpf.MapID(mid)); err == nil {
			if mi, err := m.Info(); err == nil {
				opts.MapNames[mid] = mi.Name
			}
			m.Close()
		}
	}
	if ks != nil {
		if base, ok := ks.KernelSymbolAddr("__bpf_call_base"); ok {
			opts.Kernel, opts.CallBase = ks, base
		}
	}
	return annotate.FromDetail(d, opts)
}

// progError says what keeps program id from being read.
func progError(id uint32, err error) error {
	switch {
	case errors.Is(err, errs.ErrNotFound):
		return errs.New(errs.ErrNotFound, fmt.Sprintf("BPF program %d is not loaded", id))
	case errors.Is(err, errs.ErrPermission):
		return errs.New(errs.ErrPermission, fmt.Sprintf("reading BPF program %d needs CAP_SYS_ADMIN: run as root", id))
	}
	return fmt.Errorf("read BPF program %d: %w", id, err)
}

// captureRetention is how long the capture of a program that unloaded
// without being sampled is kept: samples of it may still be in the queue.
const captureRetention = 5 * time.Second

// capturePoll is how often the capturer looks for programs newly seen in
// samples.
const capturePoll = 200 * time.Millisecond

// capturer captures each BPF program once: when it loads while the session
// runs, and when it is first seen in samples. Captures of programs that
// unload unsampled are dropped, so that a session of hours over a machine
// that loads programs all the time keeps only those it has samples of.
type capturer struct {
	ks   KernelSymbols
	seen func(from int) ([]*symbolize.Prog, int) // the aggregate's ProgramsSeen
	// capture and now are Capture and time.Now, or fakes in tests.
	capture func(id uint32, ks KernelSymbols) (*annotate.Program, error)
	now     func() time.Time

	work chan uint32   // programs to capture
	stop chan struct{} // closed to end the worker
	done chan struct{} // closed when the worker has ended

	mu       sync.Mutex
	progs    map[uint32]*capture
	nseen    int // the from of the next call of seen
	unloaded []unloadedProg
}

// capture is one program's capture, or why there is none.
type capture struct {
	prog    *annotate.Program
	err     error
	sampled bool
	tag     string // from the samples, to tell a reused id
}

type unloadedProg struct {
	id uint32
	at time.Time
}

func newCapturer(ks KernelSymbols, seen func(int) ([]*symbolize.Prog, int)) *capturer {
	return &capturer{
		ks:      ks,
		seen:    seen,
		capture: Capture,
		now:     time.Now,
		work:    make(chan uint32, 256),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		progs:   map[uint32]*capture{},
	}
}

// HandleRecord follows program loads and unloads. It is called in record
// order on the queue's goroutine and does no I/O: captures happen on the
// capturer's own goroutine.
func (c *capturer) HandleRecord(r sampler.Record) {
	ev, ok := r.(*sampler.BPFEvent)
	if !ok {
		return
	}
	switch ev.Type {
	case sampler.BPFEventProgLoad:
		select {
		case c.work <- ev.ProgID:
		default:
			// A burst of loads: the ones sampled are captured when
			// first seen, if still loaded.
		}
	case sampler.BPFEventProgUnload:
		c.mu.Lock()
		c.unloaded = append(c.unloaded, unloadedProg{ev.ProgID, c.now()})
		c.mu.Unlock()
	}
}

// run captures programs until stop is closed.
func (c *capturer) run() {
	defer close(c.done)
	tick := time.NewTicker(capturePoll)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case id := <-c.work:
			c.captureOnce(id, "")
		case <-tick.C:
			c.poll()
		}
	}
}

// close captures the programs last seen in samples, ends the worker and
// lets go of the kernel symbols, which close with the session. run must
// have been started.
func (c *capturer) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	<-c.done
	c.poll()
	c.mu.Lock()
	c.ks = nil
	c.mu.Unlock()
}

// poll captures the programs newly seen in samples and drops the captures
// of programs that unloaded unsampled a while ago.
func (c *capturer) poll() {
	c.mu.Lock()
	from := c.nseen
	c.mu.Unlock()
	progs, next := c.seen(from)
	c.mu.Lock()
	c.nseen = next
	c.mu.Unlock()
	for _, p := range progs {
		c.mu.Lock()
		cp := c.progs[p.ID]
		if cp != nil {
			cp.sampled = true
			if cp.tag == "" {
				cp.tag = p.Tag
			}
		}
		c.mu.Unlock()
		if cp == nil {
			c.captureOnce(p.ID, p.Tag)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	n := 0
	for _, u := range c.unloaded {
		if now.Sub(u.at) < captureRetention {
			c.unloaded[n] = u
			n++
			continue
		}
		if cp := c.progs[u.id]; cp != nil && !cp.sampled {
			delete(c.progs, u.id)
		}
	}
	c.unloaded = c.unloaded[:n]
}

// captureOnce captures program id unless it was; tag, if known, is the tag
// its samples gave it: a program that reuses the id is not it.
func (c *capturer) captureOnce(id uint32, tag string) *capture {
	c.mu.Lock()
	if cp := c.progs[id]; cp != nil && cp.prog != nil {
		c.mu.Unlock()
		return cp
	}
	ks := c.ks
	c.mu.Unlock()
	prog, err := c.capture(id, ks)
	if err == nil && tag != "" && prog.Tag != tag {
		prog, err = nil, errs.New(errs.ErrNotFound, fmt.Sprintf("BPF program %d unloaded before its instructions were read; the id now names another program", id))
	}
	cp := &capture{prog: prog, err: err, sampled: tag != "", tag: tag}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.progs[id]; old != nil && old.prog != nil {
		return old
	}
	c.progs[id] = cp
	return cp
}

// program returns the capture of program id, capturing it now if it was
// not (then it must still be loaded).
func (c *capturer) program(id uint32) (*annotate.Program, error) {
	c.mu.Lock()
	cp := c.progs[id]
	c.mu.Unlock()
	if cp == nil || cp.prog == nil {
		tag := ""
		if cp != nil {
			tag = cp.tag // the samples' program, not whatever has the id now
		}
		cp = c.captureOnce(id, tag)
	}
	if cp.err != nil && errors.Is(cp.err, errs.ErrNotFound) {
		return nil, errs.New(errs.ErrNotFound, fmt.Sprintf("BPF program %d unloaded before its instructions could be read", id))
	}
	return cp.prog, cp.err
}
