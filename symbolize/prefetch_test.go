package symbolize

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/sampler"
)

// onceProgs gives a program's info to the first reader only, as a program
// that unloads right after its PROG_LOAD does.
type onceProgs struct {
	mu    sync.Mutex
	infos map[uint32]*progInfo
	reads int
}

func (o *onceProgs) next(uint32) (uint32, bool, error) { return 0, false, nil }

func (o *onceProgs) info(id uint32) (*progInfo, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reads++
	i, ok := o.infos[id]
	if !ok {
		return nil, fmt.Errorf("program %d: %w", id, errs.ErrNotFound)
	}
	delete(o.infos, id)
	return i, nil
}

// TestPrefetch: a program whose info Prefetch read when its PROG_LOAD
// arrived keeps its source lines though it is gone when HandleRecord gets
// the record.
func TestPrefetch(t *testing.T) {
	fx := loadProgFixture(t, "hot")
	src := &onceProgs{infos: map[uint32]*progInfo{fx.Info.ID: &fx.Info}}
	s, err := newSymbolizer(Options{ProcDir: fakeProc(t), PIDs: []int{}}, src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs := loadRecords(fx, 100)
	for _, r := range recs {
		s.Prefetch(r)
	}
	// Wait until the goroutine has read it: then the program "unloads".
	for {
		s.pf.mu.Lock()
		_, done := s.pf.read[fx.Info.ID]
		s.pf.mu.Unlock()
		if done {
			break
		}
		runtime.Gosched()
	}
	for _, r := range recs {
		s.HandleRecord(r)
	}
	if st := s.BPFStats(); st.Loaded != 1 || st.InfoErrors != 0 {
		t.Errorf("stats %+v: the prefetched info was not used", st)
	}
	addr := fx.Info.JitedLines[len(fx.Info.JitedLines)-1]
	if f := s.Kernel(addr, 150); f.File == "" || f.Line == 0 || f.Prog == nil || f.Prog.ID != fx.Info.ID {
		t.Errorf("frame without its line: %+v", f)
	}
	src.mu.Lock()
	reads := src.reads
	src.mu.Unlock()
	if reads != 1 {
		t.Errorf("info read %d times, want once", reads)
	}
}

// TestPrefetchAfterClose: Prefetch after Close starts nothing (the leak
// check of TestMain counts goroutines).
func TestPrefetchAfterClose(t *testing.T) {
	s, err := newSymbolizer(Options{ProcDir: fakeProc(t), PIDs: []int{}}, &onceProgs{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Prefetch(&sampler.BPFEvent{Type: sampler.BPFEventProgLoad, ProgID: 1})
	s.Close()
}
