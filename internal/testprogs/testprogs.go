// Package testprogs loads the BPF programs bundled in testdata/ (built from
// testdata/*.bpf.c by 'make generate') and drives them with
// BPF_PROG_TEST_RUN, for the tests of every package and for the demo
// workload of 'bpfprof list --demo'.
//
// Loading needs CAP_BPF (and CAP_PERFMON, CAP_SYS_ADMIN to read BTF back from
// the kernel), in practice root. It does not import "testing", so the bpfprof
// binary can link it.
package testprogs

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof"
	"github.com/bpfprof/bpfprof/internal/errs"
)

// Names of the bundled objects: Load(Hot) loads testdata/hot.bpf.o.
const (
	// Hot is a socket filter spending nearly all its time on the source
	// line marked "hot".
	Hot = "hot"
	// Subprog is an XDP program calling a non-inlined BPF-to-BPF
	// subprogram, which does most of the work on the line marked "sub-hot".
	Subprog = "subprog"
	// Maps is a socket filter using a hash map and an array map; its map
	// lookup is on the line marked "maps-lookup".
	Maps = "maps"
	// Tracepoint is a tracepoint program counting system calls once
	// attached to raw_syscalls/sys_enter.
	Tracepoint = "tracepoint"
	// Kprobe is a kprobe program for KprobeTarget that counts getpid(2)
	// calls and spends its time on the line marked "kprobe-hot". Kernels
	// without kprobes (the development host) load it but cannot attach
	// it.
	Kprobe = "kprobe"
)

// KprobeTarget is the kernel function Kprobe attaches to; getpid(2) runs it.
const KprobeTarget = "__do_sys_getpid"

// Full BTF names of the bundled functions. The kernel keeps only the first
// 15 characters of a program's name: HotFunc is "bpfprof_hot_loo" there.
const (
	// HotFunc is the program of Hot.
	HotFunc = "bpfprof_hot_loop_socket"
	// SubprogFunc is the main program of Subprog.
	SubprogFunc = "bpfprof_xdp_main"
	// SubprogSubFunc is the subprogram SubprogFunc calls.
	SubprogSubFunc = "bpfprof_xdp_sub"
	// MapsFunc is the program of Maps.
	MapsFunc = "bpfprof_maps"
	// TracepointFunc is the program of Tracepoint.
	TracepointFunc = "bpfprof_sys_enter"
	// KprobeFunc is the program of Kprobe.
	KprobeFunc = "bpfprof_getpid_kprobe"
)

// Names of the bundled maps.
const (
	// MapsHash is the hash map of Maps (u32 key, u64 value).
	MapsHash = "bpfprof_hash"
	// MapsArray is the array map of Maps (u32 key, u64 value).
	MapsArray = "bpfprof_array"
	// TracepointCount is the array map of Tracepoint: slot 0 holds the
	// number of system calls seen (u32 key, u64 value).
	TracepointCount = "bpfprof_calls"
	// KprobeCount is the array map of Kprobe: slot 0 holds the number of
	// getpid calls seen (u32 key, u64 value).
	KprobeCount = "bpfprof_getpid_calls"
)

// mainFunc gives the main program of each bundled object.
func mainFunc(name string) (string, bool) {
	switch name {
	case Hot:
		return HotFunc, true
	case Subprog:
		return SubprogFunc, true
	case Maps:
		return MapsFunc, true
	case Tracepoint:
		return TracepointFunc, true
	case Kprobe:
		return KprobeFunc, true
	}
	return "", false
}

// Object is one loaded testdata object: its programs and maps, and for
// Tracepoint the link once attached. It is not safe for concurrent Attach
// and Close; its Program may be driven from any goroutine until Close.
type Object struct {
	name string
	coll *ebpf.Collection
	prog *ebpf.Program
	link link.Link
}

// Load loads testdata/<name>.bpf.o (name is one of Hot, Subprog, Maps,
// Tracepoint, Kprobe) from the embedded bpfprof.TestdataFS with cilium/ebpf.
// Requires CAP_BPF; a missing privilege gives an error matching
// errs.ErrPermission, an unknown name one matching errs.ErrNotFound.
func Load(name string) (*Object, error) {
	return LoadAs(name, "")
}

