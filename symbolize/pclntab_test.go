package symbolize

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// synthFunc is a function of a synthetic pclntab: from entry, each row
// holds a file (a value relative to the function's unit) and a line up to
// the row's end.
type synthFunc struct {
	name  string
	entry uint64
	unit  int // index in the units given to encodePclntab
	rows  []synthRow
}

type synthRow struct {
	end        uint64
	file, line int32
}

// encodePCValue writes a pc-value table of the rows' values.
func encodePCValue(entry uint64, rows []synthRow, value func(synthRow) int32, quantum uint64) []byte {
	var b []byte
	prev, pc := int32(-1), entry
	for i, r := range rows {
		v := value(r)
		if i+1 < len(rows) && value(rows[i+1]) == v {
			continue // one step up to the last row of the same value
		}
		d := v - prev
		b = binary.AppendUvarint(b, uint64(uint32(d<<1)^uint32(d>>31)))
		b = binary.AppendUvarint(b, (r.end-pc)/quantum)
		prev, pc = v, r.end
	}
	return append(b, 0)
}

// byteOrder writes in place and appends.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// pclnWriter lays out a synthetic pclntab.
type pclnWriter struct {
	order   byteOrder
	ptrsize int
	b       []byte
}

func (w *pclnWriter) putWord(off int, v uint64) {
	if w.ptrsize == 4 {
		w.order.PutUint32(w.b[off:], uint32(v))
	} else {
		w.order.PutUint64(w.b[off:], v)
	}
}

func (w *pclnWriter) appendU32(v uint32) { w.b = w.order.AppendUint32(w.b, v) }

func (w *pclnWriter) appendWord(v uint64) {
	if w.ptrsize == 4 {
		w.appendU32(uint32(v))
	} else {
		w.b = w.order.AppendUint64(w.b, v)
	}
}

