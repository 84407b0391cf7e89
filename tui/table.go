package tui

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// colID names a column of the main table.
type colID int

const (
	colID_ colID = iota
	colType
	colName
	colAttach
	colProcess
	colRuns
	colAvg
	colCPU
	colSampled
	colMapsMem
	colSpark
)

// column is one column of the main table.
type column struct {
	id    colID
	title string
	// min and max are the widths it may take; flexible columns (max >
	// min) share what the terminal has left.
	min, max int
	// prio decides which columns stay on a narrow terminal: the lowest
	// goes first.
	prio  int
	right bool
	// desc: sorting starts with the largest value (numbers).
	desc bool
	// cmp orders two programs by this column; nil: not sortable.
	cmp func(a, b *Program) int
}

// sparkWidth is the width of the CPU% history column: one cell per 5 s of
// the last minute at most.
const sparkWidth = 12

// columns are the main table's columns, left to right.
var columns = []column{
	{id: colID_, title: "ID", min: 6, max: 7, prio: 100, right: true,
		cmp: func(a, b *Program) int { return cmp.Compare(a.ID, b.ID) }},
	{id: colType, title: "TYPE", min: 13, max: 13, prio: 60,
		cmp: func(a, b *Program) int { return strings.Compare(a.Type, b.Type) }},
	{id: colName, title: "NAME", min: 24, max: 40, prio: 100,
		cmp: func(a, b *Program) int { return strings.Compare(a.Name, b.Name) }},
	{id: colAttach, title: "ATTACH", min: 10, max: 34, prio: 40,
		cmp: func(a, b *Program) int { return strings.Compare(firstOr(a.Attach, ""), firstOr(b.Attach, "")) }},
	{id: colProcess, title: "PROCESS", min: 14, max: 22, prio: 50,
		cmp: func(a, b *Program) int { return strings.Compare(procCell(a.Procs), procCell(b.Procs)) }},
	{id: colRuns, title: "RUNS/s", min: 7, max: 7, prio: 90, right: true, desc: true,
		cmp: func(a, b *Program) int { return cmp.Compare(a.RunsPerSec, b.RunsPerSec) }},
	{id: colAvg, title: "AVG ns", min: 7, max: 7, prio: 80, right: true, desc: true,
		cmp: func(a, b *Program) int { return cmp.Compare(a.AvgNs, b.AvgNs) }},
	{id: colCPU, title: "CPU%", min: 6, max: 6, prio: 95, right: true, desc: true,
		cmp: func(a, b *Program) int { return cmp.Compare(a.CPUPercent, b.CPUPercent) }},
	{id: colSampled, title: "SAMPLED%", min: 9, max: 9, prio: 85, right: true, desc: true,
		cmp: func(a, b *Program) int { return cmp.Compare(a.SampledPercent, b.SampledPercent) }},
	{id: colMapsMem, title: "MAPS MEM", min: 9, max: 9, prio: 30, right: true, desc: true,
		cmp: func(a, b *Program) int { return cmp.Compare(a.MapsMem, b.MapsMem) }},
	{id: colSpark, title: "CPU% 1 min", min: sparkWidth, max: sparkWidth, prio: 45},
}

// defaultSort is the column the table is sorted by at start: CPU%.
const defaultSort = colCPU

// sortable returns the indexes of the columns that can sort, in order.
func sortable() []int {
	var s []int
	for i, c := range columns {
		if c.cmp != nil {
			s = append(s, i)
		}
	}
	return s
}

// layout gives each column a width for a terminal width, 0 for columns
// left out. One cell before the table holds the cursor marker, one space
// separates columns.
func layout(width int) []int {
	widths := make([]int, len(columns))
	used := 1
	for i, c := range columns {
		widths[i] = c.min
		used += c.min + 1
	}
	// Drop the least important columns until the rest fit.
	for used > width {
		drop, prio := -1, 1<<30
		for i, c := range columns {
			if widths[i] > 0 && c.prio < prio {
				drop, prio = i, c.prio
			}
		}
		if drop < 0 || prio >= 100 {
			break
		}
		used -= widths[drop] + 1
		widths[drop] = 0
	}
	// Give what is left to the flexible columns, most telling first.
	spare := width - used
	for _, id := range []colID{colName, colProcess, colAttach, colType, colID_} {
		if widths[id] == 0 {
			continue
		}
		grow := min(columns[id].max-widths[id], spare)
		widths[id] += grow
		spare -= grow
	}
	return widths
}

