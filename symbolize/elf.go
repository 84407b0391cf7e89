package symbolize

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// ntGNUBuildID is the type of the GNU build ID note.
const ntGNUBuildID = 3

// maxNotes bounds how much note data is read from one file.
const maxNotes = 1 << 20

// parseBuildIDNote finds the GNU build ID in ELF note data (records of
// namesz, descsz, type, then name and desc each padded to 4 bytes) and
// returns it in hex.
func parseBuildIDNote(data []byte, order binary.ByteOrder) (string, bool) {
	for len(data) >= 12 {
		namesz := uint64(order.Uint32(data[0:]))
		descsz := uint64(order.Uint32(data[4:]))
		typ := order.Uint32(data[8:])
		data = data[12:]
		nameEnd := align4(namesz)
		descEnd := nameEnd + align4(descsz)
		if nameEnd > uint64(len(data)) || descEnd > uint64(len(data)) || nameEnd+descsz > uint64(len(data)) {
			return "", false
		}
		name := data[:namesz]
		if typ == ntGNUBuildID && string(name) == "GNU\x00" && descsz > 0 {
			return hex.EncodeToString(data[nameEnd : nameEnd+descsz]), true
		}
		data = data[descEnd:]
	}
	return "", false
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// elfBuildID reads the build ID of an ELF file from its note segments or
// sections.
func elfBuildID(f *elf.File) string {
	var notes []io.ReadSeeker
	for _, p := range f.Progs {
		if p.Type == elf.PT_NOTE {
			notes = append(notes, p.Open())
		}
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOTE {
			notes = append(notes, s.Open())
		}
	}
	for _, r := range notes {
		data, err := io.ReadAll(io.LimitReader(r, maxNotes))
		if err != nil {
			continue
		}
		if id, ok := parseBuildIDNote(data, f.ByteOrder); ok {
			return id
		}
	}
	return ""
}

// elfLoad is one PT_LOAD segment: file offsets [off, off+filesz) are
// loaded at vaddr.
type elfLoad struct {
	off, vaddr, filesz uint64
	exec               bool
}

// objSyms is the symbol table of one ELF file, shared by every mapping of
// that file in every process. Like kernelTable it holds one address, one
// size and one name end per function symbol, and all names in one string;
// the file and its section data are not kept. It is immutable once built.
type objSyms struct {
	buildID string
	loads   []elfLoad
	addrs   []uint64
	sizes   []uint32 // 0: unknown, up to the next symbol
	ends    []uint32
	names   string
	// gotab resolves Go functions with file and line, from the pclntab.
	// The ELF symbols of the functions it holds are not kept.
	gotab *goTable
	// dwarf gives file, line and inlined calls from DWARF, read on
	// first use; nil without DWARF.
	dwarf *dwarfTable
}

// rawELFSym is a function symbol while the table is built; its name is
// strtab[name:name+n].
type rawELFSym struct {
	addr, size uint64
	name, n    uint32
	rank       uint8
}

// elfSymbols is what a symbol table gives: its function symbols, and the
// values of the symbols that locate a Go binary's functions and pclntab.
type elfSymbols struct {
	funcs []rawELFSym
	// runtime.text and runtime.etext delimit a Go binary's functions.
	text, etext, pclntab, epclntab             uint64
	hasText, hasEtext, hasPclntab, hasEpclntab bool
	// gofunc is the value of go:func.* (go.func.* before Go 1.20),
	// where the offsets of functions' inline trees count from.
	gofunc    uint64
	hasGofunc bool
}

// parseSymtab reads the function symbols of an ELF symbol table (the
// contents of .symtab or .dynsym, entries of class's size) whose names are
// in strtab. Entries past the end and names out of bounds are skipped.
func parseSymtab(data, strtab []byte, class elf.Class, order binary.ByteOrder) elfSymbols {
	var out elfSymbols
	size := elf.Sym64Size
	if class == elf.ELFCLASS32 {
		size = elf.Sym32Size
	}
	// Entry 0 is the undefined symbol.
	for off := size; off+size <= len(data); off += size {
		e := data[off : off+size]
		var name uint32
		var value, sz uint64
		var info uint8
		var shndx elf.SectionIndex
		if class == elf.ELFCLASS32 {
			name, value, sz = order.Uint32(e), uint64(order.Uint32(e[4:])), uint64(order.Uint32(e[8:]))
			info, shndx = e[12], elf.SectionIndex(order.Uint16(e[14:]))
		} else {
			name, info, shndx = order.Uint32(e), e[4], elf.SectionIndex(order.Uint16(e[6:]))
			value, sz = order.Uint64(e[8:]), order.Uint64(e[16:])
		}
		if uint64(name) >= uint64(len(strtab)) || name == 0 {
			continue
		}
		n := bytes.IndexByte(strtab[name:], 0)
		if n <= 0 || uint64(name)+uint64(n) > math.MaxUint32 {
			continue
		}
		str := strtab[name : int(name)+n]
		if shndx != elf.SHN_UNDEF && (string(str) == "go:func.*" || string(str) == "go.func.*") {
			out.gofunc, out.hasGofunc = value, true
		}
		if shndx != elf.SHN_UNDEF && len(str) > 8 && string(str[:8]) == "runtime." {
			switch string(str[8:]) {
			case "text":
				out.text, out.hasText = value, true
			case "etext":
				out.etext, out.hasEtext = value, true
			case "pclntab":
				out.pclntab, out.hasPclntab = value, true
			case "epclntab":
				out.epclntab, out.hasEpclntab = value, true
			}
		}
		typ := elf.ST_TYPE(info)
		if (typ != elf.STT_FUNC && typ != elf.STT_GNU_IFUNC) || value == 0 || shndx == elf.SHN_UNDEF {
			continue
		}
		var rank uint8
		switch elf.ST_BIND(info) {
		case elf.STB_GLOBAL:
			rank = 3
		case elf.STB_WEAK:
			rank = 2
		default:
			rank = 1
		}
		out.funcs = append(out.funcs, rawELFSym{addr: value, size: sz, name: name, n: uint32(n), rank: rank})
	}
	return out
}

// elfSource says where an ELF file came from, for finding its separate
// debug info.
type elfSource struct {
	// opened is the path the file was read from (perhaps through
	// /proc/PID/map_files), path the object's path as mapped: debug
	// links are looked for beside it and under the debug directories.
	opened, path string
	// debugDirs are where separate debug info is looked for; none: only
	// the file itself is read.
	debugDirs []string
	// dwarf, if set, shares the parsed DWARF of every file with a
	// bounded memory budget; nil leaves DWARF unread.
	dwarf *dwarfCache
}

// loadELF reads the function symbols, the Go pclntab if there is one, the
// load segments and the build ID of an ELF file, and keeps them compactly.
// If cached (may be nil) knows the build ID, it returns what cached gives
// without reading further.
func loadELF(r io.ReaderAt, cached func(buildID string) *objSyms) (*objSyms, error) {
	return loadELFFrom(r, elfSource{}, cached)
}

// loadELFFrom is loadELF with separate debug info: the symbols are those
// of .symtab and .dynsym, of the MiniDebugInfo in .gnu_debugdata, and of
// the separate debug file found by build ID or .gnu_debuglink, merged (at
// one address, a global symbol wins over a weak one, a weak one over a
// local one); DWARF line tables and inline information, from the file or
// its debug file, are read lazily on the first address looked up.
func loadELFFrom(r io.ReaderAt, src elfSource, cached func(buildID string) *objSyms) (*objSyms, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("read ELF: %w", err)
	}
	defer f.Close()
	o := &objSyms{buildID: elfBuildID(f)}
	if o.buildID != "" && cached != nil {
		if c := cached(o.buildID); c != nil {
			return c, nil
		}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			o.loads = append(o.loads, elfLoad{off: p.Off, vaddr: p.Vaddr, filesz: p.Filesz, exec: p.Flags&elf.PF_X != 0})
		}
	}
	syms, strtab, err := readSymtab(f, elf.SHT_SYMTAB)
	if err != nil {
		return nil, fmt.Errorf("read ELF symbols: %w", err)
	}
	tables := []symtab{{syms.funcs, strtab}}
	if dyn, dynstr, err := readSymtab(f, elf.SHT_DYNSYM); err == nil {
		tables = append(tables, symtab{dyn.funcs, dynstr})
	}
	if mini := miniDebugInfo(f); mini != nil {
		if m, mstr, err := readSymtab(mini, elf.SHT_SYMTAB); err == nil {
			tables = append(tables, symtab{m.funcs, mstr})
		}
	}
	if plt, pltstr := pltSymbols(f); len(plt) > 0 {
		tables = append(tables, symtab{plt, pltstr})
	}
	dwarfFile := ""
	if hasDWARF(f) {
		dwarfFile = src.opened
	}
	if len(src.debugDirs) > 0 && (len(syms.funcs) == 0 || dwarfFile == "") {
		link, crc, _ := debugLink(f)
		if dbg := openDebugFile(src.opened, src.path, o.buildID, link, crc, src.debugDirs); dbg != nil {
			if d, dstr, err := readSymtab(dbg.elf, elf.SHT_SYMTAB); err == nil {
				tables = append(tables, symtab{d.funcs, dstr})
			}
			if dwarfFile == "" && hasDWARF(dbg.elf) {
				dwarfFile = dbg.path
			}
			dbg.Close()
		}
	}
	syms.funcs, strtab = mergeSymtabs(tables)
	if pcln, addr, size, ok := goPclntab(f, &syms); ok {
		text := syms.text
		if s := f.Section(".text"); s != nil && !syms.hasText {
			text = s.Addr
		}
		fd, fdSize := goFuncdata(f, &syms, pcln, addr, size)
		if g, err := readPclntab(pcln, size, text, fd, fdSize); err == nil {
			o.gotab = g
			// Go functions are named by the pclntab; keep only the
			// others (C code in cgo binaries), not the marker
			// runtime.etext.
			keep := syms.funcs[:0]
			for _, s := range syms.funcs {
				if !g.contains(s.addr) && (!syms.hasEtext || s.addr != syms.etext || s.size != 0) {
					keep = append(keep, s)
				}
			}
			syms.funcs = keep
		}
	}
	o.setSymbols(syms.funcs, strtab)
	if dwarfFile != "" && src.dwarf != nil && (o.gotab == nil || len(o.addrs) > 0) {
		paths := []string{dwarfFile}
		if dwarfFile == src.opened && src.path != "" && src.path != src.opened {
			paths = append(paths, src.path)
		}
		o.dwarf = src.dwarf.table(o.buildID, paths)
	}
	return o, nil
}