// encodePclntab writes a pclntab of version ver for funcs, sorted by
// entry. units lists the files (indexes in files, -1 for none) of each
// compilation unit; before Go 1.16 there is one, whose slot 0 holds the
// count of files.
func encodePclntab(ver pclnVersion, order byteOrder, ptrsize int, quantum uint64, text uint64, funcs []synthFunc, units [][]int, files []string) []byte {
	w := &pclnWriter{order: order, ptrsize: ptrsize}
	magic := map[pclnVersion]uint32{pcln12: 0xfffffffb, pcln116: 0xfffffffa, pcln118: 0xfffffff0, pcln120: 0xfffffff1}[ver]
	w.appendU32(magic)
	w.b = append(w.b, 0, 0, byte(quantum), byte(ptrsize))
	end := funcs[len(funcs)-1].rows[len(funcs[len(funcs)-1].rows)-1].end
	relative := ver == pcln118 || ver == pcln120
	entryField := ptrsize
	if relative {
		entryField = 4
	}
	words := map[pclnVersion]int{pcln12: 1, pcln116: 7, pcln118: 8, pcln120: 8}[ver]
	w.b = append(w.b, make([]byte, words*ptrsize)...)
	hdr := func(i int, v uint64) { w.putWord(8+i*ptrsize, v) }
	hdr(0, uint64(len(funcs)))
	// Parts whose offsets count from a base: the start before Go 1.16.
	base := map[string]int{}
	mark := func(part string) {
		if ver == pcln12 {
			base[part] = 0
		} else {
			base[part] = len(w.b)
		}
	}
	var functabAt int
	if ver == pcln12 {
		functabAt = len(w.b)
		w.b = append(w.b, make([]byte, (2*len(funcs)+1)*ptrsize+4)...)
	}

	mark("names")
	nameOff := make([]int, len(funcs))
	for i, f := range funcs {
		nameOff[i] = len(w.b) - base["names"]
		w.b = append(append(w.b, f.name...), 0)
	}
	// Files: Go 1.16+ puts the names in filetab and the units' slots in
	// cutab; Go 1.2 has one table of offsets of names anywhere.
	fileOff := make([]int, len(files))
	unitStart := make([]int, len(units))
	if ver == pcln12 {
		for i, name := range files {
			fileOff[i] = len(w.b)
			w.b = append(append(w.b, name...), 0)
		}
		w.order.PutUint32(w.b[functabAt+(2*len(funcs)+1)*ptrsize:], uint32(len(w.b)))
		w.appendU32(uint32(len(units[0])))
		for _, f := range units[0][1:] {
			w.appendU32(uint32(fileOff[f]))
		}
	} else {
		cutab := len(w.b)
		slot := 0
		for u, list := range units {
			unitStart[u] = slot
			slot += len(list)
		}
		w.b = append(w.b, make([]byte, 4*slot)...)
		mark("files")
		for i, name := range files {
			fileOff[i] = len(w.b) - base["files"]
			w.b = append(append(w.b, name...), 0)
		}
		slot = 0
		for _, list := range units {
			for _, f := range list {
				v := uint32(0xffffffff)
				if f >= 0 {
					v = uint32(fileOff[f])
				}
				w.order.PutUint32(w.b[cutab+4*slot:], v)
				slot++
			}
		}
		first := 2
		if relative {
			first = 3
		}
		hdr(1, uint64(len(files)))
		if relative {
			hdr(2, text)
		}
		hdr(first, uint64(base["names"]))
		hdr(first+1, uint64(cutab))
		hdr(first+2, uint64(base["files"]))
	}
	// The pc-value tables, identical ones shared; offset 0 is no table.
	mark("tabs")
	if ver != pcln12 {
		w.b = append(w.b, 0)
	}
	tabOff := map[string]int{}
	tables := make([][2]int, len(funcs))
	for i, f := range funcs {
		for k, value := range []func(synthRow) int32{
			func(r synthRow) int32 { return r.file },
			func(r synthRow) int32 { return r.line },
		} {
			t := encodePCValue(f.entry, f.rows, value, quantum)
			off, ok := tabOff[string(t)]
			if !ok {
				off = len(w.b) - base["tabs"]
				tabOff[string(t)] = off
				w.b = append(w.b, t...)
			}
			tables[i][k] = off
		}
	}
	for len(w.b)%8 != 0 {
		w.b = append(w.b, 0)
	}
	if ver != pcln12 {
		functabAt = len(w.b)
		first := 5
		if relative {
			first = 6
		}
		hdr(first, uint64(base["tabs"]))
		hdr(first+1, uint64(functabAt))
		w.b = append(w.b, make([]byte, (2*len(funcs)+1)*entryField)...)
	}
	// Records: the entry, then 32-bit fields: name, args, deferreturn,
	// pcsp, pcfile, pcln, npcdata, unit, and padding.
	recBase := functabAt
	if ver == pcln12 {
		recBase = 0
	}
	field := func(i int, v uint64) {
		if entryField == 4 {
			w.order.PutUint32(w.b[functabAt+i*4:], uint32(v))
		} else {
			w.putWord(functabAt+i*ptrsize, v)
		}
	}
	for i, f := range funcs {
		rec := len(w.b)
		e := f.entry
		if relative {
			e -= text
		}
		field(2*i, e)
		field(2*i+1, uint64(rec-recBase))
		if entryField == 4 {
			w.appendU32(uint32(e))
		} else {
			w.appendWord(e)
		}
		for k := 1; k <= 10; k++ {
			var v uint32
			switch k {
			case 1:
				v = uint32(nameOff[i])
			case 5:
				v = uint32(tables[i][0])
			case 6:
				v = uint32(tables[i][1])
			case 8:
				v = uint32(unitStart[f.unit])
			}
			w.appendU32(v)
		}
		for len(w.b)%8 != 0 {
			w.b = append(w.b, 0)
		}
	}
	e := end
	if relative {
		e -= text
	}
	field(2*len(funcs), e)
	return w.b
}

