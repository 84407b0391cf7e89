package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/guptarohit/asciigraph"
)

// Mode is what the program view's listing shows.
type Mode int

// Listing modes, in the order tab cycles through them.
const (
	ModeSource Mode = iota
	ModeXlated
	ModeJIT
)

// String names the mode as the listing header shows it.
func (m Mode) String() string {
	switch m {
	case ModeXlated:
		return "xlated"
	case ModeJIT:
		return "JIT"
	}
	return "source"
}

// rowKind is the kind of one listing row.
type rowKind int

const (
	rowFunc rowKind = iota
	rowSource
	rowInsn
	rowJIT
)

// listRow is one line of the listing, with what its heat is counted from.
type listRow struct {
	kind rowKind
	// fn, line and insn index into the listing (line and insn -1 where
	// they do not apply).
	fn, line, insn, jit int
}

// programView is the drill-down into one program.
type programView struct {
	id      uint32
	details *Details
	err     error
	mode    Mode
	// expanded source lines (by function and line index) show their
	// instructions under them in source mode.
	expanded map[[2]int]bool
	rows     []listRow
	cursor   int
	offset   int
	// heat is the period's heat; total the heat summed since the view
	// opened, which picks the hottest line when a period has none.
	heat  *Heat
	total Heat
	// pickHot: select the hottest line once heat arrives, unless the
	// user moved first.
	pickHot bool
}

func newProgramView(id uint32) *programView {
	return &programView{id: id, expanded: map[[2]int]bool{}, pickHot: true,
		total: Heat{Lines: map[LineKey]uint64{}, Addrs: map[uint64]uint64{}}}
}

func (v *programView) setDetails(d *Details, err error, h *Heat, height int) {
	v.details, v.err = d, err
	v.rebuild()
	v.onFrame(h, height)
}

// onFrame takes a new period's heat; the cursor and scroll stay where
// they are, unless the hottest line is still to be picked.
func (v *programView) onFrame(h *Heat, height int) {
	v.heat = h
	if h != nil {
		v.total.Samples += h.Samples
		for k, n := range h.Lines {
			v.total.Lines[k] += n
		}
		for a, n := range h.Addrs {
			v.total.Addrs[a] += n
		}
	}
	if v.pickHot && v.details != nil && len(v.rows) > 0 && v.total.Samples > 0 {
		v.jumpHottest(height)
		v.pickHot = false
	}
	v.clamp(height)
}

// rebuild lays the listing out as rows for the current mode.
func (v *programView) rebuild() {
	v.rows = v.rows[:0]
	if v.details == nil || v.details.Listing == nil {
		return
	}
	for fi, fn := range v.details.Listing.Funcs {
		v.rows = append(v.rows, listRow{kind: rowFunc, fn: fi, line: -1, insn: -1, jit: -1})
		for li, l := range fn.Lines {
			v.rows = append(v.rows, listRow{kind: rowSource, fn: fi, line: li, insn: -1, jit: -1})
			switch {
			case v.mode == ModeXlated || v.mode == ModeSource && v.expanded[[2]int{fi, li}]:
				for ii := range l.Insns {
					v.rows = append(v.rows, listRow{kind: rowInsn, fn: fi, line: li, insn: ii, jit: -1})
				}
			case v.mode == ModeJIT:
				for ii, in := range l.Insns {
					for ji := range in.JIT {
						v.rows = append(v.rows, listRow{kind: rowJIT, fn: fi, line: li, insn: ii, jit: ji})
					}
				}
			}
		}
	}
}

// rowHeat is a row's samples in h: a source line's by its line, an
// instruction's by the JIT addresses made from it.
func (v *programView) rowHeat(r listRow, h *Heat) uint64 {
	if h == nil || v.details == nil || v.details.Listing == nil {
		return 0
	}
	fn := &v.details.Listing.Funcs[r.fn]
	switch r.kind {
	case rowSource:
		return h.Lines[fn.Lines[r.line].LineKey]
	case rowInsn:
		var n uint64
		for _, j := range fn.Lines[r.line].Insns[r.insn].JIT {
			n += jitHeat(j, h)
		}
		return n
	case rowJIT:
		return jitHeat(fn.Lines[r.line].Insns[r.insn].JIT[r.jit], h)
	}
	return 0
}

