package session

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/aggregate"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
	"github.com/bpfprof/bpfprof/sampler"
)

func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(m)) }

// driveProgram loads a testdata object and runs its program flat out until
// the returned func is called, which also unloads it.
func driveProgram(t *testing.T, name string) (id uint32, stop func()) {
	t.Helper()
	return progtest.Drive(t, name)
}

// openSession opens a session with opts until the test ends. Without the
// privileges it needs the test is skipped (fails under CI=true).
func openSession(t *testing.T, opts Options) *Session {
	t.Helper()
	sess, err := Open(opts)
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// waitRunning waits until cond holds while the started session runs,
// failing the test if the run ends first.
func waitRunning(t *testing.T, sess *Session, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-sess.Done():
			t.Fatalf("run ended early: %v", sess.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// programSamples returns the samples of program id in snap.
func programSamples(snap *aggregate.Snapshot, id uint32) uint64 {
	for _, p := range snap.Programs {
		if p.Prog.ID == id {
			return p.Samples
		}
	}
	return 0
}

// TestLiveSnapshots starts a session, drives a BPF program and waits until
// live snapshots count its samples; the counts only grow, and Close ends
// the run and leaves the counts readable.
func TestLiveSnapshots(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU, BPF program info")
	sess := openSession(t, Options{Sampler: sampler.Options{CallGraph: true, Frequency: 999}})
	id, stop := driveProgram(t, "hot")
	defer stop()

	tr := sess.NewTracker()
	sess.Start(context.Background())
	var last, deltas uint64
	waitRunning(t, sess, func() bool {
		for _, p := range tr.Next().Programs {
			if p.Prog.ID == id {
				deltas += p.Samples
			}
		}
		n := programSamples(sess.Snapshot(), id)
		if n < last {
			t.Fatalf("program %d: %d samples after %d", id, n, last)
		}
		last = n
		return n >= 20
	})
	stop()
	if err := sess.Stop(); err != nil {
		t.Fatal(err)
	}
	st := sess.Stats()
	if st.Counters.Samples == 0 || st.Sampler.Samples < st.Counters.Samples || st.Started.IsZero() || st.Elapsed <= 0 {
		t.Errorf("stats after stop: %+v", st)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	final := sess.Snapshot()
	if n := programSamples(final, id); n < last {
		t.Errorf("after Close: %d samples of program %d, want at least %d", n, id, last)
	}
	for _, p := range tr.Next().Programs {
		if p.Prog.ID == id {
			deltas += p.Samples
		}
	}
	if n := programSamples(final, id); deltas != n {
		t.Errorf("deltas of program %d sum to %d samples, the snapshot has %d", id, deltas, n)
	}
	// The program's leaf samples land on its JIT instructions.
	if len(aggregate.SelfByAddr(final.Addrs, id)) == 0 {
		t.Errorf("no self samples by address in program %d", id)
	}
	if err := sess.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := sess.Run(context.Background()); err == nil {
		t.Error("Run after Close succeeded")
	}
}

// TestCloseEndsRun checks that Close ends a blocking Run from another
// goroutine.
func TestCloseEndsRun(t *testing.T) {
	testutil.RequireRoot(t, "perf events on every CPU")
	sess, err := Open(Options{Sampler: sampler.Options{Frequency: 99}})
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- sess.Run(context.Background()) }()
	for sess.Stats().Started.IsZero() {
		time.Sleep(time.Millisecond)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
