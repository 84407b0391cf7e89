package symbolize

import (
	"cmp"
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultDWARFBudget bounds the memory the DWARF of all files takes
// together: the sections read and the units parsed. Past it the least
// recently used files' DWARF is dropped, to be read again if needed.
const DefaultDWARFBudget = 512 << 20

// dwarfCache holds the parsed DWARF of the files looked up, one table per
// build ID (or path), within a memory budget.
type dwarfCache struct {
	budget int
	mu     sync.Mutex
	tables map[string]*dwarfTable
	clock  uint64
	held   int
}

func newDWARFCache(budget int) *dwarfCache {
	if budget <= 0 {
		budget = DefaultDWARFBudget
	}
	return &dwarfCache{budget: budget, tables: map[string]*dwarfTable{}}
}

// table returns the table of the file with buildID, read from the first of
// paths that opens; made once per build ID.
func (c *dwarfCache) table(buildID string, paths []string) *dwarfTable {
	key := buildID
	if key == "" {
		key = "path:" + paths[0]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t := c.tables[key]; t != nil {
		return t
	}
	t := &dwarfTable{cache: c, paths: paths}
	c.tables[key] = t
	return t
}

// charge accounts n more bytes held by t and drops the DWARF of the least
// recently used other tables while over budget.
func (c *dwarfCache) charge(t *dwarfTable, n int) {
	c.mu.Lock()
	c.clock++
	t.lastUse.Store(c.clock)
	c.held += n
	var victims []*dwarfTable
	if c.held > c.budget {
		all := make([]*dwarfTable, 0, len(c.tables))
		for _, o := range c.tables {
			if o != t && o.bytes.Load() > 0 {
				all = append(all, o)
			}
		}
		slices.SortFunc(all, func(a, b *dwarfTable) int { return cmp.Compare(a.lastUse.Load(), b.lastUse.Load()) })
		held := c.held
		for _, o := range all {
			if held <= c.budget {
				break
			}
			held -= int(o.bytes.Load())
			victims = append(victims, o)
		}
	}
	c.mu.Unlock()
	for _, o := range victims {
		o.drop()
	}
}

func (c *dwarfCache) release(n int) {
	c.mu.Lock()
	c.held -= n
	c.mu.Unlock()
}

// Held returns the bytes the cache holds now.
func (c *dwarfCache) Held() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// dwarfTable is the DWARF of one file: read on the first lookup, its
// units' line tables and inlined calls parsed on the first lookup in each.
// It has a lock of its own: lookups never hold the Symbolizer's.
type dwarfTable struct {
	cache *dwarfCache
	paths []string

	lastUse atomic.Uint64
	bytes   atomic.Int64

	mu     sync.Mutex
	loaded bool
	failed bool
	data   *dwarf.Data
	ranges []cuRange // sorted by lo
	units  []*dwarfUnit
	names  map[dwarf.Offset]string
}

// cuRange is an address range of a compilation unit.
type cuRange struct {
	lo, hi uint64
	unit   int
}

// dwarfUnit is one compilation unit, parsed on first use.
type dwarfUnit struct {
	entry  *dwarf.Entry
	parsed bool
	files  []string
	rows   []lineRow     // sorted by address; end rows end a sequence
	funcs  []inlineRange // subprograms and inlined calls
}

// lineRow is one row of a line table, in 16 bytes: there are millions in
// a large binary.
type lineRow struct {
	addr uint64
	// line has rowEnd set on a row that ends a sequence.
	line      uint32
	file, col uint16
}

// rowEnd marks lineRow.line of a row that ends a sequence.
const rowEnd = 1 << 31

func (r *lineRow) end() bool { return r.line&rowEnd != 0 }

// inlineRange is an address range of a function: a subprogram (depth 0)
// or a call inlined into one (depth 1 and more, by nesting).
type inlineRange struct {
	lo, hi uint64
	depth  int
	name   string
	// callFile, callLine and callCol locate the inlined call in the
	// function it was inlined into.
	callFile, callLine, callCol uint32
}

// drop releases the table's DWARF; a later lookup reads it again.
func (t *dwarfTable) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int(t.bytes.Swap(0))
	t.data, t.ranges, t.units, t.names, t.loaded = nil, nil, nil, nil, false
	t.cache.release(n)
}

// load reads the DWARF sections and the units' address ranges.
func (t *dwarfTable) load() error {
	var f *os.File
	var err error
	for _, p := range t.paths {
		if f, err = os.Open(p); err == nil {
			break
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return err
	}
	defer ef.Close()
	d, size, err := readDWARF(ef)
	if err != nil {
		return err
	}
	var ranges []cuRange
	var units []*dwarfUnit
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return err
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagCompileUnit && e.Tag != dwarf.TagPartialUnit {
			r.SkipChildren()
			continue
		}
		rs, err := d.Ranges(e)
		r.SkipChildren()
		if err != nil || len(rs) == 0 {
			continue
		}
		units = append(units, &dwarfUnit{entry: e})
		for _, rg := range rs {
			if rg[1] > rg[0] {
				ranges = append(ranges, cuRange{lo: rg[0], hi: rg[1], unit: len(units) - 1})
			}
		}
	}
	slices.SortFunc(ranges, func(a, b cuRange) int { return cmp.Compare(a.lo, b.lo) })
	t.data, t.ranges, t.units, t.names = d, ranges, units, map[dwarf.Offset]string{}
	t.loaded = true
	n := size + 24*len(ranges) + 64*len(units)
	t.bytes.Add(int64(n))
	t.cache.charge(t, n)
	return nil
}

// dwarfSections are the DWARF sections lookups use: not the location
// lists, frame tables and type units, which are often the bulk.
var dwarfSections = []string{"abbrev", "info", "line", "ranges", "str", "addr", "line_str", "rnglists", "str_offsets"}

// readDWARF reads the DWARF sections of f that lookups need, and returns
// their bytes in all. Files with legacy .zdebug sections are read whole
// by the standard library.
func readDWARF(f *elf.File) (*dwarf.Data, int, error) {
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, ".zdebug_") {
			d, err := f.DWARF()
			return d, dwarfSize(f), err
		}
	}
	data := map[string][]byte{}
	size := 0
	for _, name := range dwarfSections {
		s := f.Section(".debug_" + name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return nil, 0, fmt.Errorf("section .debug_%s: %w", name, err)
		}
		data[name] = b
		size += len(b)
	}
	if f.Section(".rela.debug_info") != nil {
		// Relocatable objects need the relocations the standard
		// library applies.
		d, err := f.DWARF()
		return d, dwarfSize(f), err
	}
	d, err := dwarf.New(data["abbrev"], nil, nil, data["info"], data["line"], nil, data["ranges"], data["str"])
	if err != nil {
		return nil, 0, err
	}
	for _, name := range []string{"addr", "line_str", "rnglists", "str_offsets"} {
		if b, ok := data[name]; ok {
			if err := d.AddSection(".debug_"+name, b); err != nil {
				return nil, 0, err
			}
		}
	}
	return d, size, nil
}

