// Package progtest loads and drives the bundled testdata BPF programs for
// the length of a test, with the privilege rules of package testutil: kept
// apart from testprogs, which must not import "testing", and from testutil,
// which testprogs' own tests import.
package progtest

import (
	"context"
	"sync"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// Load loads the bundled testdata object name (see package
// testprogs) until the end of the test and returns it with its main
// program's kernel ID. It needs root: without it the test is skipped (or
// fails under CI=true); a kernel without the program's type skips it.
func Load(tb testing.TB, name string) (*testprogs.Object, uint32) {
	tb.Helper()
	testutil.RequireRoot(tb, "load BPF programs")
	obj, err := testprogs.Load(name)
	testutil.SkipIfNoPermission(tb, err)
	testutil.SkipIfNotSupported(tb, err)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := obj.Close(); err != nil {
			tb.Errorf("unload %s: %v", name, err)
		}
	})
	info, err := obj.Program().Info()
	if err != nil {
		tb.Fatal(err)
	}
	id, ok := info.ID()
	if !ok {
		tb.Fatalf("the kernel gave no ID of the loaded program %s", name)
	}
	return obj, uint32(id)
}

// Drive loads the bundled testdata object name and runs its program
// flat out with BPF_PROG_TEST_RUN (testprogs.Drive) until stop is called or
// the test ends, either of which also unloads it. It returns the program's
// kernel ID: other tests on the machine load the same programs under the
// same names, so a test that checks its own program's samples picks them by
// ID.
func Drive(tb testing.TB, name string) (id uint32, stop func()) {
	tb.Helper()
	testutil.RequireRoot(tb, "load BPF programs")
	obj, err := testprogs.Load(name)
	testutil.SkipIfNoPermission(tb, err)
	testutil.SkipIfNotSupported(tb, err)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := obj.Program().Info()
	if err != nil {
		obj.Close()
		tb.Fatal(err)
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
	return uint32(pid), stop
}
