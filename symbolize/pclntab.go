package symbolize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// pclnVersion is the layout of a Go pclntab, told by its magic number.
type pclnVersion uint8

const (
	pcln12  pclnVersion = iota + 1 // Go 1.2 to 1.15
	pcln116                        // Go 1.16 and 1.17: a header of offsets, files by compilation unit
	pcln118                        // Go 1.18 and 1.19: entries as 32-bit offsets from the text start
	pcln120                        // Go 1.20 and later: as 1.18, with a new magic
)

// pclnVersionOf returns the layout a magic number stands for, 0 if none.
func pclnVersionOf(magic uint32) pclnVersion {
	switch magic {
	case 0xfffffffb:
		return pcln12
	case 0xfffffffa:
		return pcln116
	case 0xfffffff0:
		return pcln118
	case 0xfffffff1:
		return pcln120
	}
	return 0
}

// noFile marks a function without a pc-file or pc-line table, and a file
// slot without a file.
const noFile = math.MaxUint32

// errPclntab says a pclntab is malformed or of an unknown version.
var errPclntab = errors.New("malformed or unsupported Go pclntab")

// goTable is the function table of a Go binary, built from its pclntab
// but holding only what names an address with file and line: the entries
// and names of the functions, and their pc-file and pc-line tables. The
// pclntab also holds unwinding tables, stack maps and per-function records
// of the runtime, three fifths of its size, which are not kept. Like
// kernelTable, it is a few flat slices and strings, immutable once built.
type goTable struct {
	// start is the entry of the first function; entries[i] is the entry
	// of function i minus start, and entries[len(funcs)] is where the last
	// function ends.
	start   uint64
	entries []uint32
	funcs   []goFunc
	// names holds every function's name; funcs[i].nameEnd is where the
	// name of function i ends, and it starts where the one of i-1 ends.
	names string
	// files holds every source file name once; fileEnds[i] is where file
	// i ends, and it starts where file i-1 ends. unitFiles maps a slot (a
	// function's unit plus a pc-file value) to a file, noFile if none.
	files     string
	fileEnds  []uint32
	unitFiles []uint32
	// tabs holds the pc-file, pc-line and pc-inline tables, in the
	// pclntab's encoding.
	tabs    string
	quantum uint32
	// inl holds the inline trees of the functions, each function's
	// entries together from its goFunc.inl; inlNames the names of the
	// inlined functions, which may have no entry of their own.
	inl      []goInline
	inlNames string
	// noInline says the table's Go version keeps inline trees in a form
	// not read (before Go 1.18): no function's inlining is known.
	noInline bool
}

// goInline is one call inlined into a function: the called function, and
// the pc (from the function's entry) of an instruction whose source
// position is the call site.
type goInline struct {
	nameStart, nameEnd uint32
	parentPC           uint32
}

// goFunc is one function of a goTable.
type goFunc struct {
	nameEnd uint32
	// unit is the first slot in unitFiles of the function's compilation
	// unit (0 before Go 1.16, whose file numbers are global).
	unit uint32
	// pcfile and pcln locate the function's tables in tabs, noFile if it
	// has none.
	pcfile, pcln uint32
	// pcinl locates the table of inline tree indexes in tabs, noFile if
	// nothing is inlined into the function. inl is the first of its
	// inline tree entries in goTable.inl, noFile if the tree could not be
	// read: the binary has no go:func.* symbol (stripped), a Go before
	// 1.18 (whose trees are pointers), or a malformed tree.
	pcinl, inl uint32
}

// pclnWindowSize is how much of a pclntab a window holds at least.
const pclnWindowSize = 64 << 10

// maxPclnItem bounds the length of one name or pc-value table.
const maxPclnItem = 1 << 20

// pclnWindow is a sliding view of a pclntab read through an io.ReaderAt.
// The parser walks each part of the table (function table, function
// records, names, pc-value tables, files) mostly forwards, so with a window
// per part it reads the table about once without holding all of it: the
// pclntab of a large Go binary is tens of MiB, most of which (stack maps,
// unwinding tables) is not kept.
type pclnWindow struct {
	r    io.ReaderAt
	size uint64 // of the pclntab
	off  uint64 // of buf[0]
	buf  []byte
}