// pltSymbols names the x86-64 PLT entries of f as perf does, NAME@plt
// from the relocations of .rela.plt: the entries of .plt.sec where there
// is one (IBT binaries), else of .plt after its first, resolver entry.
func pltSymbols(f *elf.File) ([]rawELFSym, []byte) {
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil, nil
	}
	rela := f.Section(".rela.plt")
	if rela == nil || rela.Type != elf.SHT_RELA {
		return nil, nil
	}
	plt, first := f.Section(".plt.sec"), uint64(0)
	if plt == nil {
		plt, first = f.Section(".plt"), 1
	}
	if plt == nil {
		return nil, nil
	}
	data, err := rela.Data()
	if err != nil {
		return nil, nil
	}
	dyn, err := f.DynamicSymbols()
	if err != nil {
		return nil, nil
	}
	const entry = 16
	var syms []rawELFSym
	var strtab []byte
	for i := uint64(0); (i+1)*24 <= uint64(len(data)); i++ {
		info := f.ByteOrder.Uint64(data[i*24+8:])
		sym := info >> 32
		addr := plt.Addr + (i+first)*entry
		if sym == 0 || sym > uint64(len(dyn)) || addr+entry > plt.Addr+plt.Size || dyn[sym-1].Name == "" {
			continue
		}
		name := dyn[sym-1].Name + "@plt"
		if uint64(len(strtab))+uint64(len(name)) >= math.MaxUint32 {
			break
		}
		syms = append(syms, rawELFSym{addr: addr, size: entry, name: uint32(len(strtab)), n: uint32(len(name))})
		strtab = append(strtab, name...)
		strtab = append(strtab, 0)
	}
	return syms, strtab
}