// LoadAs is Load with the main program loaded under the kernel name
// progName instead (at most 15 characters are kept), so that a test can
// tell it apart by name from the copies other tests load; "" keeps the
// object's own name.
func LoadAs(name, progName string) (*Object, error) {
	path := objectPath(name)
	fn, ok := mainFunc(name)
	if !ok {
		return nil, fmt.Errorf("load %s: no bundled object %q: %w", path, name, errs.ErrNotFound)
	}
	raw, err := bpfprof.TestdataFS.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	spec, err := ebpf.LoadCollectionSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if ps := spec.Programs[fn]; ps != nil && progName != "" {
		ps.Name = progName
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, classify(err))
	}
	prog := coll.Programs[fn]
	if prog == nil {
		coll.Close()
		return nil, fmt.Errorf("load %s: no program %s: %w", path, fn, errs.ErrNotFound)
	}
	return &Object{name: name, coll: coll, prog: prog}, nil
}

func objectPath(name string) string { return "testdata/" + name + ".bpf.o" }

// Program returns the object's main program (HotFunc, SubprogFunc,
// MapsFunc, TracepointFunc or KprobeFunc), or nil after Close.
func (o *Object) Program() *ebpf.Program { return o.prog }

// Collection returns every program and map of the object, or nil after
// Close. The Object owns it: close the Object, not the Collection.
func (o *Object) Collection() *ebpf.Collection { return o.coll }

// Attach attaches the Tracepoint object's program to the
// raw_syscalls/sys_enter tracepoint, so every system call on the machine
// runs it, and the Kprobe object's to a kprobe on KprobeTarget (through the
// kprobe PMU, Linux 4.17; a kernel without kprobes gives an error). Other
// objects return an error matching errs.ErrNotSupported.
//
// The tracepoint is found through tracefs: if tracefs is not mounted
// anywhere, Attach mounts it at /sys/kernel/tracing for the attach and
// unmounts it again, so nothing is left behind. Requires CAP_BPF,
// CAP_PERFMON and (to mount tracefs) CAP_SYS_ADMIN.
func (o *Object) Attach() error {
	if o.name != Tracepoint && o.name != Kprobe {
		return fmt.Errorf("attach %s: only %s and %s attach: %w", o.name, Tracepoint, Kprobe, errs.ErrNotSupported)
	}
	if o.coll == nil {
		return fmt.Errorf("attach %s: object is closed", o.name)
	}
	if o.link != nil {
		return fmt.Errorf("attach %s: already attached", o.name)
	}
	if o.name == Kprobe {
		l, err := link.Kprobe(KprobeTarget, o.prog, nil)
		if err != nil {
			return fmt.Errorf("attach %s to a kprobe on %s: %w", o.name, KprobeTarget, classify(err))
		}
		o.link = l
		return nil
	}
	var err error
	// Another process that mounted tracefs for its own attach may unmount
	// it between our look and our attach: try again then.
	for range 3 {
		var l link.Link
		l, err = attachTracepoint(o.prog)
		if err == nil {
			o.link = l
			return nil
		}
	}
	return fmt.Errorf("attach %s to raw_syscalls/sys_enter: %w", o.name, err)
}

// attachTracepoint attaches prog to raw_syscalls/sys_enter, with tracefs
// mounted for the time it takes if it is not mounted already.
func attachTracepoint(prog *ebpf.Program) (link.Link, error) {
	tracefsMu.Lock()
	defer tracefsMu.Unlock()
	unmount, err := ensureTracefs()
	if err != nil {
		return nil, err
	}
	defer unmount()
	l, err := link.Tracepoint("raw_syscalls", "sys_enter", prog, nil)
	if err != nil {
		return nil, classify(err)
	}
	return l, nil
}

// Close detaches the object's link, if any, and unloads its programs and
// maps. Closing again does nothing.
func (o *Object) Close() error {
	var err error
	if o.link != nil {
		if e := o.link.Close(); e != nil {
			err = fmt.Errorf("detach %s: %w", o.name, e)
		}
		o.link = nil
	}
	if o.coll != nil {
		o.coll.Close()
		o.coll, o.prog = nil, nil
	}
	return err
}

// classify makes a missing privilege match errs.ErrPermission and a missing
// kernel feature errs.ErrNotSupported, keeping cilium/ebpf's text and chain.
func classify(err error) error {
	var verr *ebpf.VerifierError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM),
		// The verifier also answers EACCES for programs it rejects: that
		// is a bad program, not a missing privilege.
		errors.Is(err, unix.EACCES) && !errors.As(err, &verr):
		return errs.Mark(err, errs.ErrPermission)
	case errors.Is(err, ebpf.ErrNotSupported):
		return errs.Mark(err, errs.ErrNotSupported)
	}
	return err
}