// at returns the pclntab from off to the end of the window, at least n
// bytes of it unless the table ends first. The bytes are valid until the
// next call. ok is false if off is out of the table or reading fails.
func (w *pclnWindow) at(off, n uint64) ([]byte, bool) {
	if off >= w.size {
		return nil, false
	}
	n = min(n, w.size-off)
	if off >= w.off && off-w.off < uint64(len(w.buf)) && uint64(len(w.buf))-(off-w.off) >= n {
		return w.buf[off-w.off:], true
	}
	length := min(max(n, pclnWindowSize), w.size-off)
	if uint64(cap(w.buf)) < length {
		w.buf = make([]byte, length)
	}
	w.buf = w.buf[:length]
	if m, err := w.r.ReadAt(w.buf, int64(off)); m != len(w.buf) || (err != nil && err != io.EOF) {
		w.buf = w.buf[:0]
		return nil, false
	}
	w.off = off
	return w.buf, true
}

// grow returns the length to ask for after a read of got bytes fell short,
// false past maxPclnItem or the end of the table.
func (w *pclnWindow) grow(off uint64, got int) (uint64, bool) {
	if uint64(got) >= w.size-off || got >= maxPclnItem {
		return 0, false
	}
	return 2 * uint64(got), true
}

// cstring returns the NUL-terminated string at off, without the NUL.
func (w *pclnWindow) cstring(off uint64) ([]byte, bool) {
	for n := uint64(256); ; {
		b, ok := w.at(off, n)
		if !ok {
			return nil, false
		}
		if i := bytes.IndexByte(b, 0); i >= 0 {
			return b[:i], true
		}
		if n, ok = w.grow(off, len(b)); !ok {
			return nil, false
		}
	}
}

// tableLen returns the length of the pc-value table at off.
func (w *pclnWindow) tableLen(off uint64) (int, bool) {
	for n := uint64(256); ; {
		b, ok := w.at(off, n)
		if !ok {
			return 0, false
		}
		if l, ok := pcTableLen(b); ok {
			return l, true
		}
		if n, ok = w.grow(off, len(b)); !ok {
			return 0, false
		}
	}
}

// pclnReader reads a pclntab's parts with bounds checks.
type pclnReader struct {
	order   binary.ByteOrder
	ptrsize uint64
	size    uint64
	// One window per part of the table.
	functab, records, names, tabs, slots, files pclnWindow
}

func newPclnReader(r io.ReaderAt, size uint64) *pclnReader {
	w := pclnWindow{r: r, size: size}
	return &pclnReader{size: size, functab: w, records: w, names: w, tabs: w, slots: w, files: w}
}

func (r *pclnReader) u32(w *pclnWindow, off uint64) (uint32, bool) {
	b, ok := w.at(off, 4)
	if !ok || len(b) < 4 {
		return 0, false
	}
	return r.order.Uint32(b), true
}

// word reads a pointer-sized word.
func (r *pclnReader) word(w *pclnWindow, off uint64) (uint64, bool) {
	b, ok := w.at(off, r.ptrsize)
	if !ok || uint64(len(b)) < r.ptrsize {
		return 0, false
	}
	if r.ptrsize == 4 {
		return uint64(r.order.Uint32(b)), true
	}
	return r.order.Uint64(b), true
}

// pclnLayout is where a pclntab keeps its parts, as offsets in it.
type pclnLayout struct {
	version pclnVersion
	quantum uint32
	nfunc   uint64
	// functab holds 2*nfunc+1 fields of fieldSize bytes: entry and record
	// offset of each function, then the end of the last function.
	functab, fieldSize uint64
	// Bases of the offsets found in function records.
	recordBase, nameBase, tabBase uint64
	// Files: since Go 1.16 nslots slots of 32-bit offsets (from fileBase)
	// at unitTab, the compilation units' file lists end to end; before, a
	// count and then offsets from the start at unitTab.
	unitTab, nslots, fileBase uint64
	// relative says entries are offsets from the text start (Go 1.18+).
	relative bool
}