// symtab is one symbol table's function symbols and its string table.
type symtab struct {
	funcs  []rawELFSym
	strtab []byte
}

// mergeSymtabs puts the symbols of several tables into one, with one
// string table.
func mergeSymtabs(tables []symtab) ([]rawELFSym, []byte) {
	if len(tables) == 1 {
		return tables[0].funcs, tables[0].strtab
	}
	var funcs []rawELFSym
	var strtab []byte
	for _, t := range tables {
		if len(t.funcs) == 0 {
			continue
		}
		if uint64(len(strtab))+uint64(len(t.strtab)) > math.MaxUint32 {
			break
		}
		base := uint32(len(strtab))
		strtab = append(strtab, t.strtab...)
		for _, s := range t.funcs {
			s.name += base
			funcs = append(funcs, s)
		}
	}
	return funcs, strtab
}

// readSymtab reads the first section of type typ and its string table;
// none is not an error.
func readSymtab(f *elf.File, typ elf.SectionType) (elfSymbols, []byte, error) {
	for _, s := range f.Sections {
		if s.Type != typ {
			continue
		}
		if int(s.Link) >= len(f.Sections) || s.Link == 0 {
			return elfSymbols{}, nil, nil
		}
		data, err := s.Data()
		if err != nil {
			return elfSymbols{}, nil, fmt.Errorf("section %s: %w", s.Name, err)
		}
		strs := f.Sections[s.Link]
		if strs.Type != elf.SHT_STRTAB {
			return elfSymbols{}, nil, nil
		}
		strtab, err := strs.Data()
		if err != nil {
			return elfSymbols{}, nil, fmt.Errorf("section %s: %w", strs.Name, err)
		}
		return parseSymtab(data, strtab, f.Class, f.ByteOrder), strtab, nil
	}
	return elfSymbols{}, nil, nil
}

