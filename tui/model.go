package tui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Delay limits and steps for + and -.
const (
	// MinDelay and MaxDelay bound the refresh interval.
	MinDelay = 100 * time.Millisecond
	MaxDelay = time.Minute
	// DefaultDelay is bpftop's refresh interval.
	DefaultDelay = time.Second
)

// Options configure a Model.
type Options struct {
	// Source gives the data; required.
	Source Source
	// Delay is the refresh interval; DefaultDelay if 0.
	Delay time.Duration
	// Styles default to DefaultStyles; PlainStyles for no colour.
	Styles *Styles
	// Keys default to DefaultKeyMap.
	Keys *KeyMap
	// Context ends the refreshes in flight when done; Background if nil.
	Context context.Context
}

// Model is the Bubble Tea model of 'bpfprof top': the table of programs
// and, after enter, one program's view. It keeps everything it shows; all
// reading happens in commands that call its Source.
type Model struct {
	src    Source
	ctx    context.Context
	keys   KeyMap
	styles Styles
	help   help.Model

	width, height int
	delay         time.Duration
	paused        bool
	// gen numbers the refresh loop: a tick of an older generation (from
	// before a delay change or a pause) is dropped. fetching says a
	// refresh is in flight.
	gen      int
	fetching bool

	frame *Frame
	err   error
	hist  histories
	// frames counts the frames received.
	frames uint64

	sortCol   int
	sortRev   bool
	filter    string
	filtering bool
	showHelp  bool

	// rows are the programs shown, filtered and sorted; selID is the
	// program under the cursor, which the cursor follows as rows move.
	rows   []*Program
	selID  uint32
	cursor int
	offset int

	prog *programView

	sparkBuf []float64
}

// New returns a model reading from opts.Source.
func New(opts Options) *Model {
	m := &Model{
		src:     opts.Source,
		ctx:     opts.Context,
		keys:    DefaultKeyMap(),
		styles:  DefaultStyles(),
		help:    help.New(),
		delay:   opts.Delay,
		sortCol: int(defaultSort),
		width:   80,
		height:  24,
	}
	if m.ctx == nil {
		m.ctx = context.Background()
	}
	if m.delay <= 0 {
		m.delay = DefaultDelay
	}
	if opts.Styles != nil {
		m.styles = *opts.Styles
	}
	if opts.Keys != nil {
		m.keys = *opts.Keys
	}
	m.help.Styles = m.styles.Help
	return m
}

// Init starts the first refresh.
func (m *Model) Init() tea.Cmd {
	m.fetching = true
	return m.refreshCmd()
}

func (m *Model) refreshCmd() tea.Cmd {
	src, ctx := m.src, m.ctx
	return func() tea.Msg {
		f, err := src.Refresh(ctx)
		return FrameMsg{Frame: f, Err: err}
	}
}

func (m *Model) tickCmd() tea.Cmd {
	gen := m.gen
	return tea.Tick(m.delay, func(time.Time) tea.Msg { return tickMsg{gen: gen} })
}

func (m *Model) detailsCmd(id uint32) tea.Cmd {
	src, ctx := m.src, m.ctx
	return func() tea.Msg {
		d, err := src.Details(ctx, id)
		return DetailsMsg{ID: id, Details: d, Err: err}
	}
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		m.clampCursor()
		if m.prog != nil {
			m.prog.clamp(m.listingHeight())
		}
		return m, nil
	case FrameMsg:
		return m, m.onFrame(msg)
	case tickMsg:
		if msg.gen != m.gen || m.paused || m.fetching {
			return m, nil
		}
		m.fetching = true
		return m, m.refreshCmd()
	case DetailsMsg:
		if m.prog != nil && m.prog.id == msg.ID {
			m.prog.setDetails(msg.Details, msg.Err, m.heat(msg.ID), m.listingHeight())
		}
		return m, nil
	case tea.KeyPressMsg:
		return m, m.onKey(msg)
	}
	return m, nil
}