// layout reads the header of a pclntab.
func (r *pclnReader) layout() (pclnLayout, error) {
	var l pclnLayout
	d, ok := r.functab.at(0, 8)
	if !ok || len(d) < 8 || d[4] != 0 || d[5] != 0 {
		return l, errPclntab
	}
	if q := d[6]; q != 1 && q != 2 && q != 4 {
		return l, errPclntab
	}
	l.quantum = uint32(d[6])
	r.ptrsize = uint64(d[7])
	if r.ptrsize != 4 && r.ptrsize != 8 {
		return l, errPclntab
	}
	r.order = binary.LittleEndian
	l.version = pclnVersionOf(binary.LittleEndian.Uint32(d))
	if l.version == 0 {
		r.order = binary.BigEndian
		l.version = pclnVersionOf(binary.BigEndian.Uint32(d))
	}
	if l.version == 0 {
		return l, errPclntab
	}
	// hdr reads the ith word after the first eight bytes.
	var bad bool
	hdr := func(i uint64) uint64 {
		v, ok := r.word(&r.functab, 8+i*r.ptrsize)
		bad = bad || !ok
		return v
	}
	l.fieldSize = r.ptrsize
	switch l.version {
	case pcln12:
		l.nfunc = hdr(0)
		l.functab = 8 + r.ptrsize
	case pcln116:
		l.nfunc = hdr(0)
		l.nameBase, l.unitTab, l.fileBase, l.tabBase, l.functab = hdr(2), hdr(3), hdr(4), hdr(5), hdr(6)
		l.recordBase = l.functab
	default:
		// Word 2 is the text start, unrelocated in position-independent
		// binaries: the caller knows it better.
		l.nfunc = hdr(0)
		l.nameBase, l.unitTab, l.fileBase, l.tabBase, l.functab = hdr(3), hdr(4), hdr(5), hdr(6), hdr(7)
		l.recordBase = l.functab
		l.fieldSize = 4
		l.relative = true
	}
	n := r.size
	if bad || l.nfunc == 0 || l.nfunc > n/(2*l.fieldSize) || l.functab > n ||
		(2*l.nfunc+1)*l.fieldSize > n-l.functab {
		return l, errPclntab
	}
	if l.version != pcln12 {
		// The header does not count the slots: they run to the next part
		// of the table (the file names, in every linker so far).
		if l.unitTab > n {
			return l, errPclntab
		}
		end := n
		for _, next := range []uint64{l.nameBase, l.fileBase, l.tabBase, l.functab} {
			if next > l.unitTab {
				end = min(end, next)
			}
		}
		l.nslots = (end - l.unitTab) / 4
	} else {
		off, ok := r.u32(&r.functab, l.functab+(2*l.nfunc+1)*l.fieldSize)
		if !ok {
			return l, errPclntab
		}
		l.unitTab = uint64(off)
		count, ok := r.u32(&r.slots, l.unitTab)
		if !ok || uint64(count) > (n-l.unitTab)/4 {
			return l, errPclntab
		}
		l.nslots = uint64(count)
	}
	return l, nil
}

// field reads field k of a function's record: 1 is the name offset, 5 the
// pc-file table, 6 the pc-line table, 8 the compilation unit (Go 1.16+).
// The record starts with the entry, a word before Go 1.18 and 32 bits
// since; every later field is 32 bits.
func (r *pclnReader) field(l *pclnLayout, record uint64, k uint64) (uint32, bool) {
	first := r.ptrsize
	if l.relative {
		first = 4
	}
	return r.u32(&r.records, record+first+(k-1)*4)
}

// functabField reads field i of the function table.
func (r *pclnReader) functabField(l *pclnLayout, i uint64) (uint64, bool) {
	off := l.functab + i*l.fieldSize
	if l.fieldSize == 4 {
		v, ok := r.u32(&r.functab, off)
		return uint64(v), ok
	}
	return r.word(&r.functab, off)
}

// pcTableLen returns the length in bytes of the pc-value table at the
// start of data: pairs of varints (value delta, pc delta) ended by a zero
// value delta anywhere but at the function's entry.
func pcTableLen(data []byte) (int, bool) {
	i, pc := 0, uint64(0)
	for {
		uv, next, ok := uvarintAt(data, i)
		if !ok {
			return 0, false
		}
		if uv == 0 && pc != 0 {
			return next, true
		}
		var pcDelta uint32
		if pcDelta, i, ok = uvarintAt(data, next); !ok {
			return 0, false
		}
		pc += uint64(pcDelta)
	}
}

