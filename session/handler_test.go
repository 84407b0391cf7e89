package session

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
)

// tap counts what a Handler is given, from the pipeline's goroutine.
type tap struct {
	samples  atomic.Uint64
	badEvent atomic.Uint64 // samples whose Event is not an index of the events
	want     atomic.Uint32 // a program whose PROG_LOAD is awaited
	loaded   atomic.Bool   // want's PROG_LOAD was seen
	events   int
}

func (t *tap) HandleRecord(r sampler.Record) {
	switch r := r.(type) {
	case *sampler.Sample:
		if r.Event < 0 || r.Event >= t.events {
			t.badEvent.Add(1)
		}
		t.samples.Add(1)
	case *sampler.BPFEvent:
		if r.Type == sampler.BPFEventProgLoad && r.ProgID == t.want.Load() {
			t.loaded.Store(true)
		}
	}
}

// TestRawHandler runs a RawOnly session, as bpfprof stat does, over two
// events: the Handler sees the samples of both and the load of a program,
// nothing is aggregated, and every sample read is handled by Close.
func TestRawHandler(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU")
	cpu, _ := sampler.ParseEvent("cpu-clock")
	faults, _ := sampler.ParseEvent("page-faults")
	h := &tap{events: 2}
	sess := openSession(t, Options{
		Sampler: sampler.Options{Events: []sampler.Event{cpu, faults}, Frequency: 999},
		Handler: h,
		RawOnly: true,
	})
	id, stop := driveProgram(t, "hot")
	defer stop()
	// The program loaded after Open: its PROG_LOAD waits in the rings.
	h.want.Store(id)
	sess.Start(context.Background())
	waitRunning(t, sess, func() bool { return h.samples.Load() >= 20 && h.loaded.Load() })
	stop()
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	st := sess.Stats()
	if n := h.samples.Load(); n != st.Sampler.Samples {
		t.Errorf("handler saw %d samples, the sampler read %d", n, st.Sampler.Samples)
	}
	if n := h.badEvent.Load(); n != 0 {
		t.Errorf("%d samples with an Event outside [0, 2)", n)
	}
	if st.Counters.Samples != 0 || len(sess.Snapshot().Programs) != 0 {
		t.Errorf("RawOnly aggregated: %+v", st.Counters)
	}
}

// TestHandlerTap checks that a Handler beside the symbolizer sees every
// sample the aggregate counts.
func TestHandlerTap(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU")
	h := &tap{events: 1}
	sess := openSession(t, Options{Sampler: sampler.Options{Frequency: 999}, Handler: h, NoUserSymbols: true})
	_, stop := driveProgram(t, "hot")
	defer stop()
	sess.Start(context.Background())
	waitRunning(t, sess, func() bool { return h.samples.Load() >= 20 })
	stop()
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	st := sess.Stats()
	if n := h.samples.Load(); n != st.Sampler.Samples || st.Counters.Samples == 0 || st.Counters.Samples > n {
		t.Errorf("handler saw %d samples; sampler read %d, aggregate counted %d", n, st.Sampler.Samples, st.Counters.Samples)
	}
}

// TestRawOnlyOptions checks the options RawOnly refuses, before anything
// is opened.
func TestRawOnlyOptions(t *testing.T) {
	for _, o := range []Options{{RawOnly: true}, {RawOnly: true, Handler: &tap{}, Capture: true}} {
		if s, err := Open(o); err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// TestRawSamplePathAllocs checks that, once its batch is warm, a sample
// costs the queue no allocation on its way to a Handler.
func TestRawSamplePathAllocs(t *testing.T) {
	h := &tap{events: 1}
	var b batch
	s := &sampler.Sample{IP: 0xffffffffc0000000, Period: 1000, Kernel: []uint64{1, 2}}
	allocs := testing.AllocsPerRun(1000, func() {
		b.used = 0
		h.HandleRecord(b.clone(s))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per sample", allocs)
	}
}