// jitHeat is the samples at the addresses of one JIT instruction.
func jitHeat(j JITInsn, h *Heat) uint64 {
	if j.Len <= 1 {
		return h.Addrs[j.Addr]
	}
	var n uint64
	for a, c := range h.Addrs {
		if a >= j.Addr && a < j.Addr+uint64(j.Len) {
			n += c
		}
	}
	return n
}

// hotKind is the kind of row hot-line navigation stops at in the mode.
func (v *programView) hotKind() rowKind {
	switch v.mode {
	case ModeXlated:
		return rowInsn
	case ModeJIT:
		return rowJIT
	}
	return rowSource
}

// hotRows returns the rows with heat, hottest first: this period's heat,
// or the total since the view opened if the period has none.
func (v *programView) hotRows() []int {
	h := v.heat
	if h == nil || h.Samples == 0 {
		h = &v.total
	}
	kind := v.hotKind()
	type hot struct {
		row int
		n   uint64
	}
	var hs []hot
	for i, r := range v.rows {
		if r.kind != kind {
			continue
		}
		if n := v.rowHeat(r, h); n > 0 {
			hs = append(hs, hot{i, n})
		}
	}
	slices.SortStableFunc(hs, func(a, b hot) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.row, b.row)
	})
	out := make([]int, len(hs))
	for i, x := range hs {
		out[i] = x.row
	}
	return out
}

// jumpHottest puts the cursor on the hottest row, a third down the screen.
func (v *programView) jumpHottest(height int) {
	hot := v.hotRows()
	if len(hot) == 0 {
		return
	}
	v.moveTo(hot[0], height)
}

// jumpHot moves to the next (or previous) row in order of heat, from the
// one under the cursor, wrapping around.
func (v *programView) jumpHot(next bool, height int) {
	hot := v.hotRows()
	if len(hot) == 0 {
		return
	}
	at := slices.Index(hot, v.cursor)
	switch {
	case at < 0:
		at = 0
	case next:
		at = (at + 1) % len(hot)
	default:
		at = (at + len(hot) - 1) % len(hot)
	}
	v.moveTo(hot[at], height)
}

func (v *programView) moveTo(row, height int) {
	v.cursor = row
	if v.cursor < v.offset || v.cursor >= v.offset+height {
		v.offset = v.cursor - height/3
	}
	v.clamp(height)
}

func (v *programView) clamp(height int) {
	height = max(height, 1)
	v.cursor = max(min(v.cursor, len(v.rows)-1), 0)
	if v.cursor < v.offset {
		v.offset = v.cursor
	}
	if v.cursor >= v.offset+height {
		v.offset = v.cursor - height + 1
	}
	v.offset = max(min(v.offset, len(v.rows)-height), 0)
}

func (v *programView) onKey(msg tea.KeyPressMsg, k *KeyMap, height int) {
	if len(v.rows) == 0 {
		// Nothing to move in yet; keys pressed before the listing
		// arrives must not keep the hottest line from being picked.
		return
	}
	switch {
	case key.Matches(msg, k.Up):
		v.cursor--
	case key.Matches(msg, k.Down):
		v.cursor++
	case key.Matches(msg, k.PageUp):
		v.cursor -= height
		v.offset -= height
	case key.Matches(msg, k.PageDown):
		v.cursor += height
		v.offset += height
	case key.Matches(msg, k.Home):
		v.cursor = 0
	case key.Matches(msg, k.End):
		v.cursor = len(v.rows) - 1
	case key.Matches(msg, k.Hottest):
		v.jumpHottest(height)
	case key.Matches(msg, k.NextHot):
		v.jumpHot(true, height)
	case key.Matches(msg, k.PrevHot):
		v.jumpHot(false, height)
	case key.Matches(msg, k.Mode):
		v.switchMode(height)
	case key.Matches(msg, k.Expand):
		v.toggleExpand(height)
	default:
		return
	}
	v.pickHot = false
	v.clamp(height)
}