// uvarintAt decodes the unsigned 32-bit varint at s[i:] and returns it and
// the offset after it.
func uvarintAt[S ~string | ~[]byte](s S, i int) (v uint32, next int, ok bool) {
	for shift := uint(0); shift < 35 && i < len(s); shift += 7 {
		c := s[i]
		i++
		v |= uint32(c&0x7f) << shift
		if c < 0x80 {
			return v, i, true
		}
	}
	return 0, i, false
}

// readPclntab builds the goTable of a Go binary's pclntab (the .gopclntab
// section, runtime.pclntab to runtime.epclntab), size bytes read through
// r. text is the address of runtime.text, from which Go 1.18+ tables
// count entries. funcdata reads the funcdata area from the symbol
// "go:func.*" on, funcdataSize bytes of it; nil if it was not found: the
// inline trees are then unknown.
func readPclntab(ra io.ReaderAt, size uint64, text uint64, funcdata io.ReaderAt, funcdataSize uint64) (*goTable, error) {
	r := newPclnReader(ra, size)
	l, err := r.layout()
	if err != nil {
		return nil, err
	}
	g := &goTable{quantum: l.quantum}
	var fd *pclnWindow
	if funcdata != nil && l.relative {
		fd = &pclnWindow{r: funcdata, size: funcdataSize}
	}
	inl := inlReader{names: map[uint32][2]uint32{}}
	if g.unitFiles, g.fileEnds, g.files, err = r.fileSlots(&l); err != nil {
		return nil, err
	}

	// First pass: check the functions and size their names and tables,
	// so that the strings are allocated once, at their final size.
	entry := func(i uint64) (uint64, bool) {
		v, ok := r.functabField(&l, 2*i)
		if l.relative {
			v += text
		}
		return v, ok
	}
	start, ok := entry(0)
	if !ok {
		return nil, errPclntab
	}
	// Tables by pclntab offset: where they go in tabs, and their length.
	type tabLoc struct{ off, n uint32 }
	tabLocs := map[uint32]tabLoc{}
	var namesLen, tabsLen uint64
	prev := start
	for i := range l.nfunc + 1 {
		pc, ok := entry(i)
		if !ok || pc < prev || pc-start > math.MaxUint32 {
			return nil, fmt.Errorf("%w: function %d out of order", errPclntab, i)
		}
		prev = pc
		if i == l.nfunc {
			break
		}
		fn, ok := r.function(&l, i)
		if !ok {
			return nil, fmt.Errorf("%w: function %d", errPclntab, i)
		}
		namesLen += uint64(len(fn.name))
		for _, t := range fn.tabs {
			if _, seen := tabLocs[t]; seen || t == 0 {
				continue
			}
			n, ok := r.tabs.tableLen(l.tabBase + uint64(t))
			if !ok {
				return nil, fmt.Errorf("%w: table of function %d", errPclntab, i)
			}
			tabLocs[t] = tabLoc{uint32(tabsLen), uint32(n)}
			tabsLen += uint64(n)
		}
	}
	if namesLen > math.MaxUint32 || tabsLen > math.MaxUint32 {
		return nil, errPclntab
	}

	// Second pass: lay the table out. Tables are met in the same order
	// as in the first pass: one is new when tabs has reached its offset.
	g.start = start
	g.entries = make([]uint32, l.nfunc+1)
	g.funcs = make([]goFunc, l.nfunc)
	var names, tabs strings.Builder
	names.Grow(int(namesLen))
	tabs.Grow(int(tabsLen))
	for i := range l.nfunc + 1 {
		pc, _ := entry(i)
		g.entries[i] = uint32(pc - start)
		if i == l.nfunc {
			break
		}
		fn, _ := r.function(&l, i)
		names.Write(fn.name)
		f := goFunc{nameEnd: uint32(names.Len()), unit: fn.unit, pcfile: noFile, pcln: noFile, pcinl: noFile, inl: noFile}
		for k, t := range fn.tabs {
			if t == 0 {
				continue
			}
			loc := tabLocs[t]
			b, ok := r.tabs.at(l.tabBase+uint64(t), uint64(loc.n))
			if !ok || len(b) < int(loc.n) {
				return nil, errPclntab // the file changed under us
			}
			if uint32(tabs.Len()) == loc.off {
				tabs.Write(b[:loc.n])
			}
			switch k {
			case 0:
				f.pcfile = loc.off
			case 1:
				f.pcln = loc.off
			case 2:
				f.pcinl = loc.off
				if fd != nil && fn.inlTree != noFile {
					f.inl = inl.read(g, r, &l, fd, fn.inlTree, pcMaxValue(b[:loc.n]))
				}
			}
		}
		g.funcs[i] = f
	}
	if names.Len() != int(namesLen) || tabs.Len() != int(tabsLen) {
		return nil, errPclntab
	}
	g.names, g.tabs = names.String(), tabs.String()
	g.inlNames = inl.buf.String()
	g.noInline = l.version == pcln12 || l.version == pcln116
	return g, nil
}