// lookup returns the source positions of the ELF virtual address va,
// innermost first: the inlined calls at va, then the function they were
// inlined into, as Frame.Lines gives them. ok is false where DWARF says
// nothing of va.
func (t *dwarfTable) lookup(va uint64) (lines []Line, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed {
		return nil, false
	}
	if !t.loaded {
		if err := t.load(); err != nil {
			t.failed = true
			return nil, false
		}
	} else {
		t.cache.charge(t, 0)
	}
	// Units' ranges seldom overlap: the one starting last before va,
	// else one of the few before it.
	i := searchAfter(t.ranges, va, func(r *cuRange) uint64 { return r.lo }) - 1
	for stop := max(i-8, -1); i > stop && va >= t.ranges[i].hi; i-- {
	}
	if i < 0 || va >= t.ranges[i].hi {
		return nil, false
	}
	u := t.units[t.ranges[i].unit]
	if !u.parsed {
		t.parseUnit(u)
	}
	return u.lookup(va)
}

// parseUnit reads a unit's line table and its functions' ranges.
func (t *dwarfTable) parseUnit(u *dwarfUnit) {
	u.parsed = true
	// File names relative to an absolute compilation directory are
	// joined to it, as addr2line shows them.
	compDir, _ := u.entry.Val(dwarf.AttrCompDir).(string)
	abs := func(name string) string {
		if name != "" && !filepath.IsAbs(name) && filepath.IsAbs(compDir) {
			return filepath.Join(compDir, name)
		}
		return name
	}
	if lr, err := t.data.LineReader(u.entry); err == nil && lr != nil {
		for _, f := range lr.Files() {
			name := ""
			if f != nil {
				name = abs(f.Name)
			}
			u.files = append(u.files, name)
		}
		index := map[*dwarf.LineFile]uint32{}
		for i, f := range lr.Files() {
			if f != nil {
				index[f] = uint32(i)
			}
		}
		var e dwarf.LineEntry
		for lr.Next(&e) == nil {
			if _, ok := index[e.File]; !ok && e.File != nil {
				// Files defined by the line program itself.
				index[e.File] = uint32(len(u.files))
				u.files = append(u.files, abs(e.File.Name))
			}
			row := lineRow{addr: e.Address, file: uint16(min(index[e.File], math.MaxUint16)),
				line: uint32(min(e.Line, rowEnd-1)), col: uint16(min(e.Column, math.MaxUint16))}
			if e.EndSequence {
				row.line |= rowEnd
			}
			u.rows = append(u.rows, row)
		}
		// A sequence that starts where another ends wins the address.
		slices.SortStableFunc(u.rows, func(a, b lineRow) int {
			if c := cmp.Compare(a.addr, b.addr); c != 0 {
				return c
			}
			switch {
			case a.end() && !b.end():
				return -1
			case b.end() && !a.end():
				return 1
			}
			return 0
		})
	}
	r := t.data.Reader()
	r.Seek(u.entry.Offset)
	if _, err := r.Next(); err != nil { // the unit itself
		return
	}
	// depth counts the subprograms and inlined calls enclosing the
	// entries read, stack the tags of entries with children.
	var stack []dwarf.Tag
	depth := 0
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			break
		}
		if e.Tag == 0 {
			if len(stack) == 0 {
				break // the unit's end
			}
			if tag := stack[len(stack)-1]; tag == dwarf.TagSubprogram || tag == dwarf.TagInlinedSubroutine {
				depth--
			}
			stack = stack[:len(stack)-1]
			continue
		}
		switch e.Tag {
		case dwarf.TagSubprogram, dwarf.TagInlinedSubroutine:
			if rs, err := t.data.Ranges(e); err == nil && len(rs) > 0 {
				name := t.funcName(e)
				var file, line, col int64
				if e.Tag == dwarf.TagInlinedSubroutine {
					file, _ = e.Val(dwarf.AttrCallFile).(int64)
					line, _ = e.Val(dwarf.AttrCallLine).(int64)
					col, _ = e.Val(dwarf.AttrCallColumn).(int64)
				}
				d := depth
				if e.Tag == dwarf.TagSubprogram {
					d = 0
				}
				for _, rg := range rs {
					if rg[1] > rg[0] {
						u.funcs = append(u.funcs, inlineRange{lo: rg[0], hi: rg[1], depth: d, name: name,
							callFile: uint32(file), callLine: uint32(line), callCol: uint32(col)})
					}
				}
			}
		}
		if e.Children {
			if noCode(e.Tag) {
				r.SkipChildren()
				continue
			}
			stack = append(stack, e.Tag)
			if e.Tag == dwarf.TagSubprogram || e.Tag == dwarf.TagInlinedSubroutine {
				depth++
			}
		}
	}
	slices.SortStableFunc(u.funcs, func(a, b inlineRange) int { return cmp.Compare(a.lo, b.lo) })
	n := 16*len(u.rows) + 64*len(u.funcs)
	for _, f := range u.files {
		n += len(f)
	}
	t.bytes.Add(int64(n))
	t.cache.charge(t, n)
}

