package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

// TestCapture reads a program with a subprogram and a program with maps,
// and refuses an id no program has.
func TestCapture(t *testing.T) {
	testutil.RequireRoot(t, "reading BPF program info")
	sym, err := symbolize.New(symbolize.Options{PIDs: []int{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sym.Close()
	for _, tc := range []struct {
		name  string
		funcs int
		maps  []string
	}{{testprogs.Subprog, 2, nil}, {testprogs.Maps, 1, []string{testprogs.MapsHash, testprogs.MapsArray}}} {
		obj, err := testprogs.Load(tc.name)
		testutil.SkipIfNoPermission(t, err)
		if err != nil {
			t.Fatal(err)
		}
		info, err := obj.Program().Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		p, err := Capture(uint32(id), sym)
		obj.Close()
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != uint32(id) || p.Tag != info.Tag || len(p.Xlated) == 0 || len(p.Xlated)%8 != 0 ||
			len(p.Funcs) != tc.funcs || len(p.Lines) == 0 || p.JIT == nil || len(p.JIT.Ksyms) != tc.funcs {
			t.Errorf("%s: capture %+v", tc.name, p)
		}
		names := map[string]bool{}
		for _, m := range p.Maps {
			names[m.Name] = true
		}
		for _, m := range tc.maps {
			if !names[m] {
				t.Errorf("%s: map %s not named in %+v", tc.name, m, p.Maps)
			}
		}
		if tc.name == testprogs.Maps && len(p.Calls) == 0 {
			t.Errorf("%s: no helper call named", tc.name)
		}
	}
	_, err = Capture(1<<31-1, nil)
	if !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("capture of a program not loaded: %v, want ErrNotFound", err)
	}
}

// TestCaptureOutlivesProgram checks that a session with Capture still has
// the instructions of a program that it sampled, after the program unloads.
func TestCaptureOutlivesProgram(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU, BPF program info")
	sess, err := Open(Options{Sampler: sampler.Options{CallGraph: true, Frequency: 999}, Capture: true})
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.Start(context.Background())
	// Loaded after the session began: captured at its load.
	id, stop := driveProgram(t, testprogs.Subprog)
	for programSamples(sess.Snapshot(), id) < 10 {
		select {
		case <-sess.Done():
			t.Fatalf("run ended early: %v", sess.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	stop()
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	// The kernel frees the id shortly after the last fd closes.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := Capture(id, nil)
		if errors.Is(err, errs.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("program %d still loaded after its object closed: %v", id, err)
		}
	}
	p, err := sess.Program(id)
	if err != nil {
		t.Fatalf("program %d after it unloaded: %v", id, err)
	}
	if p.ID != id || len(p.Xlated) == 0 || len(p.Funcs) != 2 || p.JIT == nil {
		t.Errorf("capture of program %d: %+v", id, p)
	}
	if _, err := sess.Program(1<<31 - 1); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("program never loaded: %v, want ErrNotFound", err)
	}
}