// maxInlTree bounds the entries of one function's inline tree.
const maxInlTree = 1 << 16

// inlReader reads functions' inline trees into a goTable, keeping each
// inlined function's name once.
type inlReader struct {
	buf   strings.Builder
	names map[uint32][2]uint32 // by name offset
}

// read appends to g.inl the inline tree at off in the funcdata area, of
// entries 0 to last, and returns the index of its first entry; noFile if
// the tree cannot be read.
func (ir *inlReader) read(g *goTable, r *pclnReader, l *pclnLayout, fd *pclnWindow, off uint32, last int32) uint32 {
	if last < 0 || last >= maxInlTree {
		return noFile
	}
	// Go 1.20 and later: funcID, 3 bytes of padding, nameOff, parentPc,
	// startLine. Go 1.18 and 1.19: parent (16 bits), funcID, a byte of
	// padding, file, line, nameOff, parentPc.
	size, nameAt := uint64(16), uint64(4)
	if l.version == pcln118 {
		size, nameAt = 20, 12
	}
	n := uint64(last) + 1
	b, ok := fd.at(uint64(off), n*size)
	if !ok || uint64(len(b)) < n*size {
		return noFile
	}
	// The window may move while names are read: copy the tree.
	tree := slices.Clone(b[:n*size])
	first := len(g.inl)
	for i := range n {
		e := tree[i*size:]
		nameOff, parentPC := r.order.Uint32(e[nameAt:]), r.order.Uint32(e[nameAt+4:])
		loc, seen := ir.names[nameOff]
		if !seen {
			name, ok := r.names.cstring(l.nameBase + uint64(nameOff))
			if !ok || ir.buf.Len()+len(name) > math.MaxUint32 {
				g.inl = g.inl[:first]
				return noFile
			}
			loc = [2]uint32{uint32(ir.buf.Len()), uint32(ir.buf.Len() + len(name))}
			ir.buf.Write(name)
			ir.names[nameOff] = loc
		}
		g.inl = append(g.inl, goInline{nameStart: loc[0], nameEnd: loc[1], parentPC: parentPC})
	}
	return uint32(first)
}

// pcMaxValue returns the largest value of the pc-value table tab, -1 if
// none is above it.
func pcMaxValue(tab []byte) int32 {
	val, hi := int32(-1), int32(-1)
	for i, first := 0, true; ; first = false {
		uv, next, ok := uvarintAt(tab, i)
		if !ok || (uv == 0 && !first) {
			return hi
		}
		if _, i, ok = uvarintAt(tab, next); !ok {
			return hi
		}
		val += unzigzag(uv)
		hi = max(hi, val)
	}
}

// unzigzag decodes a zigzag-encoded delta: the low bit is the sign.
func unzigzag(uv uint32) int32 {
	d := int32(uv >> 1)
	if uv&1 != 0 {
		d = ^d
	}
	return d
}

// pclnFunc is what a function's record gives.
type pclnFunc struct {
	// name is valid until the next name is read.
	name []byte
	// tabs are the offsets of its pc-file, pc-line and (Go 1.18+)
	// pc-inline tables from the table base, 0 for none.
	tabs [3]uint32
	unit uint32
	// inlTree is the offset of its inline tree in the funcdata area,
	// noFile if none.
	inlTree uint32
}

// Indexes of the inline tables in a function's pcdata and funcdata
// (runtime/symtab.go: PCDATA_InlTreeIndex, FUNCDATA_InlTree).
const (
	pcdataInlTreeIndex = 2
	funcdataInlTree    = 3
)