// cell formats one program's value in column c.
func cell(c colID, p *Program, sampling bool) string {
	switch c {
	case colID_:
		return strconv.FormatUint(uint64(p.ID), 10)
	case colType:
		return p.Type
	case colName:
		if p.Name == "" {
			return "(no name)"
		}
		return p.Name
	case colAttach:
		return listCell(p.Attach)
	case colProcess:
		return procCell(p.Procs)
	case colRuns:
		if !p.HasStats {
			return "-"
		}
		return countCell(p.RunsPerSec)
	case colAvg:
		if !p.HasStats || p.RunsPerSec == 0 {
			return "-"
		}
		return countCell(p.AvgNs)
	case colCPU:
		if !p.HasStats {
			return "-"
		}
		return strconv.FormatFloat(p.CPUPercent, 'f', 2, 64)
	case colSampled:
		if !sampling {
			return "-"
		}
		return strconv.FormatFloat(p.SampledPercent, 'f', 1, 64)
	case colMapsMem:
		if p.MapsMem == 0 {
			return "-"
		}
		return byteCell(p.MapsMem)
	}
	// The history column is drawn by the model, from the history.
	return ""
}

func firstOr(s []string, def string) string {
	if len(s) == 0 {
		return def
	}
	return s[0]
}

// listCell is the first item and how many more.
func listCell(s []string) string {
	switch len(s) {
	case 0:
		return "-"
	case 1:
		return s[0]
	}
	return fmt.Sprintf("%s +%d", s[0], len(s)-1)
}

// procCell is the first owning process as comm(pid), and how many more.
func procCell(ps []Proc) string {
	switch len(ps) {
	case 0:
		return "-"
	case 1:
		return fmt.Sprintf("%s(%d)", ps[0].Comm, ps[0].PID)
	}
	return fmt.Sprintf("%s(%d) +%d", ps[0].Comm, ps[0].PID, len(ps)-1)
}

// countCell formats a rate or duration in at most 7 characters: whole
// numbers up to 999999, then with k, M or G.
func countCell(v float64) string {
	switch {
	case v < 999999.5:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 999.95e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	}
	return strconv.FormatFloat(v/1e9, 'f', 1, 64) + "G"
}

// byteCell formats a byte count in at most 8 characters.
func byteCell(n uint64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + "G"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "M"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + "K"
	}
	return strconv.FormatUint(n, 10) + "B"
}

// cellWidth is the width of s on the screen. ASCII and the one-cell
// symbols top draws (arrows, box drawing, blocks, braille, the ellipsis)
// are counted directly; anything else, or escape sequences, goes through
// ansi's grapheme segmentation, which costs far more.
func cellWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r >= 0x20 && r < 0x7f,
			r == 0x2026,
			r >= 0x2190 && r <= 0x21ff,
			r >= 0x2500 && r <= 0x259f,
			r >= 0x2800 && r <= 0x28ff:
			n++
		default:
			return ansi.StringWidth(s)
		}
	}
	return n
}

// fit pads or cuts s to exactly w cells.
func fit(s string, w int, right bool) string {
	n := cellWidth(s)
	if n > w {
		return ansi.Truncate(s, w, "…")
	}
	pad := strings.Repeat(" ", w-n)
	if right {
		return pad + s
	}
	return s + pad
}

