package tui

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// newTestModel returns a plain model of width×height that has taken the
// source's first frame.
func newTestModel(t *testing.T, src *fakeSource, width, height int) *Model {
	t.Helper()
	plain := PlainStyles()
	m := New(Options{Source: src, Styles: &plain})
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	run(t, m, m.Init())
	return m
}

// run runs cmd, as Bubble Tea would, and feeds its message to m; ticks are
// not waited for. It returns the command m answered with.
func run(t *testing.T, m *Model, cmd tea.Cmd) tea.Cmd {
	t.Helper()
	if cmd == nil {
		return nil
	}
	msg := cmd()
	if _, ok := msg.(FrameMsg); !ok {
		if _, ok := msg.(DetailsMsg); !ok {
			t.Fatalf("command gave %T, want a FrameMsg or DetailsMsg", msg)
		}
	}
	_, next := m.Update(msg)
	return next
}

func press(m *Model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = m.Update(keyMsg(k))
	}
	return cmd
}

func rowIDs(m *Model) []uint32 {
	ids := make([]uint32, len(m.rows))
	for i, p := range m.rows {
		ids[i] = p.ID
	}
	return ids
}

func TestSort(t *testing.T) {
	m := newTestModel(t, &fakeSource{frames: []*Frame{demoFrame()}}, 120, 30)
	// CPU% by default, largest first; equal values by id.
	if got, want := rowIDs(m), []uint32{316206, 316208, 316209, 316210, 12, 40}; !slices.Equal(got, want) {
		t.Fatalf("rows by CPU%%: %v, want %v", got, want)
	}
	if !strings.Contains(m.Render(), "CPU%↓") {
		t.Errorf("sorted column has no arrow:\n%s", m.Render())
	}
	press(m, "s") // SAMPLED%
	if got, want := rowIDs(m), []uint32{316206, 316208, 12, 40, 316209, 316210}; !slices.Equal(got, want) {
		t.Errorf("rows by SAMPLED%%: %v, want %v", got, want)
	}
	press(m, "S")
	if got, want := rowIDs(m), []uint32{12, 40, 316209, 316210, 316208, 316206}; !slices.Equal(got, want) {
		t.Errorf("rows by SAMPLED%% reversed: %v, want %v", got, want)
	}
	if !strings.Contains(m.Render(), "SAMPLED%↑") {
		t.Errorf("reversed column has no up arrow:\n%s", m.Render())
	}
	// < goes back to CPU%, then to RUNS/s, AVG ns, ... around to ID.
	press(m, "<", "<", "<")
	if got, want := rowIDs(m), []uint32{316209, 316206, 316210, 316208, 12, 40}; !slices.Equal(got, want) {
		t.Errorf("rows by RUNS/s: %v, want %v", got, want)
	}
	for range len(sortable()) - 1 {
		press(m, ">")
	}
	if columns[m.sortCol].id != colProcess {
		t.Errorf("sortable columns did not wrap around: at %s", columns[m.sortCol].title)
	}
}

func TestFilter(t *testing.T) {
	m := newTestModel(t, &fakeSource{frames: []*Frame{demoFrame()}}, 120, 30)
	for _, c := range []struct {
		filter string
		want   []uint32
	}{
		{"XDP", []uint32{316208}},          // type, any case
		{"raw_syscalls", []uint32{316210}}, // attach point
		{"logind", []uint32{12}},           // a second owner
		{"hot_loop", []uint32{316206}},     // name
		{"bpfprof_", []uint32{316206, 316208, 316209, 316210}},
		{"nothing-such", []uint32{}},
	} {
		press(m, "/")
		if !m.filtering {
			t.Fatal("/ did not start the filter")
		}
		for _, r := range c.filter {
			press(m, string(r))
		}
		if got := rowIDs(m); !slices.Equal(got, c.want) {
			t.Errorf("filter %q while typing: %v, want %v", c.filter, got, c.want)
		}
		press(m, "enter")
		if got := rowIDs(m); !slices.Equal(got, c.want) || m.filtering || m.filter != c.filter {
			t.Errorf("filter %q kept: rows %v, filtering %v, filter %q", c.filter, got, m.filtering, m.filter)
		}
		if len(c.want) == 0 && !strings.Contains(m.Render(), `no program matches "nothing-such"`) {
			t.Errorf("empty filter result not explained:\n%s", m.Render())
		}
		press(m, "esc")
		if len(m.rows) != 6 || m.filter != "" {
			t.Fatalf("esc did not clear filter %q: %d rows", c.filter, len(m.rows))
		}
	}
	// Esc while typing drops what was typed; backspace edits.
	press(m, "f", "x", "d", "q", "backspace")
	if m.filter != "xd" {
		t.Errorf("filter after backspace = %q, want xd", m.filter)
	}
	press(m, "esc")
	if m.filter != "" || m.filtering || len(m.rows) != 6 {
		t.Errorf("esc while typing: filter %q, filtering %v, %d rows", m.filter, m.filtering, len(m.rows))
	}
	// q while typing is text, not quit; Ctrl-C quits.
	press(m, "/")
	if cmd := press(m, "q"); cmd != nil || m.filter != "q" {
		t.Errorf("q while filtering: cmd %v, filter %q", cmd, m.filter)
	}
	if cmd := press(m, "ctrl+c"); cmd == nil {
		t.Error("ctrl+c while filtering did not quit")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("ctrl+c while filtering did not quit")
	}
}

