package tui

import (
	"fmt"
	"io"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// manyFrame is n programs with rates, owners and attach points.
func manyFrame(n int) *Frame {
	f := demoFrame()
	for i := range n - len(f.Programs) {
		p := prog(uint32(100000+i), "tracepoint", fmt.Sprintf("prog_%04d_with_a_long_name", i), float64(i*37%1000), float64(100+i%50))
		p.Attach = []string{"tracepoint syscalls/sys_enter_openat"}
		p.Procs = []Proc{{PID: 1000 + i, Comm: "agent"}}
		p.MapsMem = uint64(i) * 4096
		f.Programs = append(f.Programs, p)
	}
	return f
}

// BenchmarkRender500 is drawing one screen (200×60) of a 500-program table.
func BenchmarkRender500(b *testing.B) {
	m := New(Options{Source: &fakeSource{frames: []*Frame{manyFrame(500)}}})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
	m.Update(m.Init()())
	for range 60 {
		m.Update(FrameMsg{Frame: manyFrame(500)})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Render()
	}
}

// BenchmarkRefresh500 is everything the TUI does with one refresh of 500
// programs: history, filter, sort, cursor, and drawing the screen.
func BenchmarkRefresh500(b *testing.B) {
	m := New(Options{Source: &fakeSource{frames: []*Frame{manyFrame(500)}}})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 60})
	f := manyFrame(500)
	b.ReportAllocs()
	for b.Loop() {
		m.Update(FrameMsg{Frame: f})
		_ = m.Render()
	}
}

// BenchmarkBatch500 is one 'top -b' table of 500 programs.
func BenchmarkBatch500(b *testing.B) {
	f := manyFrame(500)
	b.ReportAllocs()
	for b.Loop() {
		if err := WriteBatch(io.Discard, f, BatchOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRender500Tall draws all 500 rows at once, on a terminal 510
// lines tall.
func BenchmarkRender500Tall(b *testing.B) {
	m := New(Options{Source: &fakeSource{frames: []*Frame{manyFrame(500)}}})
	m.Update(tea.WindowSizeMsg{Width: 200, Height: 510})
	m.Update(m.Init()())
	for range 60 {
		m.Update(FrameMsg{Frame: manyFrame(500)})
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Render()
	}
}
