package testprogs_test

import (
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// TestDemo runs the demo until each of its programs has run (the kernel's
// run time, with stats on), and checks that stop unloads them all and may
// be called again.
func TestDemo(t *testing.T) {
	testutil.RequireRoot(t, "CAP_BPF to load programs")
	progtest.EnableStats(t)
	before := heldPrograms(t)
	stop, err := testprogs.Demo(t.Context())
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// The demo's programs are those this process holds now and did not
	// before: other tests may load same-named copies meanwhile.
	names := heldPrograms(t)
	maps.DeleteFunc(names, func(id bpfprog.ID, _ string) bool { _, ok := before[id]; return ok })
	for _, name := range []string{testprogs.HotFunc, testprogs.SubprogFunc, testprogs.MapsFunc, testprogs.TracepointFunc} {
		if !slices.Contains(slices.Collect(maps.Values(names)), name) {
			t.Fatalf("the demo loaded %v, not %s", names, name)
		}
	}
	// Each runs: driven, or (the tracepoint) on this process's syscalls.
	for id := range names {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if err != nil {
			t.Fatalf("program %d (%s): %v", id, names[id], err)
		}
		progtest.WaitRan(t, p, time.Nanosecond, nil)
		p.Close()
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	for id := range names {
		progtest.WaitUnloaded(t, uint32(id))
	}
}

// heldPrograms returns the names of the BPF programs this process holds,
// by ID, as bpfprof list finds a program's owners.
func heldPrograms(t *testing.T) map[bpfprog.ID]string {
	t.Helper()
	progs, err := bpfprog.List(bpfprog.ListOptions{SkipAttach: true})
	if err != nil {
		t.Fatal(err)
	}
	held := map[bpfprog.ID]string{}
	for _, p := range progs {
		if slices.ContainsFunc(p.Procs, func(o bpfprog.Proc) bool { return o.PID == os.Getpid() }) {
			held[p.ID] = p.FullName
		}
	}
	return held
}
