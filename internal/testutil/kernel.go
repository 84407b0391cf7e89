package testutil

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
)

// GuestEnv is the environment variable that 'make test-kernels' sets in its
// QEMU guest, to the name of the kernel package it booted. Its presence turns
// the Require helpers below from skips into failures.
const GuestEnv = "BPFPROF_KERNEL_MATRIX"

// GuestMarker starts the line that each Require helper and KernelMatrix
// print on stdout inside the guest. The harness counts these lines to prove
// that a test it had to run there did run and got past its requirement.
const GuestMarker = "bpfprof-kernel-matrix: ran "

// InGuest reports whether the test runs inside the QEMU guest of 'make
// test-kernels' (GuestEnv is set), and the kernel package it booted.
func InGuest() (kernel string, ok bool) {
	return os.LookupEnv(GuestEnv)
}

// ProbeFunc is the kernel function RequireFentry and RequireKprobes try to
// attach to: present in the BTF of Debian's 6.1 and 6.12 kernels and of 6.18
// (the __x64_sys_* wrappers are not in BTF). Calling getpid runs it.
const ProbeFunc = "__do_sys_getpid"

// RequireFentry marks a test that needs fentry/fexit programs (BPF
// trampolines): attaching tracing programs to kernel functions or to other
// BPF programs, as 'bpfprof stat' does for exact per-program counts and for
// --latency. The host kernel this project is developed on refuses them, so
// such tests run for real only in 'make test-kernels' (Debian 6.1 and 6.12
// under QEMU):
//
//   - On the host, where the kernel refuses an fentry program on ProbeFunc,
//     the test is skipped with the kernel's reason, also under CI=true
//     ('make test' runs there; 'make test-kernels' covers the test).
//   - Without root it skips, or under CI=true fails, like RequireRoot.
//   - In the guest, an fentry program that does not load and attach fails
//     the test: it must run there.
//
// 'make test-kernels' finds every Test function that calls RequireFentry,
// RequireKprobes or KernelMatrix (directly, or through a helper function of
// the same package), runs exactly those in the guest on every kernel, and
// fails unless each passed having printed GuestMarker. Call it first in the
// test (before t.Parallel and subtests), from the Test function itself or a
// helper the Test function calls.
//
// The guest is bare: root, one CPU, no PMU, busybox and the static test
// binary (CGO_ENABLED=0, run in a copy of its package directory holding no
// other files; testdata objects come from bpfprof.TestdataFS). There is no
// go toolchain, bpftool or perf, so a guest test must not build binaries or
// run 'go tool pprof'; re-running the test binary itself (os.Args[0]) works.
// CPU-bound work is 6-50 times slower than on the host under TCG: keep
// guest tests short, and wait for conditions, never for fixed times.
func RequireFentry(tb testing.TB) {
	tb.Helper()
	requireFeature(tb, "fentry", &fentryProbe)
}

// RequireKprobes marks a test that needs kprobes (perf kprobe events with a
// BPF program attached), which the host kernel has compiled out. It behaves
// as RequireFentry does: a skip with the reason on the host (also under
// CI=true), a failure in the guest of 'make test-kernels' if kprobes do not
// work there, and the harness makes sure the test ran there.
func RequireKprobes(tb testing.TB) {
	tb.Helper()
	requireFeature(tb, "kprobes", &kprobeProbe)
}

// KernelMatrix marks a test that needs nothing the host lacks, but that
// 'make test-kernels' also runs on each guest kernel, as a smoke test of
// code whose kernel interface changed between releases (list, record). On
// the host it does nothing; in the guest it prints GuestMarker, and the
// harness fails if the test did not pass there.
func KernelMatrix(tb testing.TB) {
	tb.Helper()
	if kernel, ok := InGuest(); ok {
		fmt.Printf("%s%s on %s\n", GuestMarker, tb.Name(), kernel)
	}
}

// probe remembers, per process, whether the kernel has a feature.
type probe struct {
	once sync.Once
	err  error
	run  func() error
}

var (
	fentryProbe = probe{run: probeFentry}
	kprobeProbe = probe{run: probeKprobe}
)

func requireFeature(tb testing.TB, feature string, p *probe) {
	tb.Helper()
	kernel, guest := InGuest()
	if os.Geteuid() != 0 {
		SkipOrFail(tb, fmt.Sprintf("needs root (%s)", feature))
	}
	p.once.Do(func() { p.err = p.run() })
	switch {
	case p.err == nil && guest:
		fmt.Printf("%s%s on %s\n", GuestMarker, tb.Name(), kernel)
	case p.err == nil:
	case guest:
		tb.Fatalf("%s must work on %s in 'make test-kernels': %v", feature, kernel, p.err)
	default:
		tb.Skipf("%s not available on this kernel (the test runs in 'make test-kernels'): %v", feature, p.err)
	}
}

// returnZero is a program that does nothing.
var returnZero = asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}

// probeFentry loads and attaches an fentry program on ProbeFunc.
func probeFentry() error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceFEntry,
		AttachTo:     ProbeFunc,
		Instructions: returnZero,
		License:      "GPL",
	})
	if err != nil {
		return fmt.Errorf("load fentry program on %s: %w", ProbeFunc, err)
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attach fentry program to %s: %w", ProbeFunc, err)
	}
	return l.Close()
}

// kprobePMU is where the kernel lists its perf PMU for kprobes.
const kprobePMU = "/sys/bus/event_source/devices/kprobe"

// probeKprobe loads a kprobe program and attaches it to ProbeFunc through
// the kprobe PMU (Linux 4.17). Without the PMU it does not try: cilium/ebpf
// would fall back to tracefs, remember for the rest of the process where
// tracefs is or that it is missing, and break later tracepoint attaches of
// the same test binary.
func probeKprobe() error {
	if _, err := os.Stat(kprobePMU); err != nil {
		return fmt.Errorf("no kprobe PMU (%w): kprobes compiled out?", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.Kprobe,
		Instructions: returnZero,
		License:      "GPL",
	})
	if err != nil {
		return fmt.Errorf("load kprobe program: %w", err)
	}
	defer prog.Close()
	l, err := link.Kprobe(ProbeFunc, prog, nil)
	if err != nil {
		return fmt.Errorf("attach kprobe to %s: %w", ProbeFunc, err)
	}
	return l.Close()
}