// onFrame takes a new period's data and schedules the next refresh.
func (m *Model) onFrame(msg FrameMsg) tea.Cmd {
	m.fetching = false
	m.err = msg.Err
	if msg.Err == nil && msg.Frame != nil {
		m.frame = msg.Frame
		m.frames++
		var keep uint32
		if m.prog != nil {
			keep = m.prog.id
		}
		m.hist.add(msg.Frame.Programs, keep)
		m.refreshRows()
		if m.prog != nil {
			m.prog.onFrame(m.heat(m.prog.id), m.listingHeight())
		}
	}
	if m.paused {
		return nil
	}
	return m.tickCmd()
}

func (m *Model) heat(id uint32) *Heat {
	if m.frame == nil {
		return nil
	}
	return m.frame.Heat[id]
}

// refreshRows recomputes the visible rows and puts the cursor back on the
// selected program, or where it was if that program went away.
func (m *Model) refreshRows() {
	m.rows = visible(m.frame, m.filter, m.sortCol, m.sortRev)
	found := false
	for i, p := range m.rows {
		if p.ID == m.selID {
			m.cursor, found = i, true
			break
		}
	}
	if !found {
		m.cursor = min(m.cursor, len(m.rows)-1)
		m.cursor = max(m.cursor, 0)
	}
	m.clampCursor()
}

// clampCursor keeps the cursor on a row and in the visible part of the
// table, and remembers which program it is on.
func (m *Model) clampCursor() {
	m.cursor = max(min(m.cursor, len(m.rows)-1), 0)
	if len(m.rows) > 0 {
		m.selID = m.rows[m.cursor].ID
	}
	h := m.tableHeight()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	m.offset = max(min(m.offset, len(m.rows)-h), 0)
}

// Lines of the main view around the table: three header lines and the
// column titles above, the help bar below.
const (
	mainHeaderLines = 4
	helpLines       = 1
)

func (m *Model) tableHeight() int {
	return max(m.height-mainHeaderLines-helpLines, 1)
}

func (m *Model) onKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.keys
	if msg.String() == "ctrl+c" {
		// Ctrl-C quits from anywhere, also while typing a filter.
		return tea.Quit
	}
	if m.filtering {
		m.filterKey(msg)
		return nil
	}
	switch {
	case key.Matches(msg, k.Quit):
		return tea.Quit
	case key.Matches(msg, k.Help):
		m.showHelp = !m.showHelp
		return nil
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		m.gen++
		if !m.paused && !m.fetching {
			m.fetching = true
			return m.refreshCmd()
		}
		return nil
	case key.Matches(msg, k.Faster), key.Matches(msg, k.Slower):
		m.setDelay(key.Matches(msg, k.Slower))
		if m.paused || m.fetching {
			return nil
		}
		return m.tickCmd()
	}
	if m.showHelp {
		if key.Matches(msg, k.Back) {
			m.showHelp = false
		}
		return nil
	}
	if m.prog != nil {
		if key.Matches(msg, k.Back) {
			m.prog = nil
			return nil
		}
		m.prog.onKey(msg, k, m.listingHeight())
		return nil
	}
	page := m.tableHeight()
	switch {
	case key.Matches(msg, k.Up):
		m.cursor--
	case key.Matches(msg, k.Down):
		m.cursor++
	case key.Matches(msg, k.PageUp):
		m.cursor -= page
	case key.Matches(msg, k.PageDown):
		m.cursor += page
	case key.Matches(msg, k.Home):
		m.cursor = 0
	case key.Matches(msg, k.End):
		m.cursor = len(m.rows) - 1
	case key.Matches(msg, k.SortNext), key.Matches(msg, k.SortPrev):
		s := sortable()
		i := 0
		for j, c := range s {
			if c == m.sortCol {
				i = j
			}
		}
		if key.Matches(msg, k.SortNext) {
			i = (i + 1) % len(s)
		} else {
			i = (i + len(s) - 1) % len(s)
		}
		m.sortCol, m.sortRev = s[i], false
		m.refreshRows()
		return nil
	case key.Matches(msg, k.SortReverse):
		m.sortRev = !m.sortRev
		m.refreshRows()
		return nil
	case key.Matches(msg, k.Filter):
		m.filtering = true
		return nil
	case key.Matches(msg, k.Back):
		if m.filter != "" {
			m.filter = ""
			m.refreshRows()
		}
		return nil
	case key.Matches(msg, k.Open):
		if len(m.rows) == 0 {
			return nil
		}
		p := m.rows[m.cursor]
		m.prog = newProgramView(p.ID)
		return m.detailsCmd(p.ID)
	default:
		return nil
	}
	m.clampCursor()
	return nil
}