// noCode reports whether entries of tag hold no code, so that their
// children need not be read: types, and call sites with their parameters
// (one per call in optimized code).
func noCode(tag dwarf.Tag) bool {
	switch tag {
	case dwarf.TagStructType, dwarf.TagUnionType, dwarf.TagClassType, dwarf.TagEnumerationType,
		dwarf.TagArrayType, dwarf.TagSubroutineType, dwarf.TagCallSite, tagGNUCallSite:
		return true
	}
	return false
}

// tagGNUCallSite is DW_TAG_GNU_call_site, DWARF 4's call sites in gcc's
// extension.
const tagGNUCallSite dwarf.Tag = 0x4109

// funcName names a subprogram or inlined call: its linkage name, else its
// name, else its abstract origin's or specification's, followed up to a
// few steps.
func (t *dwarfTable) funcName(e *dwarf.Entry) string {
	return t.funcNameDepth(e, 0)
}

func (t *dwarfTable) funcNameDepth(e *dwarf.Entry, depth int) string {
	if n, ok := e.Val(dwarf.AttrLinkageName).(string); ok && n != "" {
		return n
	}
	if n, ok := e.Val(dwarf.AttrName).(string); ok && n != "" {
		return n
	}
	off, ok := e.Val(dwarf.AttrAbstractOrigin).(dwarf.Offset)
	if !ok {
		off, ok = e.Val(dwarf.AttrSpecification).(dwarf.Offset)
	}
	if !ok || depth >= 8 {
		return ""
	}
	if n, ok := t.names[off]; ok {
		return n
	}
	r := t.data.Reader()
	r.Seek(off)
	origin, err := r.Next()
	if err != nil || origin == nil {
		return ""
	}
	name := t.funcNameDepth(origin, depth+1)
	t.names[off] = name
	return name
}