// synthProgram is a small program for synthetic pclntabs: two units, a
// gap between functions, a function without a file for some pcs, and an
// inlined call (a row of another file).
func synthProgram(quantum uint64, old bool) (funcs []synthFunc, units [][]int, files []string) {
	files = []string{"/src/a.go", "/src/b.go", "/src/inl.go"}
	q := quantum
	funcs = []synthFunc{
		{name: "main.a", entry: 0x401000, rows: []synthRow{{0x401000 + 4*q, 0, 10}, {0x401000 + 8*q, 0, 11}, {0x401000 + 12*q, 1, 99}, {0x401000 + 16*q, 0, 12}}},
		{name: "main.b", entry: 0x401000 + 20*q, unit: 1, rows: []synthRow{{0x401000 + 24*q, 0, 5}, {0x401000 + 40*q, 2, 300}, {0x401000 + 44*q, 0, 6}}},
		{name: "runtime.c", entry: 0x401000 + 48*q, unit: 1, rows: []synthRow{{0x401000 + 52*q, 1, 1}, {0x401000 + 56*q, 0, 2}}},
	}
	if old {
		// One global list; slot 0 holds the count.
		units = [][]int{{-1, 0, 1, 2}}
		for i := range funcs {
			funcs[i].unit = 0
			for j := range funcs[i].rows {
				if i == 0 {
					funcs[i].rows[j].file++ // a.go, b.go as 1, 2
				} else {
					funcs[i].rows[j].file = []int32{2, 3, 1}[funcs[i].rows[j].file] // b.go, inl.go, a.go
				}
			}
		}
		return funcs, units, files
	}
	// Unit 0: a.go, b.go; unit 1: b.go, no file, inl.go... as values 0, 2.
	units = [][]int{{0, 1}, {1, 2, -1}}
	for j := range funcs[1].rows {
		funcs[1].rows[j].file = []int32{0, 1, 0}[j]
	}
	funcs[2].rows[0].file = 2 // the slot without a file
	return funcs, units, files
}

// parsePclntab reads a pclntab from memory.
func parsePclntab(data []byte, text uint64) (*goTable, error) {
	return readPclntab(bytes.NewReader(data), uint64(len(data)), text, nil, 0)
}

// compareGosym checks goTable lookups against debug/gosym's on pcs.
func compareGosym(t *testing.T, g *goTable, tab *gosym.Table, pcs []uint64) {
	t.Helper()
	bad := 0
	for _, pc := range pcs {
		wantFile, wantLine, wantFn := tab.PCToLine(pc)
		wantLine = max(wantLine, 0) // -1 where there is no line: 0 in frames
		name, entry, file, line, ok := g.lookup(pc)
		if wantFn == nil {
			if ok {
				t.Errorf("%#x: %s, gosym finds nothing", pc, name)
				bad++
			}
		} else if !ok || name != wantFn.Name || entry != wantFn.Entry || file != wantFile || int(line) != wantLine {
			t.Errorf("%#x: %s+%#x %s:%d %v, gosym %s+%#x %s:%d", pc, name, pc-entry, file, line, ok, wantFn.Name, pc-wantFn.Entry, wantFile, wantLine)
			bad++
		}
		if bad > 10 {
			t.Fatal("too many differences")
		}
	}
}

func TestGoTableVersions(t *testing.T) {
	const text = 0x400000
	for _, ver := range []pclnVersion{pcln12, pcln116, pcln118, pcln120} {
		for _, order := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			for _, ptrsize := range []int{4, 8} {
				for _, quantum := range []uint64{1, 4} {
					t.Run(fmt.Sprintf("v%d/%v/ptr%d/q%d", ver, order, ptrsize, quantum), func(t *testing.T) {
						funcs, units, files := synthProgram(quantum, ver == pcln12)
						data := encodePclntab(ver, order, ptrsize, quantum, text, funcs, units, files)
						g, err := parsePclntab(data, text)
						if err != nil {
							t.Fatal(err)
						}
						tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
						if err != nil {
							t.Fatal(err)
						}
						if len(tab.Funcs) != len(funcs) {
							t.Fatalf("gosym reads %d functions of %d: bad fixture", len(tab.Funcs), len(funcs))
						}
						var pcs []uint64
						for pc := funcs[0].entry - 8; pc < g.end()+8; pc++ {
							pcs = append(pcs, pc)
						}
						compareGosym(t, g, tab, pcs)
						// And as the fixture says.
						for _, f := range funcs {
							for _, r := range f.rows {
								name, entry, file, line, ok := g.lookup(r.end - 1)
								want := ""
								if slot := units[f.unit][r.file]; slot >= 0 {
									want = files[slot]
								}
								if !ok || name != f.name || entry != f.entry || file != want || line != uint32(r.line) {
									t.Errorf("%#x: %s+%#x %s:%d %v, want %s %s:%d", r.end-1, name, r.end-1-entry, file, line, ok, f.name, want, r.line)
								}
							}
						}
					})
				}
			}
		}
	}
}

