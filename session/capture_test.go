package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
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
		obj, info := progtest.LoadInfo(t, tc.name)
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
	sess := openSession(t, Options{Sampler: sampler.Options{CallGraph: true, Frequency: 999}, Capture: true})
	sess.Start(context.Background())
	// Loaded after the session began: captured at its load.
	id, stop := driveProgram(t, testprogs.Subprog)
	waitRunning(t, sess, func() bool { return programSamples(sess.Snapshot(), id) >= 10 })
	stop()
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	// The kernel frees the id shortly after the last fd closes.
	progtest.WaitUnloaded(t, id)
	if _, err := Capture(id, nil); !errors.Is(err, errs.ErrNotFound) {
		t.Fatalf("program %d unloaded, yet Capture gives %v", id, err)
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

// TestCapturer follows programs through loads, samples and unloads with a
// fake kernel: captured once, kept while sampled, dropped a while after an
// unload without samples, and a reused id is not taken for the program.
func TestCapturer(t *testing.T) {
	loaded := map[uint32]string{1: "aaaa", 2: "bbbb", 3: "cccc"} // id → tag
	captures := map[uint32]int{}
	var seen []*symbolize.Prog
	now := time.Unix(1000, 0)
	c := newCapturer(nil, func(from int) ([]*symbolize.Prog, int) { return seen[min(from, len(seen)):], len(seen) })
	c.now = func() time.Time { return now }
	c.capture = func(id uint32, _ KernelSymbols) (*annotate.Program, error) {
		tag, ok := loaded[id]
		if !ok {
			return nil, errs.New(errs.ErrNotFound, "not loaded")
		}
		captures[id]++
		return &annotate.Program{ID: id, Tag: tag}, nil
	}
	event := func(typ sampler.BPFEventType, id uint32) {
		c.HandleRecord(&sampler.BPFEvent{Type: typ, ProgID: id})
		if typ == sampler.BPFEventProgLoad {
			c.captureOnce(<-c.work, "")
		}
	}

	// 1 loads and unloads unsampled; 2 loads, is sampled, unloads.
	event(sampler.BPFEventProgLoad, 1)
	event(sampler.BPFEventProgLoad, 2)
	seen = append(seen, &symbolize.Prog{ID: 2, Tag: "bbbb"})
	c.poll()
	delete(loaded, 1)
	delete(loaded, 2)
	event(sampler.BPFEventProgUnload, 1)
	event(sampler.BPFEventProgUnload, 2)
	c.poll()
	if p, err := c.program(1); err != nil || p.Tag != "aaaa" {
		t.Errorf("program 1 right after its unload: %+v, %v", p, err)
	}
	now = now.Add(captureRetention + time.Second)
	c.poll()
	if _, err := c.program(1); !errors.Is(err, errs.ErrNotFound) {
		t.Errorf("program 1, unsampled, after the retention: %v, want ErrNotFound", err)
	}
	if p, err := c.program(2); err != nil || p.Tag != "bbbb" {
		t.Errorf("program 2, sampled, after its unload: %+v, %v", p, err)
	}
	if captures[1] != 1 || captures[2] != 1 {
		t.Errorf("captures %v, want one of each", captures)
	}

	// 4 is first seen in samples with a tag that id 4 no longer has.
	loaded[4] = "dddd"
	seen = append(seen, &symbolize.Prog{ID: 4, Tag: "eeee"}, &symbolize.Prog{ID: 3, Tag: "cccc"})
	c.poll()
	if p, err := c.program(3); err != nil || p.Tag != "cccc" {
		t.Errorf("program 3, first seen in samples: %+v, %v", p, err)
	}
	c.mu.Lock()
	cp := c.progs[4]
	c.mu.Unlock()
	if cp == nil || cp.prog != nil || !errors.Is(cp.err, errs.ErrNotFound) {
		t.Errorf("program 4 captured under a reused id: %+v", cp)
	}
	if p, err := c.program(4); err == nil {
		t.Errorf("program 4 asked for: %+v, the program that reuses its id", p)
	}
}