// goFuncdata returns a reader of a Go binary's funcdata area, from the
// symbol go:func.* to the end of the section holding it, and its size; nil if it
// cannot be found. The symbol gives it; without symbols (binaries built
// with -ldflags=-s, as go test and go run build them), the runtime's
// module data in .go.module (.noptrdata before Go 1.26) does: the first word pointing to the pclntab
// at pclnAddr starts it, and in Go 1.20 and later its 41st word is gofunc.
// (In position-independent binaries those words are filled by relocations
// at load time, and the area stays unknown.)
func goFuncdata(f *elf.File, syms *elfSymbols, pcln io.ReaderAt, pclnAddr, pclnSize uint64) (io.ReaderAt, uint64) {
	gofunc, ok := syms.gofunc, syms.hasGofunc
	if !ok {
		gofunc, ok = moduleGofunc(f, pcln, pclnAddr, pclnSize)
	}
	if !ok {
		return nil, 0
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_ALLOC != 0 && gofunc >= s.Addr && gofunc-s.Addr < s.Size {
			off := gofunc - s.Addr
			return io.NewSectionReader(s, int64(off), int64(s.Size-off)), s.Size - off
		}
	}
	return nil, 0
}

// moduleGofuncWord is the index of gofunc among the words of the runtime's
// moduledata since Go 1.20 (runtime/symtab.go): the pcHeader pointer, six
// slices, findfunctab, minpc, maxpc and sixteen more bounds, rodata.
const moduleGofuncWord = 40

// moduleGofunc finds gofunc in the runtime's module data of a Go 1.20+
// binary whose pclntab, at pclnAddr, is read through pcln.
func moduleGofunc(f *elf.File, pcln io.ReaderAt, pclnAddr, pclnSize uint64) (uint64, bool) {
	var magic [4]byte
	if _, err := pcln.ReadAt(magic[:], 0); err != nil || pclnVersionOf(f.ByteOrder.Uint32(magic[:])) != pcln120 {
		return 0, false
	}
	ptr := uint64(8)
	if f.Class == elf.ELFCLASS32 {
		ptr = 4
	}
	// Go 1.26 gives the module data a section of its own.
	for _, name := range []string{".go.module", ".noptrdata"} {
		s := f.Section(name)
		if s == nil || s.Type != elf.SHT_PROGBITS {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		word := func(off uint64) uint64 {
			if ptr == 4 {
				return uint64(f.ByteOrder.Uint32(data[off:]))
			}
			return f.ByteOrder.Uint64(data[off:])
		}
		for off := uint64(0); off+(moduleGofuncWord+1)*ptr <= uint64(len(data)); off += ptr {
			// pcHeader, then funcnametab's pointer into the pclntab.
			if word(off) != pclnAddr {
				continue
			}
			if names := word(off + ptr); names <= pclnAddr || names-pclnAddr >= pclnSize {
				continue
			}
			return word(off + moduleGofuncWord*ptr), true
		}
	}
	return 0, false
}

// goPclntab locates a Go binary's pclntab: the section .gopclntab
// (.data.rel.ro.gopclntab in position-independent binaries), else what the
// symbols runtime.pclntab and runtime.epclntab delimit (external linkers
// merge the section into others). ok is false if there is none.
func goPclntab(f *elf.File, syms *elfSymbols) (r io.ReaderAt, addr, size uint64, ok bool) {
	readable := func(s *elf.Section) bool {
		return s.Type != elf.SHT_NOBITS && s.Flags&elf.SHF_COMPRESSED == 0
	}
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := f.Section(name); s != nil && readable(s) {
			return s, s.Addr, s.Size, true
		}
	}
	if !syms.hasPclntab || !syms.hasEpclntab || syms.epclntab <= syms.pclntab {
		return nil, 0, 0, false
	}
	for _, s := range f.Sections {
		if readable(s) && syms.pclntab >= s.Addr && syms.epclntab-s.Addr <= s.Size {
			size := syms.epclntab - syms.pclntab
			return io.NewSectionReader(s, int64(syms.pclntab-s.Addr), int64(size)), syms.pclntab, size, true
		}
	}
	return nil, 0, 0, false
}