// pclntabOf reads the pclntab and runtime.text (else .text) of a Go binary.
func pclntabOf(tb testing.TB, path string) (data []byte, text uint64) {
	tb.Helper()
	f, err := elf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	s := f.Section(".gopclntab")
	if s == nil {
		tb.Skipf("%s: no .gopclntab", path)
	}
	if data, err = s.Data(); err != nil {
		tb.Fatal(err)
	}
	if s := f.Section(".text"); s != nil {
		text = s.Addr
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" {
				text = s.Value
			}
		}
	}
	return data, text
}

// TestGoTableBinaries compares goTable with debug/gosym on real Go
// binaries: this test (whose functions the runtime also knows), and gofmt
// if it is on PATH. loadELF must find the same table.
func TestGoTableBinaries(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{exe}
	if p, err := exec.LookPath("gofmt"); err == nil {
		paths = append(paths, p)
	}
	for _, path := range paths {
		t.Run(path, func(t *testing.T) {
			data, text := pclntabOf(t, path)
			tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
			if err != nil {
				t.Fatal(err)
			}
			g := loadELFFile(t, path).gotab
			if g == nil {
				t.Fatal("no Go table")
			}
			if len(g.funcs) != len(tab.Funcs) {
				t.Errorf("%d functions, gosym %d", len(g.funcs), len(tab.Funcs))
			}
			var pcs []uint64
			for i, fn := range tab.Funcs {
				if i%64 == 0 { // every byte of some
					for pc := fn.Entry; pc < fn.End; pc++ {
						pcs = append(pcs, pc)
					}
					continue
				}
				pcs = append(pcs, fn.Entry, fn.Entry+(fn.End-fn.Entry)/2, fn.End-1)
			}
			pcs = append(pcs, tab.Funcs[0].Entry-1, tab.Funcs[len(tab.Funcs)-1].End)
			compareGosym(t, g, tab, pcs)
			if path != exe {
				return
			}
			// The runtime agrees on where this binary's functions start
			// (it is not position-independent, so addresses are the
			// ELF's).
			for i := range g.funcs {
				entry := g.start + uint64(g.entries[i])
				if f := runtime.FuncForPC(uintptr(entry)); f == nil || uint64(f.Entry()) != entry {
					t.Fatalf("function %d at %#x: runtime says %v", i, entry, f)
				}
			}
		})
	}
}

func TestGoTableAllocs(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	g := loadELFFile(t, exe).gotab
	pc := uint64(markerPC())
	if allocs := testing.AllocsPerRun(100, func() { g.lookup(pc) }); allocs != 0 {
		t.Errorf("%v allocations per lookup", allocs)
	}
}

func TestPclnWindow(t *testing.T) {
	data := make([]byte, 3*pclnWindowSize)
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	// A name across the first window's end, one longer than the first
	// read, one without an end.
	across, long := uint64(pclnWindowSize-10), uint64(2*pclnWindowSize)
	data[across+100] = 0
	data[long+5000] = 0
	w := &pclnWindow{r: bytes.NewReader(data), size: uint64(len(data))}
	if b, ok := w.at(0, 4); !ok || len(b) != pclnWindowSize {
		t.Fatalf("first window %d %v", len(b), ok)
	}
	if b, ok := w.cstring(across); !ok || string(b) != string(data[across:across+100]) {
		t.Errorf("across: %d %v", len(b), ok)
	}
	if b, ok := w.cstring(long); !ok || len(b) != 5000 {
		t.Errorf("long: %d %v", len(b), ok)
	}
	if b, ok := w.cstring(long + 5001); ok {
		t.Errorf("unterminated: %d", len(b))
	}
	if _, ok := w.at(uint64(len(data)), 1); ok {
		t.Error("read past the end")
	}
	// A table across a window's end.
	table := encodePCValue(0, []synthRow{{end: 1000, line: 1}, {end: 70000, line: 100000}, {end: 70001, line: 2}}, func(r synthRow) int32 { return r.line }, 1)
	at := uint64(pclnWindowSize - 3)
	copy(data[at:], table)
	w = &pclnWindow{r: bytes.NewReader(data), size: uint64(len(data))}
	w.at(0, 1)
	if n, ok := w.tableLen(at); !ok || n != len(table) {
		t.Errorf("table: %d %v, want %d", n, ok, len(table))
	}
	// The file is shorter than its headers say.
	w = &pclnWindow{r: bytes.NewReader(data[:100]), size: 1 << 40}
	if _, ok := w.at(50, 100); ok {
		t.Error("short read accepted")
	}
}