// filterKey edits the filter while it is being typed: it applies as it
// changes; enter keeps it, esc drops it.
func (m *Model) filterKey(msg tea.KeyPressMsg) {
	switch msg.String() {
	case "enter":
		m.filtering = false
	case "esc":
		m.filtering = false
		m.filter = ""
	case "backspace":
		if r := []rune(m.filter); len(r) > 0 {
			m.filter = string(r[:len(r)-1])
		}
	case "ctrl+u":
		m.filter = ""
	default:
		if msg.Text != "" {
			m.filter += msg.Text
		}
	}
	m.refreshRows()
}

// setDelay doubles or halves the refresh interval within its limits, in
// steps people read: 100ms, 200ms, 500ms, 1s, 2s, 5s, ...
func (m *Model) setDelay(longer bool) {
	steps := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
		time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute}
	i := 0
	for i < len(steps) && steps[i] < m.delay {
		i++
	}
	switch {
	case longer && i < len(steps) && steps[i] == m.delay:
		i++
	case !longer:
		i--
	}
	i = max(min(i, len(steps)-1), 0)
	m.delay = steps[i]
	m.gen++
}

// View draws the screen.
func (m *Model) View() tea.View {
	v := tea.NewView(m.Render())
	v.AltScreen = true
	v.WindowTitle = "bpfprof top"
	return v
}

// Render returns the screen as text, exactly m.height lines of at most
// m.width cells.
func (m *Model) Render() string {
	var lines []string
	switch {
	case m.showHelp:
		lines = m.renderHelp()
	case m.prog != nil:
		lines = m.prog.render(m)
	default:
		lines = m.renderMain()
	}
	return m.finish(lines)
}

