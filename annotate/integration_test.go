package annotate

import (
	"context"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
)

// TestIntegrationHeat samples the machine while the Subprog program runs
// and heats its listing with the samples' instruction pointers: in the
// subprogram, the loop's line is the hottest with most of the samples,
// the line percentages add up to 100, and the hottest machine instruction
// lies in that line's code.
func TestIntegrationHeat(t *testing.T) {
	ks := loadKallsyms(t)
	o, info := loadInfo(t, testprogs.Subprog)
	p, err := FromDetail(info, CaptureOptions{Kernel: ks, CallBase: ks.base})
	if err != nil {
		t.Fatal(err)
	}
	if p.JIT == nil {
		testutil.SkipOrFail(t, "the program is not JITed (sysctl net.core.bpf_jit_enable=1 turns the JIT on)")
	}
	inProg := func(ip uint64) bool {
		for i, a := range p.JIT.Ksyms {
			if ip >= a && ip < a+uint64(p.JIT.FuncLens[i]) {
				return true
			}
		}
		return false
	}

	ev, err := sampler.ParseEvent("cpu-clock")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sampler.Open(sampler.Options{Events: []sampler.Event{ev}, Frequency: 4999})
	testutil.SkipIfNoPermission(t, err)
	testutil.SkipIfNotSupported(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	const want = 300 // samples in the program
	var mu sync.Mutex
	byAddr := map[uint64]uint64{}
	var total, in uint64
	enough := make(chan struct{})
	h := sampler.HandlerFunc(func(rec sampler.Record) {
		sm, ok := rec.(*sampler.Sample)
		if !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		total++
		if inProg(sm.IP) {
			byAddr[sm.IP]++
			if in++; in == want {
				close(enough)
			}
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, h) }()
	driven := make(chan error, 1)
	go func() {
		_, err := testprogs.Drive(ctx, o.Program(), 0)
		driven <- err
	}()
	select {
	case <-enough:
	case <-time.After(30 * time.Second): // a bound for a stuck machine, not a timing
		t.Error("fewer than 300 samples in the program after 30 s of driving it")
	}
	cancel()
	if err := <-driven; err != nil {
		t.Error(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	c := Counts{ByAddr: byAddr, Total: total, Event: "cpu-clock"}
	mu.Unlock()

	l, err := Build(p, c, Options{JIT: true, Kernel: ks})
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("ANNOTATE_SHOW") != "" {
		WriteText(os.Stdout, l, TextOptions{})
	}
	if l.Unattributed != 0 || l.Samples < want {
		t.Fatalf("samples %d, unattributed %d", l.Samples, l.Unattributed)
	}
	_, hotLine, err := testprogs.Marker(testprogs.Subprog, "sub-hot")
	if err != nil {
		t.Fatal(err)
	}
	var sub *Function
	for i := range l.Functions {
		if l.Functions[i].Name == testprogs.SubprogSubFunc {
			sub = &l.Functions[i]
		}
	}
	if sub == nil || sub.Samples == 0 {
		t.Fatalf("no samples in %s: %+v", testprogs.SubprogSubFunc, l.Functions)
	}
	var sum float64
	var hottest LineStat
	for _, ls := range sub.Lines {
		sum += ls.Percent
		if ls.Samples > hottest.Samples {
			hottest = ls
		}
	}
	if math.Abs(sum-100) > 0.1 {
		t.Errorf("line percentages of %s add up to %.2f", sub.Name, sum)
	}
	if hottest.Line != uint32(hotLine) || hottest.Percent < 50 || hottest.HotRank != 1 {
		t.Errorf("hottest line of %s: %d with %.1f%% (rank %d), want line %d with most samples", sub.Name, hottest.Line, hottest.Percent, hottest.HotRank, hotLine)
	}
	// The hottest machine instruction of the subprogram lies in a block
	// of the hot line.
	var top JITInsn
	var topLine uint32
	for _, blk := range sub.Blocks {
		for _, in := range blk.JIT {
			if in.Samples > top.Samples {
				top = in
				if blk.Source != nil {
					topLine = blk.Source.Line
				}
			}
		}
	}
	if top.Samples == 0 || topLine != uint32(hotLine) {
		t.Errorf("hottest JIT instruction %+v is on line %d, want %d", top, topLine, hotLine)
	}
}