func TestCursorFollowsProgram(t *testing.T) {
	f1 := demoFrame()
	// Next period: a new busy program sorts first, the idle one goes,
	// the maps program gets busier than the xdp one.
	f2 := demoFrame()
	f2.Programs = slices.DeleteFunc(f2.Programs, func(p Program) bool { return p.ID == 12 })
	f2.Programs = append(f2.Programs, prog(316300, "xdp", "newcomer", 1e6, 100))
	for i := range f2.Programs {
		if f2.Programs[i].ID == 316209 {
			f2.Programs[i].CPUPercent = 9
		}
	}
	// Then the selected program unloads.
	f3 := demoFrame()
	f3.Programs = slices.DeleteFunc(f3.Programs, func(p Program) bool { return p.ID == 316209 })
	src := &fakeSource{frames: []*Frame{f1, f2, f3}}
	m := newTestModel(t, src, 120, 30)

	press(m, "j", "j")
	if m.Selected() != 316209 || m.cursor != 2 {
		t.Fatalf("after j j: selected %d at %d, want 316209 at 2", m.Selected(), m.cursor)
	}
	run(t, m, m.refreshCmd())
	if m.Selected() != 316209 {
		t.Fatalf("selection moved to %d when programs came and went", m.Selected())
	}
	if got := m.rows[m.cursor].ID; got != 316209 || m.cursor != 1 {
		t.Errorf("cursor on %d at row %d, want 316209 at row 1 (it sorts second now)", got, m.cursor)
	}
	run(t, m, m.refreshCmd())
	if m.cursor != 1 || m.Selected() != m.rows[1].ID {
		t.Errorf("after the selected program unloaded: cursor %d on %d, want row 1 on %d", m.cursor, m.Selected(), m.rows[1].ID)
	}
	if _, ok := m.hist.byID[316209]; ok {
		t.Error("history of an unloaded program kept")
	}
}

func TestMoveKeys(t *testing.T) {
	f := demoFrame()
	for i := range 100 {
		f.Programs = append(f.Programs, prog(uint32(1000+i), "kprobe", "p", 0, 0))
	}
	m := newTestModel(t, &fakeSource{frames: []*Frame{f}}, 80, 24)
	page := m.tableHeight()
	for _, c := range []struct {
		key  string
		want int
	}{
		{"down", 1}, {"j", 2}, {"k", 1}, {"up", 0}, {"up", 0},
		{"pgdown", page}, {"G", 105}, {"j", 105}, {"home", 0}, {"end", 105}, {"g", 0},
	} {
		press(m, c.key)
		if m.cursor != c.want {
			t.Errorf("after %s: cursor %d, want %d", c.key, m.cursor, c.want)
		}
		if m.cursor < m.offset || m.cursor >= m.offset+page {
			t.Errorf("after %s: cursor %d off screen (offset %d, %d rows)", c.key, m.cursor, m.offset, page)
		}
	}
	if cmd := press(m, "q"); cmd == nil {
		t.Error("q gave no command")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("q did not quit")
	}
	if cmd := press(m, "ctrl+c"); cmd == nil {
		t.Error("ctrl+c gave no command")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("ctrl+c did not quit")
	}
}