// switchMode moves to the next listing mode, keeping the cursor on the
// same source line.
func (v *programView) switchMode(height int) {
	var at listRow
	if v.cursor < len(v.rows) {
		at = v.rows[v.cursor]
	}
	v.mode = (v.mode + 1) % 3
	v.rebuild()
	for i, r := range v.rows {
		if r.fn == at.fn && r.line == at.line {
			v.moveTo(i, height)
			return
		}
	}
}

// toggleExpand shows or hides the instructions of the source line under
// the cursor, in source mode.
func (v *programView) toggleExpand(height int) {
	if v.mode != ModeSource || v.cursor >= len(v.rows) {
		return
	}
	r := v.rows[v.cursor]
	if r.line < 0 {
		return
	}
	k := [2]int{r.fn, r.line}
	v.expanded[k] = !v.expanded[k]
	v.rebuild()
	for i, x := range v.rows {
		if x.kind == rowSource && x.fn == r.fn && x.line == r.line {
			v.cursor = i
			break
		}
	}
	v.clamp(height)
}

// Layout of the program view: a title, four lines of facts, the charts
// (two caption lines and the plot), one line for who pays (or a gap under
// the table of who pays beside the charts), the listing header.
const (
	chartHeight   = 3
	chartLines    = chartHeight + 2
	progTopLines  = 5
	payLines      = 1
	listHeadLines = 1
	// From wideWidth cells on, who pays is a table of payWidth cells
	// beside the charts.
	wideWidth = 110
	payWidth  = 36
)

// listingHeight is the rows the program view's listing has on screen.
func (m *Model) listingHeight() int {
	return max(m.height-helpLines-progTopLines-chartLines-payLines-listHeadLines, 3)
}

func (v *programView) render(m *Model) []string {
	st := &m.styles
	var p *Program
	if m.frame != nil {
		for i := range m.frame.Programs {
			if m.frame.Programs[i].ID == v.id {
				p = &m.frame.Programs[i]
			}
		}
	}
	d := v.details
	lines := make([]string, 0, m.height)
	name, typ := "", ""
	switch {
	case d != nil:
		name, typ = d.Name, d.Type
	case p != nil:
		name, typ = p.Name, p.Type
	}
	title := fmt.Sprintf("program %d", v.id)
	if name != "" {
		title += " " + name
	}
	if typ != "" {
		title += " (" + typ + ")"
	}
	if p == nil && m.frame != nil {
		title += " — unloaded"
	}
	lines = append(lines, st.Title.Render(title)+"  "+st.Note.Render(m.statusTag()))
	switch {
	case v.err != nil:
		lines = append(lines, st.Warn.Render("details: "+v.err.Error()), "", "", "")
	case d == nil:
		lines = append(lines, st.Note.Render("reading the program…"), "", "", "")
	default:
		lines = append(lines, v.facts()...)
	}

	if m.width >= wideWidth {
		// Who pays gets a table beside the charts.
		charts := m.charts(v.id, m.width-payWidth-1)
		pays := v.payTable()
		for i := range charts {
			lines = append(lines, fit(charts[i], m.width-payWidth-1, false)+" "+pays[i])
		}
		lines = append(lines, "")
	} else {
		lines = append(lines, m.charts(v.id, m.width)...)
		lines = append(lines, v.payers(p))
	}
	return append(lines, v.listing(m)...)
}