// sortPrograms orders progs by column col (an index into columns),
// largest first for numeric columns unless reversed; equal values keep
// ID order so that rows do not swap places between refreshes.
func sortPrograms(progs []*Program, col int, reverse bool) {
	c := columns[col]
	desc := c.desc != reverse
	slices.SortStableFunc(progs, func(a, b *Program) int {
		r := c.cmp(a, b)
		if desc {
			r = -r
		}
		if r != 0 {
			return r
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// matches reports whether p matches filter (lower case): a substring of
// its name, type, an attach point, an owning process or its id.
func matches(p *Program, filter string) bool {
	if filter == "" {
		return true
	}
	has := func(s string) bool { return strings.Contains(strings.ToLower(s), filter) }
	if has(p.Name) || has(p.Type) || has(strconv.FormatUint(uint64(p.ID), 10)) {
		return true
	}
	for _, a := range p.Attach {
		if has(a) {
			return true
		}
	}
	for _, pr := range p.Procs {
		if has(pr.Comm) || has(fmt.Sprintf("%s(%d)", pr.Comm, pr.PID)) {
			return true
		}
	}
	return false
}

// visible returns the programs of f that match filter, sorted.
func visible(f *Frame, filter string, col int, reverse bool) []*Program {
	if f == nil {
		return nil
	}
	filter = strings.ToLower(filter)
	out := make([]*Program, 0, len(f.Programs))
	for i := range f.Programs {
		if matches(&f.Programs[i], filter) {
			out = append(out, &f.Programs[i])
		}
	}
	sortPrograms(out, col, reverse)
	return out
}

// BatchOptions choose the rows of a batch table.
type BatchOptions struct {
	// Filter keeps the programs matching it, as the TUI's filter does.
	Filter string
	// Sort is the column title to sort by ("CPU%" when empty); Reverse
	// flips the order.
	Sort    string
	Reverse bool
}

// SortColumn returns the index of the sortable column titled title, or
// false. Case, spaces, dashes and underscores do not matter: "avg-ns" is
// "AVG ns".
func SortColumn(title string) (int, bool) {
	norm := strings.NewReplacer(" ", "", "-", "", "_", "")
	for _, i := range sortable() {
		if strings.EqualFold(norm.Replace(columns[i].title), norm.Replace(title)) {
			return i, true
		}
	}
	return 0, false
}

// SortColumns lists the titles of the columns the table can sort by.
func SortColumns() []string {
	var t []string
	for _, i := range sortable() {
		t = append(t, columns[i].title)
	}
	return t
}

// WriteBatch writes one frame as a plain table, the rows the TUI shows
// with every column, for 'top -b': a summary line, the column titles and
// one line per program, columns separated by two spaces.
func WriteBatch(w io.Writer, f *Frame, opts BatchOptions) error {
	col := int(defaultSort)
	if opts.Sort != "" {
		i, ok := SortColumn(opts.Sort)
		if !ok {
			return fmt.Errorf("unknown sort column %q; one of %s", opts.Sort, strings.Join(SortColumns(), ", "))
		}
		col = i
	}
	rows := visible(f, opts.Filter, col, opts.Reverse)
	var b strings.Builder
	b.WriteString(summary(f, len(rows)))
	b.WriteByte('\n')
	if s := samplingLine(f); s != "" {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	// Widths from the content, as tabwriter would, but right-aligning
	// numbers.
	cols := make([]int, 0, len(columns))
	for i, c := range columns {
		if c.id != colSpark {
			cols = append(cols, i)
		}
	}
	cells := make([][]string, len(rows))
	widths := make([]int, len(cols))
	for j, ci := range cols {
		widths[j] = len(columns[ci].title)
	}
	sampling := f.Header.Event != ""
	for r, p := range rows {
		cells[r] = make([]string, len(cols))
		for j, ci := range cols {
			s := cell(columns[ci].id, p, sampling)
			cells[r][j] = s
			widths[j] = max(widths[j], cellWidth(s))
		}
	}
	line := func(get func(j int) string) {
		for j, ci := range cols {
			s := fit(get(j), widths[j], columns[ci].right)
			if j == len(cols)-1 {
				s = strings.TrimRight(s, " ")
			}
			b.WriteString(s)
			if j < len(cols)-1 {
				b.WriteString("  ")
			}
		}
		b.WriteByte('\n')
	}
	line(func(j int) string { return columns[cols[j]].title })
	for r := range rows {
		line(func(j int) string { return cells[r][j] })
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// summary is the first header line: programs and their total CPU.
func summary(f *Frame, shown int) string {
	total := 0.0
	for i := range f.Programs {
		total += f.Programs[i].CPUPercent
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d programs", len(f.Programs))
	if shown != len(f.Programs) {
		fmt.Fprintf(&b, " (%d shown)", shown)
	}
	fmt.Fprintf(&b, "  BPF CPU %.2f%% (100%% = 1 core)", total)
	if f.Header.Demo {
		b.WriteString("  demo")
	}
	return b.String()
}

// samplingLine says how the stats and samples were taken this period.
func samplingLine(f *Frame) string {
	h := &f.Header
	var b strings.Builder
	if h.StatsNote != "" {
		fmt.Fprintf(&b, "stats: %s  ", h.StatsNote)
	}
	if f.Period > 0 {
		fmt.Fprintf(&b, "period %s  ", f.Period.Round(durationRound(f.Period)))
	}
	switch {
	case h.Event != "":
		fmt.Fprintf(&b, "sampling %s %d Hz: %d samples (%d BPF), %d lost", h.Event, h.Frequency, h.Samples, h.BPFSamples, h.Lost)
	case h.SamplingNote != "":
		b.WriteString("sampling off: " + h.SamplingNote)
	}
	return strings.TrimSpace(b.String())
}