// lookup gives the positions of va in the unit, innermost first.
func (u *dwarfUnit) lookup(va uint64) ([]Line, bool) {
	var chain []inlineRange
	for _, f := range u.funcs {
		if f.lo > va {
			break
		}
		if va < f.hi {
			chain = append(chain, f)
		}
	}
	// Outermost first; at each depth the innermost range (the latest
	// start) that holds va: that of a nested function, or of the
	// inlined call rather than of an enclosing one.
	slices.SortStableFunc(chain, func(a, b inlineRange) int {
		if c := cmp.Compare(a.depth, b.depth); c != 0 {
			return c
		}
		return cmp.Compare(b.lo, a.lo)
	})
	if len(chain) == 0 || chain[0].depth != 0 {
		return nil, false
	}
	out := chain[:1]
	for _, f := range chain[1:] {
		if f.depth != out[len(out)-1].depth {
			out = append(out, f)
		}
	}
	chain = out

	file, line, col := "", uint32(0), uint32(0)
	if j := searchAfter(u.rows, va, func(r *lineRow) uint64 { return r.addr }) - 1; j >= 0 && !u.rows[j].end() {
		row := u.rows[j]
		file, line, col = u.file(uint32(row.file)), row.line, uint32(row.col)
	}
	lines := make([]Line, len(chain))
	for k := len(chain) - 1; k >= 0; k-- {
		lines[len(chain)-1-k] = Line{Func: chain[k].name, File: file, Line: line, Column: col}
		file, line, col = u.file(chain[k].callFile), chain[k].callLine, chain[k].callCol
	}
	return lines, true
}

func (u *dwarfUnit) file(i uint32) string {
	if int(i) < len(u.files) {
		return u.files[i]
	}
	return ""
}

// refineDWARF sets fr's source position and inlined calls from DWARF, for
// the ELF virtual address va. The function keeps its ELF symbol's name
// where it has one (perf's name, such as msort_with_tmp.part.0 for a clone
// of msort_with_tmp), else DWARF's.
func refineDWARF(fr *Frame, t *dwarfTable, va uint64, named bool) {
	lines, ok := t.lookup(va)
	if !ok {
		return
	}
	n := len(lines)
	outer := lines[n-1]
	if !named && outer.Func != "" {
		fr.Func = outer.Func
	}
	fr.File, fr.Line, fr.Column = outer.File, outer.Line, outer.Column
	if n > 1 {
		fr.Inlined = lines[: n-1 : n-1]
	}
	fr.InlineKnown = true
}