// finish cuts lines to the screen and appends the help bar.
func (m *Model) finish(lines []string) string {
	body := max(m.height-helpLines, 0)
	if len(lines) > body {
		lines = lines[:body]
	}
	var b strings.Builder
	for _, l := range lines {
		if cellWidth(l) > m.width {
			l = ansi.Truncate(l, m.width, "")
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	for range body - len(lines) {
		b.WriteByte('\n')
	}
	var bar string
	if m.prog != nil {
		bar = m.help.ShortHelpView(programKeys{&m.keys}.ShortHelp())
	} else {
		bar = m.help.ShortHelpView(mainKeys{&m.keys}.ShortHelp())
	}
	b.WriteString(ansi.Truncate(bar, m.width, ""))
	return b.String()
}

func (m *Model) renderHelp() []string {
	var groups [][]key.Binding
	title := "keys of the program table"
	if m.prog != nil {
		groups = programKeys{&m.keys}.FullHelp()
		title = "keys of the program view"
	} else {
		groups = mainKeys{&m.keys}.FullHelp()
	}
	lines := []string{m.styles.Title.Render("bpfprof top: " + title + " (? or esc to close)"), ""}
	h := m.help
	h.ShowAll = true
	lines = append(lines, strings.Split(h.FullHelpView(groups), "\n")...)
	lines = append(lines, "",
		"CPU% is run time over the period: 100% is one core busy. SAMPLED% is the share of",
		"the period's CPU samples whose innermost BPF frame is the program. RUNS/s, AVG ns",
		"and CPU% come from the kernel's BPF run-time stats, which top keeps on while it runs.")
	return lines
}

// statusTag says whether the view is paused and how often it refreshes.
func (m *Model) statusTag() string {
	s := "[every " + m.delay.String()
	if m.paused {
		s += ", PAUSED"
	}
	return s + "]"
}

func (m *Model) renderMain() []string {
	st := &m.styles
	lines := make([]string, 0, m.height)
	if m.frame == nil {
		lines = append(lines, st.Title.Render("bpfprof top")+"  "+st.Note.Render(m.statusTag()))
		if m.err != nil {
			lines = append(lines, st.Warn.Render("error: "+m.err.Error()))
		} else {
			lines = append(lines, st.Note.Render("reading the loaded BPF programs…"))
		}
		return lines
	}
	f := m.frame
	lines = append(lines,
		st.Title.Render("bpfprof top")+" "+st.Note.Render(m.statusTag())+"  "+st.Header.Render(summary(f, len(m.rows))),
		st.Header.Render(samplingLine(f)))
	switch {
	case m.filtering:
		lines = append(lines, "filter: "+m.filter+"█"+st.Note.Render("  (enter keeps it, esc clears it)"))
	case m.err != nil:
		lines = append(lines, st.Warn.Render("refresh failed: "+m.err.Error()))
	case m.filter != "":
		lines = append(lines, "filter: "+m.filter+st.Note.Render("  (/ to change, esc to clear)"))
	default:
		lines = append(lines, "")
	}

	widths := layout(m.width)
	lines = append(lines, st.TableHeader.Render(m.headerRow(widths)))
	if len(m.rows) == 0 {
		switch {
		case len(f.Programs) == 0:
			lines = append(lines, " no BPF programs are loaded; try 'bpfprof top --demo' to load and drive the bundled demo programs")
		default:
			lines = append(lines, fmt.Sprintf(" no program matches %q; esc clears the filter", m.filter))
		}
		return lines
	}
	sampling := f.Header.Event != ""
	h := m.tableHeight()
	for i := m.offset; i < len(m.rows) && i < m.offset+h; i++ {
		row := m.row(m.rows[i], widths, sampling, i == m.cursor)
		if i == m.cursor {
			row = st.Selected.Render(row)
		}
		lines = append(lines, row)
	}
	return lines
}

func (m *Model) headerRow(widths []int) string {
	var b strings.Builder
	b.WriteByte(' ')
	for i, c := range columns {
		if widths[i] == 0 {
			continue
		}
		t := c.title
		if i == m.sortCol {
			if c.desc != m.sortRev {
				t += "↓"
			} else {
				t += "↑"
			}
		}
		b.WriteString(fit(t, widths[i], c.right))
		b.WriteByte(' ')
	}
	return strings.TrimRight(b.String(), " ")
}

// row draws one program's line; the cursor's row starts with '>'.
func (m *Model) row(p *Program, widths []int, sampling, selected bool) string {
	var b strings.Builder
	if selected {
		b.WriteByte('>')
	} else {
		b.WriteByte(' ')
	}
	for i, c := range columns {
		if widths[i] == 0 {
			continue
		}
		var s string
		if c.id == colSpark {
			s = m.spark(p.ID, widths[i])
		} else {
			s = cell(c.id, p, sampling)
		}
		b.WriteString(fit(s, widths[i], c.right))
		b.WriteByte(' ')
	}
	return strings.TrimRight(b.String(), " ")
}

// spark draws a program's CPU% over the last minute.
func (m *Model) spark(id uint32, width int) string {
	h := m.hist.byID[id]
	if h == nil {
		return ""
	}
	n := max(int(time.Minute/m.delay), 1)
	m.sparkBuf = h.cpu.last(m.sparkBuf[:0], n)
	return sparkline(m.sparkBuf, width)
}

// durationRound is the precision a period is shown with.
func durationRound(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return 10 * time.Millisecond
	}
	return time.Second
}

// Selected returns the id of the program under the cursor, 0 if none.
func (m *Model) Selected() uint32 {
	if len(m.rows) == 0 {
		return 0
	}
	return m.selID
}

// Paused reports whether refreshing is paused.
func (m *Model) Paused() bool { return m.paused }

// Delay returns the refresh interval.
func (m *Model) Delay() time.Duration { return m.delay }