func TestNarrowLayout(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {100, 30}, {200, 50}, {40, 10}} {
		m := newTestModel(t, &fakeSource{frames: []*Frame{demoFrame()}}, size[0], size[1])
		screen := m.Render()
		lines := strings.Split(screen, "\n")
		if len(lines) != size[1] {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for _, l := range lines {
			if w := ansi.StringWidth(l); w > size[0] {
				t.Errorf("%dx%d: line of %d cells: %q", size[0], size[1], w, l)
			}
		}
		widths := layout(size[0])
		for i, c := range columns {
			if c.prio >= 100 && widths[i] == 0 {
				t.Errorf("%dx%d: column %s dropped", size[0], size[1], c.title)
			}
		}
		if size[0] >= 80 {
			for _, title := range []string{"NAME", "CPU%", "RUNS/s", "SAMPLED%", "AVG ns"} {
				if !strings.Contains(screen, title) {
					t.Errorf("%dx%d: no %s column:\n%s", size[0], size[1], title, screen)
				}
			}
		}
		if size[0] >= 200 && !strings.Contains(screen, "MAPS MEM") {
			t.Errorf("%dx%d: all columns should fit:\n%s", size[0], size[1], screen)
		}
	}
	// Lower-priority columns go first.
	w := layout(80)
	if w[colMapsMem] != 0 || w[colCPU] == 0 {
		t.Errorf("80 columns: widths %v", w)
	}
	// A resize redraws at the new size.
	m := newTestModel(t, &fakeSource{frames: []*Frame{demoFrame()}}, 200, 50)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	if n := len(strings.Split(m.Render(), "\n")); n != 24 {
		t.Errorf("after resize to 80x24: %d lines", n)
	}
}

func TestPauseAndDelay(t *testing.T) {
	src := &fakeSource{frames: []*Frame{demoFrame()}}
	m := newTestModel(t, src, 100, 30)
	if press(m, "p"); !m.Paused() {
		t.Fatal("p did not pause")
	}
	if !strings.Contains(m.Render(), "PAUSED") {
		t.Error("paused screen does not say so")
	}
	// A tick of the loop from before the pause does nothing.
	if _, cmd := m.Update(tickMsg{gen: m.gen}); cmd != nil {
		t.Error("a tick while paused refreshed")
	}
	if _, cmd := m.Update(tickMsg{gen: m.gen - 1}); cmd != nil {
		t.Error("a stale tick refreshed")
	}
	before := src.next
	cmd := press(m, "space")
	if m.Paused() || cmd == nil {
		t.Fatal("space did not resume with a refresh")
	}
	run(t, m, cmd)
	if src.next != before+1 {
		t.Errorf("resume read %d frames, want 1", src.next-before)
	}
	for _, c := range []struct {
		key  string
		want time.Duration
	}{{"+", 2 * time.Second}, {"+", 5 * time.Second}, {"-", 2 * time.Second}, {"-", time.Second}, {"-", 500 * time.Millisecond},
		{"-", 200 * time.Millisecond}, {"-", 100 * time.Millisecond}, {"-", 100 * time.Millisecond}} {
		press(m, c.key)
		if m.Delay() != c.want {
			t.Errorf("after %s: delay %v, want %v", c.key, m.Delay(), c.want)
		}
	}
}

func TestNoPrograms(t *testing.T) {
	m := newTestModel(t, &fakeSource{frames: []*Frame{{Period: time.Second}}}, 100, 24)
	if s := m.Render(); !strings.Contains(s, "try 'bpfprof top --demo'") {
		t.Errorf("empty table does not say how to get programs:\n%s", s)
	}
	press(m, "enter", "j", "G") // nothing to open or move to
	if _, open := m.ProgramOpen(); open {
		t.Error("enter on an empty table opened a program")
	}
}

func TestRefreshError(t *testing.T) {
	m := newTestModel(t, &fakeSource{}, 100, 24)
	if s := m.Render(); !strings.Contains(s, "error: no frames") {
		t.Errorf("refresh error not shown:\n%s", s)
	}
}

func openHot(t *testing.T, m *Model) {
	t.Helper()
	for m.Selected() != 316206 {
		press(m, "j")
	}
	cmd := press(m, "enter")
	if id, open := m.ProgramOpen(); !open || id != 316206 {
		t.Fatalf("enter opened %d, %v", id, open)
	}
	run(t, m, cmd)
}

