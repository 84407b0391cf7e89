package tui

import (
	"bytes"
	"strings"
	"testing"
	"time"

	xgolden "github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest/v2"
)

// golden compares got with testdata/<TestName>.golden; go test -update
// rewrites it (the flag is the golden package's).
func golden(t *testing.T, got string) {
	t.Helper()
	xgolden.RequireEqual(t, []byte(got))
}

// step is keys to press, then text the output must show before going on:
// what answers a key in a command (details) arrives later than the keys
// after it.
type step struct {
	keys []string
	wait string
}

// screenTest runs the model in a real Bubble Tea program at a fixed size
// without colours: the first frame from the source, then the extra frames
// (so that histories have points), then the steps. It returns the final
// screen.
func screenTest(t *testing.T, width, height int, src *fakeSource, extra []*Frame, steps ...step) string {
	t.Helper()
	plain := PlainStyles()
	// A delay longer than the test: no tick refreshes, only the frames
	// sent; the CPU history column covers 6 refreshes.
	m := New(Options{Source: src, Styles: &plain, Delay: 10 * time.Second})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(width, height))
	waitOut := func(s string) {
		teatest.WaitFor(t, tm.Output(), func(b []byte) bool { return bytes.Contains(b, []byte(s)) },
			teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	}
	waitOut("programs")
	for _, f := range extra {
		tm.Send(FrameMsg{Frame: f})
	}
	for _, st := range steps {
		for _, k := range st.keys {
			tm.Send(keyMsg(k))
		}
		if st.wait != "" {
			waitOut(st.wait)
		}
	}
	if err := tm.Quit(); err != nil {
		t.Fatal(err)
	}
	final := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
	if final.width != width || final.height != height {
		t.Fatalf("model is %dx%d, want %dx%d", final.width, final.height, width, height)
	}
	return final.Render()
}

// frames returns n demo frames whose rates grow, for history.
func frames(n int) []*Frame {
	out := make([]*Frame, n)
	for i := range out {
		f := demoFrame()
		for j := range f.Programs {
			p := &f.Programs[j]
			scale := float64(i+1) / float64(n)
			p.RunsPerSec *= scale
			p.CPUPercent *= scale
		}
		out[i] = f
	}
	return out
}

func TestGoldenMain(t *testing.T) {
	src := &fakeSource{frames: []*Frame{demoFrame()}}
	golden(t, screenTest(t, 132, 20, src, frames(8)))
}

func TestGoldenNarrowFiltered(t *testing.T) {
	src := &fakeSource{frames: []*Frame{demoFrame()}}
	keys := append([]string{"<", "/"}, strings.Split("bpfprof", "")...)
	keys = append(keys, "enter", "j")
	golden(t, screenTest(t, 80, 24, src, nil, step{keys: keys}))
}

func TestGoldenProgramView(t *testing.T) {
	src := &fakeSource{frames: []*Frame{demoFrame()}, details: map[uint32]*Details{316206: hotDetails()}}
	golden(t, screenTest(t, 120, 30, src, frames(12),
		step{keys: []string{"enter"}, wait: "bpfprof_hot_loop_socket():"}, step{keys: []string{"x"}}))
}

// The model answers a quit key with tea.Quit in a real program too.
func TestQuitKey(t *testing.T) {
	plain := PlainStyles()
	m := New(Options{Source: &fakeSource{frames: []*Frame{demoFrame()}}, Styles: &plain, Delay: MaxDelay})
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
}