// function reads function i's record.
func (r *pclnReader) function(l *pclnLayout, i uint64) (pclnFunc, bool) {
	var fn pclnFunc
	off, ok := r.functabField(l, 2*i+1)
	if !ok {
		return fn, false
	}
	rec := l.recordBase + off
	nameOff, ok1 := r.field(l, rec, 1)
	pcfile, ok2 := r.field(l, rec, 5)
	pcln, ok3 := r.field(l, rec, 6)
	if !ok1 || !ok2 || !ok3 {
		return fn, false
	}
	if l.version != pcln12 {
		if fn.unit, ok = r.field(l, rec, 8); !ok {
			return fn, false
		}
	}
	fn.tabs = [3]uint32{pcfile, pcln, 0}
	fn.inlTree = noFile
	if l.relative {
		// Since Go 1.18 the record ends with a word whose last byte is
		// nfuncdata (field 9; 10 since Go 1.20 added startLine), then
		// npcdata pcdata table offsets and nfuncdata funcdata offsets
		// from go:func.*, ^0 for none.
		last := uint64(10)
		if l.version == pcln118 {
			last = 9
		}
		npcdata, ok1 := r.field(l, rec, 7)
		word, ok2 := r.records.at(rec+4+(last-1)*4, 4)
		if !ok1 || !ok2 || len(word) < 4 {
			return fn, false
		}
		nfuncdata := uint64(word[3])
		if npcdata > pcdataInlTreeIndex {
			if fn.tabs[2], ok = r.field(l, rec, last+1+pcdataInlTreeIndex); !ok {
				return fn, false
			}
		}
		if nfuncdata > funcdataInlTree {
			if fn.inlTree, ok = r.field(l, rec, last+1+uint64(npcdata)+funcdataInlTree); !ok {
				return fn, false
			}
		}
	}
	fn.name, ok = r.names.cstring(l.nameBase + uint64(nameOff))
	return fn, ok
}

// fileSlots reads the file table: for each slot (Go 1.16+: per compilation
// unit; before: global, from 1) the index of its file, noFile if none,
// then where each file's name ends in the names laid end to end.
func (r *pclnReader) fileSlots(l *pclnLayout) (slots []uint32, ends []uint32, files string, err error) {
	byOffset := map[uint64]uint32{}
	var names []byte
	// The count comes from the file, which may lie: check that the last
	// slot is there before allocating for all.
	if l.nslots > 0 {
		if _, ok := r.u32(&r.slots, l.unitTab+4*(l.nslots-1)); !ok {
			return nil, nil, "", errPclntab
		}
	}
	slots = make([]uint32, 0, l.nslots)
	for i := range l.nslots {
		if l.version == pcln12 && i == 0 {
			slots = append(slots, noFile) // the count
			continue
		}
		v, ok := r.u32(&r.slots, l.unitTab+4*i)
		if !ok {
			return nil, nil, "", errPclntab
		}
		off := uint64(v) // from the start before Go 1.16
		if l.version != pcln12 {
			if v == noFile {
				slots = append(slots, noFile)
				continue
			}
			off += l.fileBase
		}
		f, ok := byOffset[off]
		if !ok {
			name, ok := r.files.cstring(off)
			if !ok || len(names)+len(name) > math.MaxUint32 {
				return nil, nil, "", fmt.Errorf("%w: file %d", errPclntab, i)
			}
			f = uint32(len(ends))
			byOffset[off] = f
			names = append(names, name...)
			ends = append(ends, uint32(len(names)))
		}
		slots = append(slots, f)
	}
	return slots, slices.Clone(ends), string(names), nil
}

// contains reports whether pc lies in the table's functions.
func (g *goTable) contains(pc uint64) bool {
	return pc >= g.start && pc-g.start < uint64(g.entries[len(g.funcs)])
}

// end returns where the last function ends.
func (g *goTable) end() uint64 { return g.start + uint64(g.entries[len(g.funcs)]) }

// lookup names the Go function holding pc, with the source file and line
// of pc. For code inlined into it, the file and line are those of the
// inlined callee: the tables describe the innermost call (inlined gives the
// chain).
func (g *goTable) lookup(pc uint64) (name string, entry uint64, file string, line uint32, ok bool) {
	i, ok := g.find(pc)
	if !ok {
		return "", 0, "", 0, false
	}
	file, line = g.pos(i, pc)
	return g.funcName(i), g.funcEntry(i), file, line, true
}