func TestGoTableMalformed(t *testing.T) {
	funcs, units, files := synthProgram(1, false)
	good := encodePclntab(pcln120, binary.LittleEndian, 8, 1, 0x400000, funcs, units, files)
	for name, data := range map[string][]byte{
		"empty":     nil,
		"header":    good[:8],
		"magic":     append([]byte{1, 2, 3, 4}, good[4:]...),
		"quantum":   append(append([]byte{}, good[:6]...), append([]byte{3}, good[7:]...)...),
		"truncated": good[:len(good)-20],
		"words":     good[:40],
	} {
		if g, err := parsePclntab(data, 0x400000); err == nil || g != nil {
			t.Errorf("%s: %v, %v", name, g, err)
		}
	}
	// Entries out of order.
	bad := bytes.Clone(good)
	l, err := newPclnReader(bytes.NewReader(bad), uint64(len(bad))).layout()
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(bad[l.functab:], 0xffff)
	if _, err := parsePclntab(bad, 0x400000); err == nil {
		t.Error("entries out of order accepted")
	}
}

// FuzzPclntab checks that any input parses without panicking, that an
// error comes with no table, and that lookups in a table never panic.
func FuzzPclntab(f *testing.F) {
	for _, ver := range []pclnVersion{pcln12, pcln116, pcln120} {
		funcs, units, files := synthProgram(1, ver == pcln12)
		f.Add(encodePclntab(ver, binary.LittleEndian, 8, 1, 0x400000, funcs, units, files))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := parsePclntab(data, 0x400000)
		if err != nil {
			if g != nil {
				t.Fatal("table with an error")
			}
			return
		}
		for pc := g.start - 1; pc <= g.end(); pc++ {
			g.lookup(pc)
			if pc-g.start > 1<<12 {
				break
			}
		}
	})
}

// testSection is a section of a synthetic ELF file.
type testSection struct {
	name string
	typ  elf.SectionType
	addr uint64
	data []byte
}

// testSym is a symbol of a synthetic ELF file, in section shndx.
type testSym struct {
	name        string
	typ         elf.SymType
	shndx       uint16
	value, size uint64
}

// writeTestELF writes a little-endian x86-64 ELF executable of sections
// (from index 1), then .symtab with syms, .strtab and .shstrtab. A
// SHT_DYNSYM section among sections shares .strtab.
func writeTestELF(sections []testSection, syms []testSym) []byte {
	le := binary.LittleEndian
	strtab := []byte{0}
	var symtab bytes.Buffer
	binary.Write(&symtab, le, elf.Sym64{})
	for _, s := range syms {
		name := uint32(len(strtab))
		strtab = append(append(strtab, s.name...), 0)
		binary.Write(&symtab, le, elf.Sym64{Name: name, Info: elf.ST_INFO(elf.STB_GLOBAL, s.typ), Shndx: s.shndx, Value: s.value, Size: s.size})
	}
	n := len(sections)
	sections = append(sections,
		testSection{name: ".symtab", typ: elf.SHT_SYMTAB, data: symtab.Bytes()},
		testSection{name: ".strtab", typ: elf.SHT_STRTAB, data: strtab},
		testSection{name: ".shstrtab", typ: elf.SHT_STRTAB})
	shstrtab := []byte{0}
	names := make([]uint32, len(sections))
	for i, s := range sections {
		names[i] = uint32(len(shstrtab))
		shstrtab = append(append(shstrtab, s.name...), 0)
	}
	sections[len(sections)-1].data = shstrtab

	out := make([]byte, 64)
	offs := make([]uint64, len(sections))
	for i, s := range sections {
		for len(out)%8 != 0 {
			out = append(out, 0)
		}
		offs[i] = uint64(len(out))
		out = append(out, s.data...)
	}
	for len(out)%8 != 0 {
		out = append(out, 0)
	}
	shoff := uint64(len(out))
	var b bytes.Buffer
	binary.Write(&b, le, elf.Section64{})
	for i, s := range sections {
		sh := elf.Section64{Name: names[i], Type: uint32(s.typ), Addr: s.addr, Off: offs[i], Size: uint64(len(s.data)), Addralign: 1}
		switch s.typ {
		case elf.SHT_SYMTAB, elf.SHT_DYNSYM:
			sh.Link, sh.Entsize, sh.Info = uint32(n+2), elf.Sym64Size, 1
		case elf.SHT_RELA:
			sh.Entsize = 24
		case elf.SHT_PROGBITS:
			sh.Flags = uint64(elf.SHF_ALLOC)
		}
		binary.Write(&b, le, sh)
	}
	out = append(out, b.Bytes()...)
	var h bytes.Buffer
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), byte(elf.EV_CURRENT)}
	binary.Write(&h, le, elf.Header64{Ident: ident, Type: uint16(elf.ET_EXEC), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
		Shoff: shoff, Ehsize: 64, Phentsize: 56, Shentsize: 64, Shnum: uint16(len(sections) + 1), Shstrndx: uint16(len(sections))})
	copy(out, h.Bytes())
	return out
}