func cursorLine(t *testing.T, m *Model) (rowKind, uint32, int) {
	t.Helper()
	r, ok := m.listingCursor()
	if !ok {
		t.Fatal("no listing cursor")
	}
	fn := &m.prog.details.Listing.Funcs[r.fn]
	idx := -1
	if r.insn >= 0 {
		idx = fn.Lines[r.line].Insns[r.insn].Index
	}
	return r.kind, fn.Lines[r.line].Line, idx
}

func TestProgramViewHotLines(t *testing.T) {
	src := &fakeSource{frames: []*Frame{demoFrame()}, details: map[uint32]*Details{316206: hotDetails()}}
	m := newTestModel(t, src, 100, 30)
	openHot(t, m)
	if k, line, _ := cursorLine(t, m); k != rowSource || line != 25 {
		t.Fatalf("on open: cursor on %v line %d, want source line 25 (the hottest)", k, line)
	}
	screen := m.Render()
	if !strings.Contains(screen, ">  75.0     30    25 │ sum += i * 7; // hot") {
		t.Errorf("hottest line not selected with its heat:\n%s", screen)
	}
	// n and N walk the hot lines by heat: 25 (30), 24 (8), 28 (2).
	for _, c := range []struct {
		key  string
		want uint32
	}{{"n", 24}, {"n", 28}, {"n", 25}, {"N", 28}, {"H", 25}} {
		press(m, c.key)
		if _, line, _ := cursorLine(t, m); line != c.want {
			t.Errorf("after %s: line %d, want %d", c.key, line, c.want)
		}
	}
	// Refreshes keep the place, even when another line gets hotter.
	press(m, "k")
	_, line, _ := cursorLine(t, m)
	hotter := demoFrame()
	hotter.Heat[316206].Lines[LineKey{"testdata/hot.bpf.c", 28}] = 100
	src.frames = []*Frame{hotter}
	src.next = 0
	run(t, m, m.refreshCmd())
	if _, l, _ := cursorLine(t, m); l != line {
		t.Errorf("refresh moved the cursor from line %d to %d", line, l)
	}
	press(m, "H")
	if _, l, _ := cursorLine(t, m); l != 28 {
		t.Errorf("H after the refresh: line %d, want 28", l)
	}

	// Expand shows the line's instructions under it.
	press(m, "n", "x") // line 25
	if !strings.Contains(m.Render(), "2: r2 *= 7") {
		t.Errorf("expanded line 25 shows no instructions:\n%s", m.Render())
	}
	// tab: xlated keeps the line; H goes to the hottest instruction.
	press(m, "tab")
	if m.prog.mode != ModeXlated {
		t.Fatalf("tab: mode %v", m.prog.mode)
	}
	press(m, "H")
	if k, _, idx := cursorLine(t, m); k != rowInsn || idx != 2 {
		t.Errorf("xlated H: %v insn %d, want instruction 2", k, idx)
	}
	press(m, "tab")
	if m.prog.mode != ModeJIT || !strings.Contains(m.Render(), "imul $0x7,%rsi,%rsi") {
		t.Errorf("JIT mode does not show the JIT code:\n%s", m.Render())
	}
	press(m, "tab")
	if m.prog.mode != ModeSource {
		t.Errorf("tab did not wrap to source: %v", m.prog.mode)
	}
	press(m, "esc")
	if _, open := m.ProgramOpen(); open {
		t.Error("esc did not close the program view")
	}
	if m.Selected() != 316206 {
		t.Errorf("back in the table on %d, want 316206", m.Selected())
	}
}

func TestProgramViewDetailsError(t *testing.T) {
	m := newTestModel(t, &fakeSource{frames: []*Frame{demoFrame()}}, 100, 30)
	openHot(t, m)
	if s := m.Render(); !strings.Contains(s, "details: program 316206: not found") {
		t.Errorf("details error not shown:\n%s", s)
	}
	press(m, "H", "n", "tab", "x", "G") // nothing to move in: no panic
}

