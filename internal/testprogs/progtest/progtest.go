// Package progtest loads and drives the bundled testdata BPF programs for
// the length of a test, with the privilege rules of package testutil: kept
// apart from testprogs, which must not import "testing", and from testutil,
// which testprogs' own tests import.
//
// Other tests on the machine load the same programs under the same names at
// the same time, so every helper gives the program's kernel ID: a test picks
// its own program's samples, listings and statistics by that ID.
package progtest

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// hang bounds every wait of this package: a kernel that never gets there,
// not a measurement.
const hang = 2 * time.Minute

// Load loads the bundled testdata object name (see package
// testprogs) until the end of the test and returns it with its main
// program's kernel ID. It needs root: without it the test is skipped (or
// fails under CI=true); a kernel without the program's type skips it.
func Load(tb testing.TB, name string) (*testprogs.Object, uint32) {
	tb.Helper()
	obj, info := LoadInfo(tb, name)
	return obj, infoID(tb, info, name)
}

// LoadInfo is Load for a test that needs more of the loaded program than
// its ID: it returns the main program's info as the kernel gave it right
// after loading (ID, tag, JIT addresses, BTF line info).
func LoadInfo(tb testing.TB, name string) (*testprogs.Object, *ebpf.ProgramInfo) {
	tb.Helper()
	obj := load(tb, name)
	tb.Cleanup(func() {
		if err := obj.Close(); err != nil {
			tb.Errorf("unload %s: %v", name, err)
		}
	})
	info, err := obj.Program().Info()
	if err != nil {
		tb.Fatalf("info of %s: %v", name, err)
	}
	return obj, info
}

// LoadAs is Load with the main program under the kernel name progName
// (testprogs.LoadAs): a name no other test uses.
func LoadAs(tb testing.TB, name, progName string) (*testprogs.Object, uint32) {
	tb.Helper()
	obj := loadAs(tb, name, progName)
	tb.Cleanup(func() {
		if err := obj.Close(); err != nil {
			tb.Errorf("unload %s: %v", name, err)
		}
	})
	return obj, ID(tb, obj.Program())
}

func load(tb testing.TB, name string) *testprogs.Object {
	tb.Helper()
	return loadAs(tb, name, "")
}

func loadAs(tb testing.TB, name, progName string) *testprogs.Object {
	tb.Helper()
	testutil.RequireRoot(tb, "load BPF programs")
	obj, err := testprogs.LoadAs(name, progName)
	testutil.SkipIfNoPermission(tb, err)
	testutil.SkipIfNotSupported(tb, err)
	if err != nil {
		tb.Fatal(err)
	}
	return obj
}

// ID returns the kernel ID of prog, a program the test loaded by other
// means (cilium/ebpf/asm); it fails the test if the kernel gives none.
func ID(tb testing.TB, prog *ebpf.Program) uint32 {
	tb.Helper()
	info, err := prog.Info()
	if err != nil {
		tb.Fatalf("program info: %v", err)
	}
	return infoID(tb, info, "the program")
}

func infoID(tb testing.TB, info *ebpf.ProgramInfo, name string) uint32 {
	tb.Helper()
	id, ok := info.ID()
	if !ok {
		tb.Fatalf("the kernel gave no ID of the loaded program %s", name)
	}
	return uint32(id)
}

// Drive loads the bundled testdata object name and runs its program
// flat out with BPF_PROG_TEST_RUN (testprogs.Drive) until stop is called or
// the test ends, either of which also unloads it. It returns the program's
// kernel ID.
func Drive(tb testing.TB, name string) (id uint32, stop func()) {
	tb.Helper()
	id, _, stop = DriveObject(tb, name)
	return id, stop
}