// testGoText is runtime.text in testGoELF's files; .text starts 0x100
// earlier, with a C function.
const testGoText = 0x401000

// testGoELF writes a synthetic Go binary as external linkers lay them
// out: C code before runtime.text in .text, and the pclntab of
// synthProgram either in its own section or, if merged, merged into .rodata
// and found by its symbols.
func testGoELF(merged bool) ([]byte, []synthFunc) {
	funcs, units, files := synthProgram(1, false)
	pcln := encodePclntab(pcln120, binary.LittleEndian, 8, 1, testGoText, funcs, units, files)
	end := funcs[len(funcs)-1].rows[len(funcs[len(funcs)-1].rows)-1].end
	syms := []testSym{
		{name: "cfunc", typ: elf.STT_FUNC, shndx: 1, value: testGoText - 0xf0, size: 0x20},
		{name: "runtime.text", typ: elf.STT_FUNC, shndx: 1, value: testGoText},
		{name: "main.a", typ: elf.STT_FUNC, shndx: 1, value: funcs[0].entry, size: 4},
		{name: "runtime.etext", typ: elf.STT_FUNC, shndx: 1, value: end + 0xf},
	}
	text := testSection{name: ".text", typ: elf.SHT_PROGBITS, addr: testGoText - 0x100, data: make([]byte, 0x10)}
	if !merged {
		return writeTestELF([]testSection{text, {name: ".gopclntab", typ: elf.SHT_PROGBITS, addr: 0x500000, data: pcln}}, syms), funcs
	}
	rodata := append(append([]byte("other data"), pcln...), "more"...)
	syms = append(syms,
		testSym{name: "runtime.pclntab", typ: elf.STT_OBJECT, shndx: 2, value: 0x50000a},
		testSym{name: "runtime.epclntab", typ: elf.STT_OBJECT, shndx: 2, value: 0x50000a + uint64(len(pcln))})
	return writeTestELF([]testSection{text, {name: ".rodata", typ: elf.SHT_PROGBITS, addr: 0x500000, data: rodata}}, syms), funcs
}

// TestLoadELFGo loads synthetic Go binaries laid out as external linkers
// do (see testGoELF).
func TestLoadELFGo(t *testing.T) {
	for _, merged := range []bool{false, true} {
		t.Run(fmt.Sprint("merged=", merged), func(t *testing.T) {
			file, funcs := testGoELF(merged)
			o, err := loadELF(bytes.NewReader(file), nil)
			if err != nil {
				t.Fatal(err)
			}
			if o.gotab == nil {
				t.Fatal("no Go table")
			}
			if n, e, file, line, ok := o.gotab.lookup(funcs[1].entry + 1); n != "main.b" || e != funcs[1].entry || file != "/src/b.go" || line != 5 || !ok {
				t.Errorf("main.b+1: %s %#x %s:%d %v", n, e, file, line, ok)
			}
			// The C function only: Go functions are named by the pclntab.
			if len(o.addrs) != 1 {
				t.Errorf("%d ELF symbols kept", len(o.addrs))
			}
			if n, start, ok := o.sym(testGoText - 0xf0 + 4); n != "cfunc" || start != testGoText-0xf0 || !ok {
				t.Errorf("cfunc+4: %s %#x %v", n, start, ok)
			}
		})
	}
}