// find returns the index of the function holding pc; ok is false outside
// the table or for a function without a name.
func (g *goTable) find(pc uint64) (int, bool) {
	if !g.contains(pc) {
		return 0, false
	}
	rel := uint32(pc - g.start)
	lo, hi := 0, len(g.funcs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if g.entries[m] <= rel {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo - 1
	return i, g.funcName(i) != ""
}

// funcName returns the name of function i.
func (g *goTable) funcName(i int) string {
	begin := uint32(0)
	if i > 0 {
		begin = g.funcs[i-1].nameEnd
	}
	return g.names[begin:g.funcs[i].nameEnd]
}

// funcEntry returns the entry of function i.
func (g *goTable) funcEntry(i int) uint64 { return g.start + uint64(g.entries[i]) }

// pos returns the source file and line of pc in function i, as the
// tables give them: those of the innermost inlined call.
func (g *goTable) pos(i int, pc uint64) (file string, line uint32) {
	f := &g.funcs[i]
	entry := g.funcEntry(i)
	if v := g.pcvalue(f.pcln, entry, pc); v > 0 {
		line = uint32(v)
	}
	if v := g.pcvalue(f.pcfile, entry, pc); v >= 0 {
		file = g.file(uint64(f.unit) + uint64(v))
	}
	return file, line
}

// maxInlDepth bounds the inline chain of one pc, against malformed trees
// whose parents loop.
const maxInlDepth = 256

// inlined appends to dst, innermost first, the calls inlined into
// function i at pc, each with its source position, as the runtime's
// CallersFrames expands them; outer is the pc in function i whose position
// is that of the outermost call (pc if nothing is inlined there). known is
// false if the function's inline tree could not be read: dst then holds
// nothing of it.
func (g *goTable) inlined(dst []Line, i int, pc uint64) (calls []Line, outer uint64, known bool) {
	f := &g.funcs[i]
	if f.pcinl == noFile {
		return dst, pc, !g.noInline
	}
	if f.inl == noFile {
		return dst, pc, false
	}
	entry, n, at := g.funcEntry(i), len(dst), pc
	for range maxInlDepth {
		ix := g.pcvalue(f.pcinl, entry, at)
		if ix < 0 {
			return dst, at, true
		}
		if uint64(f.inl)+uint64(ix) >= uint64(len(g.inl)) {
			break
		}
		e := &g.inl[int(f.inl)+int(ix)]
		file, line := g.pos(i, at)
		dst = append(dst, Line{Func: g.inlNames[e.nameStart:e.nameEnd], File: file, Line: line})
		at = entry + uint64(e.parentPC)
	}
	return dst[:n], pc, false
}

// file returns the name of the file in slot i, "" if none.
func (g *goTable) file(i uint64) string {
	if i >= uint64(len(g.unitFiles)) {
		return ""
	}
	f := g.unitFiles[i]
	if f == noFile || int(f) >= len(g.fileEnds) {
		return ""
	}
	begin := uint32(0)
	if f > 0 {
		begin = g.fileEnds[f-1]
	}
	return g.files[begin:g.fileEnds[f]]
}

// pcvalue returns the value the table at off in tabs gives pc, in the
// function whose entry is entry; -1 if none. Values start at -1 at the
// entry; each step adds a zigzag-encoded value delta and then advances pc
// by a delta in units of the pc quantum, the value holding below that pc.
func (g *goTable) pcvalue(off uint32, entry, pc uint64) int32 {
	if off == noFile {
		return -1
	}
	val, at := int32(-1), entry
	i := int(off)
	for {
		uv, next, ok := uvarintAt(g.tabs, i)
		if !ok || (uv == 0 && at != entry) {
			return -1
		}
		var pcDelta uint32
		if pcDelta, i, ok = uvarintAt(g.tabs, next); !ok {
			return -1
		}
		val += unzigzag(uv)
		at += uint64(pcDelta) * uint64(g.quantum)
		if pc < at {
			return val
		}
	}
}

// memSize estimates the bytes the table holds.
func (g *goTable) memSize() int {
	return 4*cap(g.entries) + 24*cap(g.funcs) + len(g.names) + len(g.files) +
		4*cap(g.fileEnds) + 4*cap(g.unitFiles) + len(g.tabs) + 12*cap(g.inl) + len(g.inlNames)
}