// facts are four lines: identity, sizes, attach points and owners, maps.
func (v *programView) facts() []string {
	d := v.details
	l1 := fmt.Sprintf("tag %s  uid %d  loaded %s", d.Tag, d.UID, d.LoadedAt.Format("2006-01-02 15:04:05"))
	l2 := fmt.Sprintf("xlated %dB  jited %dB  verified %d insns  memlock %s  btf id %d",
		d.XlatedSize, d.JitedSize, d.VerifiedInsns, orDash(memCell(d.Memlock)), d.BTFID)
	procs := make([]string, len(d.Procs))
	for i, p := range d.Procs {
		procs[i] = fmt.Sprintf("%s(%d)", p.Comm, p.PID)
	}
	l3 := "attach: " + orDash(strings.Join(d.Attach, ", ")) + "  owners: " + orDash(strings.Join(procs, ", "))
	maps := make([]string, len(d.Maps))
	for i, mp := range d.Maps {
		maps[i] = fmt.Sprintf("%d %s (%s, %d entries, %s)", mp.ID, mp.Name, mp.Type, mp.MaxEntries, orDash(memCell(mp.Memlock)))
	}
	l4 := "maps: " + orDash(strings.Join(maps, "; "))
	return []string{l1, l2, l3, l4}
}

func memCell(n uint64) string {
	if n == 0 {
		return ""
	}
	return byteCell(n)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// charts draws runs/s, avg ns and CPU% side by side over the history kept,
// in width cells.
func (m *Model) charts(id uint32, width int) []string {
	h := m.hist.byID[id]
	w := max((width-2)/3, 12)
	var cols [][]string
	if h == nil {
		h = &history{}
	}
	for _, c := range []struct {
		title string
		s     *series
		prec  int
	}{{"runs/s", &h.runs, 0}, {"avg ns", &h.avg, 0}, {"CPU%", &h.cpu, 2}} {
		cols = append(cols, m.chart(c.title, c.s, c.prec, w))
	}
	out := make([]string, chartLines)
	for i := range out {
		parts := make([]string, len(cols))
		for j := range cols {
			parts[j] = fit(cols[j][i], w, false)
		}
		out[i] = strings.Join(parts, " ")
	}
	return out
}

// chart draws one measure: a caption with the current, average and largest
// value, and the plot of its history squeezed into width.
func (m *Model) chart(title string, s *series, prec, width int) []string {
	vals := s.last(nil, s.len())
	out := make([]string, 0, chartLines)
	if len(vals) == 0 {
		out = append(out, title, "no data yet")
		for range chartHeight {
			out = append(out, "")
		}
		return out
	}
	sum, top := 0.0, 0.0
	for _, x := range vals {
		sum += x
		top = max(top, x)
	}
	f := func(x float64) string {
		if prec == 0 {
			return countCell(x)
		}
		return strconv.FormatFloat(x, 'f', prec, 64)
	}
	out = append(out, fmt.Sprintf("%s now %s", title, f(vals[len(vals)-1])),
		fmt.Sprintf("avg %s max %s", f(sum/float64(len(vals))), f(top)))
	// The axis labels take about 8 cells.
	plotW := max(width-9, 2)
	pts := bucketMax(vals, plotW)
	if len(pts) == 1 {
		pts = []float64{pts[0], pts[0]}
	}
	plot := asciigraph.Plot(pts, asciigraph.Height(chartHeight-1), asciigraph.LowerBound(0), asciigraph.Precision(uint(prec)))
	for _, l := range strings.Split(plot, "\n") {
		out = append(out, m.styles.Chart.Render(l))
	}
	for len(out) < chartLines {
		out = append(out, "")
	}
	return out[:chartLines]
}

// payTable ranks who paid for the program this period, in chartLines
// lines of payWidth cells.
func (v *programView) payTable() []string {
	out := make([]string, chartLines)
	out[0] = fit("who pays         PID  CPU   share", payWidth, false)
	h := v.heat
	if h == nil || len(h.Payers) == 0 {
		out[1] = fit("no samples in it this period", payWidth, false)
		return out
	}
	for i, py := range h.Payers {
		if i+1 == len(out) {
			break
		}
		if i+2 == len(out) && len(h.Payers) > i+1 {
			out[i+1] = fmt.Sprintf("+%d more", len(h.Payers)-i)
			break
		}
		out[i+1] = fmt.Sprintf("%-14s %7d %4d %6.1f%%", ansi.Truncate(py.Comm, 14, "…"), py.PID, py.CPU, pct(py.Samples, h.Samples))
	}
	return out
}

// payers is one line naming who paid for the program this period.
func (v *programView) payers(p *Program) string {
	h := v.heat
	if h == nil || len(h.Payers) == 0 {
		if p != nil && p.Samples == 0 {
			return "who pays: no samples in this program this period"
		}
		return "who pays: -"
	}
	var b strings.Builder
	b.WriteString("who pays:")
	for i, py := range h.Payers {
		if i == 6 {
			fmt.Fprintf(&b, " +%d more", len(h.Payers)-i)
			break
		}
		fmt.Fprintf(&b, " %s(%d)@cpu%d %.0f%%", py.Comm, py.PID, py.CPU, pct(py.Samples, h.Samples))
	}
	return b.String()
}

func pct(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 100 / float64(of)
}

// listing draws the annotated code with this period's heat.
func (v *programView) listing(m *Model) []string {
	st := &m.styles
	d := v.details
	head := fmt.Sprintf("%s view  %6s %6s  (tab: source/xlated/JIT, x: expand, H: hottest, n/N: next/prev hot)", v.mode, "%", "samples")
	if d != nil && d.Listing != nil && d.ListingNote != "" {
		head = fmt.Sprintf("%s view  %6s %6s  %s", v.mode, "%", "samples", d.ListingNote)
	}
	out := []string{st.TableHeader.Render(fit(head, m.width, false))}
	switch {
	case d == nil:
		return out
	case d.Listing == nil:
		return append(out, " "+orDash(d.ListingNote))
	}
	h := v.heat
	var total uint64
	if h != nil {
		total = h.Samples
	}
	height := m.listingHeight()
	for i := v.offset; i < len(v.rows) && i < v.offset+height; i++ {
		r := v.rows[i]
		fn := &d.Listing.Funcs[r.fn]
		n := v.rowHeat(r, h)
		heat := "              "
		if n > 0 {
			heat = fmt.Sprintf("%6.1f %6d ", pct(n, total), n)
		}
		var text string
		switch r.kind {
		case rowFunc:
			text = fmt.Sprintf("%s():", fn.Name)
			heat = "              "
		case rowSource:
			l := &fn.Lines[r.line]
			text = fmt.Sprintf("%5d │ %s", l.Line, strings.TrimSpace(ansi.Strip(l.Text)))
			if l.Line == 0 {
				text = "      │ " + strings.TrimSpace(l.Text)
			}
		case rowInsn:
			in := &fn.Lines[r.line].Insns[r.insn]
			text = fmt.Sprintf("        %4d: %s", in.Index, in.Text)
		case rowJIT:
			j := &fn.Lines[r.line].Insns[r.insn].JIT[r.jit]
			text = fmt.Sprintf("        %x: %s", j.Addr, j.Text)
		}
		marker := " "
		if i == v.cursor {
			marker = ">"
		}
		line := marker + heat + text
		if r.kind == rowSource && m.prog.mode != ModeSource {
			line = st.Note.Render(line)
		}
		if i == v.cursor {
			line = st.Selected.Render(fit(line, m.width, false))
		} else if n > 0 {
			line = heatStyle(st, pct(n, total)).Render(line)
		}
		out = append(out, line)
	}
	return out
}

// heatStyle colours a share of samples.
func heatStyle(st *Styles, p float64) interface{ Render(...string) string } {
	switch {
	case p >= 20:
		return st.Hot
	case p >= 5:
		return st.Warm
	}
	return st.Cool
}

// ProgramOpen reports the program the program view shows, and whether it
// is open.
func (m *Model) ProgramOpen() (uint32, bool) {
	if m.prog == nil {
		return 0, false
	}
	return m.prog.id, true
}

// Cursor returns the program view's selected listing row as text, without
// heat: for tests and the end-to-end check.
func (m *Model) listingCursor() (listRow, bool) {
	if m.prog == nil || m.prog.cursor >= len(m.prog.rows) {
		return listRow{}, false
	}
	return m.prog.rows[m.prog.cursor], true
}