// setSymbols keeps the defined function symbols, one per address, sorted,
// their names taken from strtab.
func (o *objSyms) setSymbols(raw []rawELFSym, strtab []byte) {
	name := func(s rawELFSym) []byte { return strtab[s.name : s.name+s.n] }
	slices.SortStableFunc(raw, func(a, b rawELFSym) int {
		return cmp.Compare(a.addr, b.addr)
	})
	keep := raw[:0]
	size := 0
	for _, s := range raw {
		if n := len(keep); n > 0 && keep[n-1].addr == s.addr {
			k := &keep[n-1]
			if betterSym(s, *k, name(s), name(*k)) {
				size += int(s.n) - int(k.n)
				k.name, k.n, k.rank = s.name, s.n, s.rank
			}
			k.size = max(k.size, s.size)
			continue
		}
		keep = append(keep, s)
		size += int(s.n)
	}
	if size > math.MaxUint32 || len(keep) == 0 {
		return
	}
	o.addrs = make([]uint64, len(keep))
	o.sizes = make([]uint32, len(keep))
	o.ends = make([]uint32, len(keep))
	var names strings.Builder
	names.Grow(size)
	for i, s := range keep {
		names.Write(name(s))
		o.addrs[i], o.sizes[i], o.ends[i] = s.addr, uint32(min(s.size, math.MaxUint32)), uint32(names.Len())
	}
	o.names = names.String()
}

// betterSym reports whether a names an address better than b does, by
// perf's rules: a symbol with a size, a global or weak one over a local
// one and a global one over a weak one, fewer leading underscores, the
// longer name.
func betterSym(a, b rawELFSym, na, nb []byte) bool {
	if (a.size > 0) != (b.size > 0) {
		return a.size > 0
	}
	if a.rank != b.rank {
		return a.rank > b.rank
	}
	if ua, ub := leadingUnderscores(na), leadingUnderscores(nb); ua != ub {
		return ua < ub
	}
	return len(na) > len(nb)
}

// memSize estimates the bytes the table holds.
func (o *objSyms) memSize() int {
	n := len(o.buildID) + 32*cap(o.loads) + 8*cap(o.addrs) + 4*cap(o.sizes) + 4*cap(o.ends) + len(o.names)
	if o.gotab != nil {
		n += o.gotab.memSize()
	}
	return n
}

// vaddr converts a file offset to the ELF virtual address it is loaded at.
func (o *objSyms) vaddr(off uint64) uint64 {
	for _, l := range o.loads {
		if off >= l.off && off-l.off < l.filesz {
			return off - l.off + l.vaddr
		}
	}
	return off
}

// resolve names the ELF virtual address va in fr by the Go pclntab, with
// file, line and inlined calls, or else by the symbols. named is false if
// neither knows va. dw, if not nil, is the DWARF that can refine fr
// (refineDWARF), which a Go function's frame needs not.
func (o *objSyms) resolve(fr *Frame, va uint64) (named bool, dw *dwarfTable) {
	if g := o.gotab; g != nil {
		if i, ok := g.find(va); ok {
			fr.Func, fr.Offset = g.funcName(i), va-g.funcEntry(i)
			var at uint64
			fr.Inlined, at, fr.InlineKnown = g.inlined(nil, i, va)
			fr.File, fr.Line = g.pos(i, at)
			return true, nil
		}
	}
	if name, start, ok := o.sym(va); ok {
		fr.Func, fr.Offset = name, va-start
		return true, o.dwarf
	}
	return false, o.dwarf
}

// sym finds the function symbol holding vaddr.
func (o *objSyms) sym(vaddr uint64) (name string, start uint64, ok bool) {
	lo := searchAfter(o.addrs, vaddr, func(e *uint64) uint64 { return *e })
	i := lo - 1
	if i < 0 {
		return "", 0, false
	}
	if sz := o.sizes[i]; sz != 0 && vaddr-o.addrs[i] >= uint64(sz) {
		return "", 0, false
	}
	begin := uint32(0)
	if i > 0 {
		begin = o.ends[i-1]
	}
	return o.names[begin:o.ends[i]], o.addrs[i], true
}
