package session

import (
	"context"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

// BenchmarkProgramChurn loads and unloads the hot program 40 times for
// each lifetime while a session runs, and reports the share of those
// programs whose info (and so source lines) the session read, as kept%.
// Needs root; run with -benchtime=1x.
func BenchmarkProgramChurn(b *testing.B) {
	for _, life := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond} {
		b.Run(life.String(), func(b *testing.B) {
			for b.Loop() {
				b.ReportMetric(churnOnce(b, life, 40), "kept%")
			}
		})
	}
}

// churnOnce runs one churn of n programs living life each and returns the
// percentage whose info was read.
func churnOnce(b *testing.B, life time.Duration, n int) float64 {
	sess, err := Open(Options{Sampler: sampler.Options{Frequency: 99}, NoPrivilegeCheck: true})
	testutil.SkipIfNoPermission(b, err)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Close()
	sym, ok := sess.sym.(*symbolize.Symbolizer)
	if !ok {
		b.Fatal("not the kernel's symbolizer")
	}
	sess.Start(context.Background())
	ids := map[uint32]bool{}
	for range n {
		obj, id := progtest.Load(b, testprogs.Hot)
		ids[id] = true
		time.Sleep(life)
		obj.Close()
	}
	// Wait until the session has handled every load.
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen, kept := 0, 0
		for _, p := range sym.Programs() {
			if ids[p.ID] {
				seen++
				if p.Type != "unknown" {
					kept++
				}
			}
		}
		if seen == len(ids) {
			return 100 * float64(kept) / float64(len(ids))
		}
		if time.Now().After(deadline) {
			b.Fatalf("the session saw %d of %d programs load", seen, len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