// DriveObject is Drive for a test that also reads the driven program (its
// statistics with RunTime): it returns the loaded object too, valid until
// stop.
func DriveObject(tb testing.TB, name string) (id uint32, obj *testprogs.Object, stop func()) {
	tb.Helper()
	obj = load(tb, name)
	info, err := obj.Program().Info()
	if err != nil {
		obj.Close()
		tb.Fatalf("info of %s: %v", name, err)
	}
	pid, ok := info.ID()
	if !ok {
		obj.Close()
		tb.Fatalf("the kernel gave no ID of the loaded program %s", name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var driveErr error
	wg.Go(func() { _, driveErr = testprogs.Drive(ctx, obj.Program(), 0) })
	stop = sync.OnceFunc(func() {
		cancel()
		wg.Wait()
		obj.Close()
		if driveErr != nil {
			tb.Errorf("drive %s: %v", name, driveErr)
		}
	})
	tb.Cleanup(stop)
	return uint32(pid), obj, stop
}

// EnableStats turns on the kernel's count of BPF run time
// (BPF_ENABLE_STATS, Linux 5.8) until the test ends, so RunTime advances.
// The kernel counts while any holder keeps it on: other tests turning
// theirs off do not stop this test's count.
func EnableStats(tb testing.TB) {
	tb.Helper()
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	testutil.SkipIfNoPermission(tb, err)
	testutil.SkipIfNotSupported(tb, err)
	if err != nil {
		tb.Fatalf("enable BPF run-time statistics: %v", err)
	}
	tb.Cleanup(func() { stats.Close() })
}

// RunTime is the CPU time the kernel has counted in prog so far (only
// while statistics are on: EnableStats).
func RunTime(tb testing.TB, prog *ebpf.Program) time.Duration {
	tb.Helper()
	st, err := prog.Stats()
	if err != nil {
		tb.Fatalf("program statistics: %v", err)
	}
	return st.Runtime
}

// WaitRan waits until prog, driven by someone else, has run want of CPU
// time more than when called (statistics on: EnableStats), however busy
// the machine. It returns false if done is closed first (what drives or
// watches it ended), and fails the test after minutes.
func WaitRan(tb testing.TB, prog *ebpf.Program, want time.Duration, done <-chan struct{}) bool {
	tb.Helper()
	start := RunTime(tb, prog)
	deadline := time.After(hang)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for RunTime(tb, prog)-start < want {
		select {
		case <-done:
			return false
		case <-deadline:
			tb.Fatalf("the program ran less than %v in %v", want, hang)
		case <-tick.C:
		}
	}
	return true
}

// DriveUntilRan loads the bundled object name, runs it until the kernel
// has counted want of CPU time inside it (testprogs.DriveUntilRan), unloads
// it and waits until the kernel has forgotten its ID, which it returns: a
// test of what is seen of a program after it is gone.
func DriveUntilRan(tb testing.TB, name string, want time.Duration) uint32 {
	tb.Helper()
	obj, id := Load(tb, name)
	RunFor(tb, obj.Program(), want)
	if err := obj.Close(); err != nil {
		tb.Fatalf("unload %s: %v", name, err)
	}
	WaitUnloaded(tb, id)
	return id
}

// RunFor runs prog, loaded by the test, flat out until the kernel has
// counted want of CPU time inside it (testprogs.DriveUntilRan): at 999 Hz
// about want/ms samples of it in a recording running meanwhile, however
// busy the machine.
func RunFor(tb testing.TB, prog *ebpf.Program, want time.Duration) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if err := testprogs.DriveUntilRan(ctx, prog, want); err != nil {
		tb.Fatalf("drive %s: %v", prog, err)
	}
}

// WaitUnloaded waits until the kernel has freed BPF program id (after its
// last reference closed, freeing is deferred).
func WaitUnloaded(tb testing.TB, id uint32) {
	tb.Helper()
	deadline := time.After(hang)
	for {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if errors.Is(err, os.ErrNotExist) {
			return
		}
		if err != nil {
			tb.Fatalf("look up BPF program %d: %v", id, err)
		}
		p.Close()
		select {
		case <-deadline:
			tb.Fatalf("BPF program %d still loaded %v after its close", id, hang)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