func TestBatchSameRows(t *testing.T) {
	f := demoFrame()
	m := newTestModel(t, &fakeSource{frames: []*Frame{f}}, 200, 30)
	var b bytes.Buffer
	if err := WriteBatch(&b, f, BatchOptions{}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// Summary, sampling line, titles, then the rows.
	if len(lines) != 3+len(m.rows) {
		t.Fatalf("batch has %d lines, want %d:\n%s", len(lines), 3+len(m.rows), b.String())
	}
	for i, p := range m.rows {
		if got := strings.Fields(lines[3+i])[0]; got != cell(colID_, p, true) {
			t.Errorf("batch row %d is program %s, TUI row is %d", i, got, p.ID)
		}
	}
	if !strings.Contains(lines[3], "bpfprof_hot_loop_socket") || !strings.Contains(lines[2], "SAMPLED%") {
		t.Errorf("batch table:\n%s", b.String())
	}
	b.Reset()
	if err := WriteBatch(&b, f, BatchOptions{Filter: "xdp", Sort: "runs/s"}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 4 {
		t.Errorf("filtered batch has %d lines:\n%s", n, b.String())
	}
	if err := WriteBatch(&b, f, BatchOptions{Sort: "bogus"}); err == nil || !strings.Contains(err.Error(), "CPU%") {
		t.Errorf("unknown sort column: %v", err)
	}
}

func TestHistoryBounded(t *testing.T) {
	var h histories
	p := []Program{prog(1, "xdp", "a", 10, 10)}
	for i := range historyLen + 50 {
		p[0].CPUPercent = float64(i)
		h.add(p, 0)
	}
	s := &h.byID[1].cpu
	if s.len() != historyLen {
		t.Fatalf("history holds %d, want %d", s.len(), historyLen)
	}
	got := s.last(nil, 3)
	if want := []float64{historyLen + 47, historyLen + 48, historyLen + 49}; !slices.Equal(got, want) {
		t.Errorf("newest values %v, want %v", got, want)
	}
	h.add(nil, 1)
	if len(h.byID) != 1 {
		t.Errorf("the program on view lost its history when it unloaded")
	}
	h.add(nil, 0)
	if len(h.byID) != 0 {
		t.Errorf("unloaded programs kept: %d", len(h.byID))
	}
}

func TestSparkline(t *testing.T) {
	for _, c := range []struct {
		vals  []float64
		width int
		want  string
	}{
		{nil, 4, "    "},
		{[]float64{0, 0}, 3, "   "},
		{[]float64{1, 2, 4, 8}, 4, "▁▂▄█"},
		{[]float64{8, 0, 0, 0, 0, 8}, 3, "█ █"},
		{[]float64{1, 8, 1, 1, 1, 1, 1, 1}, 4, "█▁▁▁"},
		{[]float64{5}, 3, "  █"},
	} {
		if got := sparkline(c.vals, c.width); got != c.want {
			t.Errorf("sparkline(%v, %d) = %q, want %q", c.vals, c.width, got, c.want)
		}
	}
	if got := bucketMax([]float64{1, 2, 3, 4, 5}, 2); !slices.Equal(got, []float64{2, 5}) {
		t.Errorf("bucketMax = %v, want [2 5] (buckets aligned on the newest)", got)
	}
}

func TestCellWidth(t *testing.T) {
	for _, s := range []string{"", "abc", "CPU%↓", "▁▂█", "a…", "⣿⡀", "日本", "é", "\x1b[1mbold\x1b[0m", "tab\t"} {
		if got, want := cellWidth(s), ansi.StringWidth(s); got != want {
			t.Errorf("cellWidth(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestProgramViewUnloaded(t *testing.T) {
	gone := demoFrame()
	gone.Programs = slices.DeleteFunc(gone.Programs, func(p Program) bool { return p.ID == 316206 })
	delete(gone.Heat, 316206)
	src := &fakeSource{frames: []*Frame{demoFrame(), demoFrame(), gone}, details: map[uint32]*Details{316206: hotDetails()}}
	m := newTestModel(t, src, 100, 30)
	run(t, m, m.refreshCmd())
	openHot(t, m)
	run(t, m, m.refreshCmd())
	s := m.Render()
	for _, want := range []string{"program 316206 bpfprof_hot_loop_socket (socket_filter) — unloaded", "runs/s now 99013", "25 │ sum += i * 7"} {
		if !strings.Contains(s, want) {
			t.Errorf("program view after the program unloaded lacks %q:\n%s", want, s)
		}
	}
	press(m, "esc")
	if m.Selected() == 316206 {
		t.Error("back in the table, the cursor is on the unloaded program")
	}
}
