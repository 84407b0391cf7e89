package symbolize

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/sampler"
)

func TestParseBuildIDNote(t *testing.T) {
	le := binary.LittleEndian
	note := func(name string, typ uint32, desc []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, le, uint32(len(name)))
		binary.Write(&b, le, uint32(len(desc)))
		binary.Write(&b, le, typ)
		b.WriteString(name)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		b.Write(desc)
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
		return b.Bytes()
	}
	id := []byte{0xde, 0xad, 0xbe, 0xef, 1}
	data := append(note("Linux\x00", 6, []byte("x")), note("GNU\x00", ntGNUBuildID, id)...)
	if got, ok := parseBuildIDNote(data, le); !ok || got != "deadbeef01" {
		t.Errorf("build id %q %v", got, ok)
	}
	for _, bad := range [][]byte{nil, data[:10], data[:len(data)-8], note("GNU\x00", 1, id)} {
		if got, ok := parseBuildIDNote(bad, le); ok {
			t.Errorf("found %q in %x", got, bad)
		}
	}
	// Sizes that overflow.
	huge := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0}
	if _, ok := parseBuildIDNote(huge, le); ok {
		t.Error("found a build id in a truncated note")
	}
}

func loadELFFile(tb testing.TB, path string) *objSyms {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	o, err := loadELF(f, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return o
}

func TestLoadELF(t *testing.T) {
	full := loadELFFile(t, "testdata/libtiny.so")
	stripped := loadELFFile(t, "testdata/libtiny-stripped.so")
	if len(full.buildID) != 40 || stripped.buildID != "5712199ed0000000000000000000000000000001" {
		t.Errorf("build ids %q, %q", full.buildID, stripped.buildID)
	}
	for _, tc := range []struct {
		o      *objSyms
		vaddr  uint64
		name   string
		offset uint64
		ok     bool
	}{
		{full, 0x1000, "tiny_add", 0, true},
		{full, 0x100b, "tiny_add", 0xb, true},
		{full, 0x100c, "", 0, false}, // padding after tiny_add
		{full, 0x1020, "tiny_static", 0x10, true},
		{full, 0x1060, "tiny_loop", 0x10, true},
		{stripped, 0x1060, "tiny_loop", 0x10, true},
		{stripped, 0x1020, "", 0, false}, // static: not in .dynsym
		{full, 0x10, "", 0, false},
	} {
		name, start, ok := tc.o.sym(tc.vaddr)
		if name != tc.name || ok != tc.ok || (ok && tc.vaddr-start != tc.offset) {
			t.Errorf("%#x: %s+%#x %v, want %s+%#x", tc.vaddr, name, tc.vaddr-start, ok, tc.name, tc.offset)
		}
	}
	if full.gotab != nil {
		t.Error("C library with a Go table")
	}
	o := &objSyms{loads: []elfLoad{{off: 0x2f40, vaddr: 0x3f40, filesz: 0xc0}, {off: 0x1000, vaddr: 0x1000, filesz: 0x7f}}}
	if v := o.vaddr(0x2f50); v != 0x3f50 {
		t.Errorf("vaddr %#x", v)
	}
	if v := o.vaddr(0x9000); v != 0x9000 {
		t.Errorf("vaddr outside segments %#x", v)
	}
}

// tinyELF writes a small x86-64 ELF file with every part loadELF reads: a
// build ID note, .symtab, .dynsym with a PLT relocation and .plt, and a
// .gnu_debuglink. It is a fuzz seed: kilobyte-sized real files make each
// mutation (and the minimization of each new input) slow.
func tinyELF() []byte {
	le := binary.LittleEndian
	note := le.AppendUint32(nil, 4) // name size
	note = le.AppendUint32(note, 8) // descriptor size
	note = le.AppendUint32(note, 3) // NT_GNU_BUILD_ID
	note = append(note, "GNU\x00\x01\x02\x03\x04\x05\x06\x07\x08"...)
	var dyn bytes.Buffer
	binary.Write(&dyn, le, elf.Sym64{})
	// .strtab starts "\x00f\x00": name 1 is the first symbol's, "f".
	binary.Write(&dyn, le, elf.Sym64{Name: 1, Info: elf.ST_INFO(elf.STB_GLOBAL, elf.STT_FUNC)})
	rela := le.AppendUint64(nil, 0x3018)                     // offset in the GOT
	rela = le.AppendUint64(rela, 1<<32|7)                    // symbol 1, R_X86_64_JUMP_SLOT
	rela = le.AppendUint64(rela, 0)                          // addend
	link := append([]byte("tiny.debug\x00\x00"), 1, 2, 3, 4) // name, padding, CRC
	return writeTestELF([]testSection{
		{name: ".text", typ: elf.SHT_PROGBITS, addr: 0x1000, data: make([]byte, 0x20)},
		{name: ".note.gnu.build-id", typ: elf.SHT_NOTE, data: note},
		{name: ".dynsym", typ: elf.SHT_DYNSYM, data: dyn.Bytes()},
		{name: ".rela.plt", typ: elf.SHT_RELA, data: rela},
		{name: ".plt", typ: elf.SHT_PROGBITS, addr: 0x2000, data: make([]byte, 0x20)},
		{name: ".gnu_debuglink", typ: elf.SHT_PROGBITS, data: link},
	}, []testSym{
		{name: "f", typ: elf.STT_FUNC, shndx: 1, value: 0x1000, size: 0x10},
		{name: "g", typ: elf.STT_FUNC, shndx: 1, value: 0x1010, size: 0x10},
		{name: "d", typ: elf.STT_OBJECT, shndx: 1, value: 0x1018, size: 8},
	})
}

// truncateSymtab returns file with its .symtab section one and a half
// symbols long.
func truncateSymtab(tb testing.TB, file []byte) []byte {
	tb.Helper()
	f, err := elf.NewFile(bytes.NewReader(file))
	if err != nil {
		tb.Fatal(err)
	}
	shoff := binary.LittleEndian.Uint64(file[0x28:])
	out := append([]byte(nil), file...)
	for i, s := range f.Sections {
		if s.Type == elf.SHT_SYMTAB {
			binary.LittleEndian.PutUint64(out[shoff+uint64(i)*64+32:], elf.Sym64Size*3/2)
			return out
		}
	}
	tb.Fatal("no .symtab")
	return nil
}

func TestTinyELF(t *testing.T) {
	o, err := loadELF(bytes.NewReader(tinyELF()), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.buildID != "0102030405060708" {
		t.Errorf("build ID %q", o.buildID)
	}
	for _, tc := range []struct {
		addr uint64
		name string
	}{{0x1004, "f"}, {0x1010, "g"}, {0x2010, "f@plt"}} {
		if name, _, ok := o.sym(tc.addr); !ok || name != tc.name {
			t.Errorf("%#x: %q %v, want %s", tc.addr, name, ok, tc.name)
		}
	}
	// debug/elf reads the whole entries of a truncated table, or fails.
	if o, err := loadELF(bytes.NewReader(truncateSymtab(t, tinyELF())), nil); (err == nil) == (o == nil) {
		t.Errorf("truncated .symtab: table %v, error %v", o != nil, err)
	}
}

// FuzzLoadELF checks that any file loads without panicking, that an error
// comes with no table, and that a table is sorted and its lookups land on
// its own symbols. The seeds are small synthetic files (whole binaries are
// tested in TestLoadELF and TestLoadELFGo): a C library with every part
// loadELF reads, the same with a truncated .symtab, and Go binaries with a
// .gopclntab section or a pclntab merged into .rodata.
func FuzzLoadELF(f *testing.F) {
	f.Add(tinyELF())
	f.Add(truncateSymtab(f, tinyELF()))
	for _, merged := range []bool{false, true} {
		data, _ := testGoELF(merged)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := loadELF(bytes.NewReader(data), nil)
		if err != nil {
			if o != nil {
				t.Fatal("table with an error")
			}
			return
		}
		if !slices.IsSorted(o.addrs) {
			t.Fatal("symbol addresses not sorted")
		}
		for _, a := range o.addrs {
			if _, start, ok := o.sym(a); ok && start > a {
				t.Fatalf("%#x: symbol starts after it at %#x", a, start)
			}
			o.sym(a + 1)
		}
		o.vaddr(0x1000)
		if o.gotab != nil {
			o.gotab.lookup(o.gotab.start)
		}
	})
}

// fakeProcess writes procfs files for pid under dir.
func fakeProcess(tb testing.TB, dir string, pid int, comm, maps string) {
	tb.Helper()
	pd := filepath.Join(dir, fmt.Sprint(pid))
	if err := os.MkdirAll(pd, 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pd, "comm"), []byte(comm+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pd, "maps"), []byte(maps), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func abs(tb testing.TB, p string) string {
	tb.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestUserFromMaps(t *testing.T) {
	dir := fakeProc(t)
	lib, stripped := abs(t, "testdata/libtiny.so"), abs(t, "testdata/libtiny-stripped.so")
	fakeProcess(t, dir, 100, "tiny", fmt.Sprintf(""+
		"7f0000000000-7f0000001000 r--p 00000000 fd:01 11 %s\n"+
		"7f0000001000-7f0000002000 r-xp 00001000 fd:01 11 %s\n"+
		"7f1000001000-7f1000002000 r-xp 00001000 fd:01 12 %s\n"+
		"7f2000000000-7f2000001000 r-xp 00000000 00:00 0 \n"+
		"7f3000001000-7f3000002000 r-xp 00001000 fd:01 13 %s\n", lib, lib, stripped, lib))
	// The same library (same device and inode) in another process.
	fakeProcess(t, dir, 101, "tiny2", fmt.Sprintf("7e0000001000-7e0000002000 r-xp 00001000 fd:01 11 %s\n", lib))
	s, err := newSymbolizer(Options{ProcDir: dir}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Comm(100) != "tiny" || s.Comm(101) != "tiny2" || s.Comm(0) != "swapper" {
		t.Errorf("comms %q %q", s.Comm(100), s.Comm(101))
	}
	f := s.User(100, 0x7f0000001064, 0)
	if f.Kind != KindUser || f.Func != "tiny_loop" || f.Offset != 0x14 || f.Mapping == nil {
		t.Fatalf("%+v", f)
	}
	m := f.Mapping
	if m.File != lib || m.Start != 0x7f0000001000 || m.Limit != 0x7f0000002000 || m.Offset != 0x1000 || len(m.BuildID) != 40 {
		t.Errorf("mapping %+v", m)
	}
	if f := s.User(101, 0x7e0000001004, 0); f.Func != "tiny_add" || f.Mapping.BuildID != m.BuildID {
		t.Errorf("other process %+v", f)
	}
	if len(s.objs) != 4 { // libtiny.so as inodes 11 and 13, the stripped one, [anon]
		t.Errorf("%d objects", len(s.objs))
	}
	sf := s.User(100, 0x7f1000001020, 0)
	if sf.Func != "libtiny-stripped.so+0x1020" || sf.Mapping.BuildID != "5712199ed0000000000000000000000000000001" {
		t.Errorf("stripped %+v", sf)
	}
	if f := s.User(100, 0x7f1000001050, 0); f.Func != "tiny_loop" {
		t.Errorf("stripped, in .dynsym: %+v", f)
	}
	// Another file (inode) with the same build ID: its symbols are not
	// read again.
	if f := s.User(100, 0x7f3000001020, 0); f.Func != "tiny_static" {
		t.Errorf("copy %+v", f)
	}
	if a, b := s.objs[objKey{major: 0xfd, minor: 1, inode: 11}].syms, s.objs[objKey{major: 0xfd, minor: 1, inode: 13}].syms; a != b {
		t.Error("same build id parsed twice")
	}
	if f := s.User(100, 0x7f2000000010, 0); f.Func != "[anon]" || f.Offset != 0x10 {
		t.Errorf("anonymous %+v", f)
	}
	if f := s.User(100, 0x1234, 0); f.Func != unknownFunc || f.Mapping != nil {
		t.Errorf("unmapped %+v", f)
	}
	if f := s.User(999, 0x7f0000001064, 0); f.Func != unknownFunc {
		t.Errorf("unknown process %+v", f)
	}
	// Names of addresses without a symbol are made once.
	a, b := s.User(100, 0x7f1000001020, 0), s.User(100, 0x7f1000001020, 0)
	if a.Func != b.Func || unsafeData(a.Func) != unsafeData(b.Func) {
		t.Error("name of a stripped address made twice")
	}
}

func TestUserRecords(t *testing.T) {
	dir := fakeProc(t)
	lib := abs(t, "testdata/libtiny.so")
	fakeProcess(t, dir, 200, "parent", "")
	s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{200}}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mmap := func(pid uint32, addr, length, pgoff, ino uint64, name string) {
		s.HandleRecord(&sampler.Mmap2{PID: pid, TID: pid, Addr: addr, Len: length, PgOff: pgoff, Maj: 0xfd, Min: 1, Ino: ino, Prot: 5, Filename: name})
	}
	mmap(200, 0x10000, 0x1000, 0x1000, 11, lib)
	if f := s.User(200, 0x10004, 0); f.Func != "tiny_add" {
		t.Fatalf("%+v", f)
	}
	// Not executable: ignored.
	s.HandleRecord(&sampler.Mmap2{PID: 200, TID: 200, Addr: 0x10000, Len: 0x1000, Prot: 3, Filename: "/data"})
	// An untracked process: ignored.
	mmap(300, 0x10000, 0x1000, 0x1000, 11, lib)
	if f := s.User(300, 0x10004, 0); f.Func != unknownFunc {
		t.Errorf("untracked %+v", f)
	}

	s.HandleRecord(&sampler.Fork{PID: 201, PPID: 200, TID: 201, PTID: 200})
	s.HandleRecord(&sampler.Fork{PID: 200, PPID: 200, TID: 205, PTID: 200}) // a thread
	if f := s.User(201, 0x10004, 0); f.Func != "tiny_add" || s.Comm(201) != "parent" {
		t.Errorf("child %+v %q", f, s.Comm(201))
	}
	// The child maps something over half of it; the parent keeps its own.
	mmap(201, 0x10800, 0x1000, 0, 0, "//anon")
	if f := s.User(201, 0x10004, 0); f.Func != "tiny_add" || f.Mapping.Limit != 0x10800 {
		t.Errorf("child's left part %+v %+v", f, f.Mapping)
	}
	if f := s.User(201, 0x10804, 0); f.Func != "[anon]" {
		t.Errorf("child's new mapping %+v", f)
	}
	if f := s.User(200, 0x10804, 0); f.Func == "[anon]" {
		t.Errorf("parent changed by the child: %+v", f)
	}
	// A thread's name is not the process's.
	s.HandleRecord(&sampler.Comm{PID: 201, TID: 202, Comm: "worker"})
	s.HandleRecord(&sampler.Comm{PID: 201, TID: 201, Comm: "renamed"})
	if s.Comm(201) != "renamed" {
		t.Errorf("comm %q", s.Comm(201))
	}
	// Exit keeps it resolvable.
	s.HandleRecord(&sampler.Exit{PID: 201, PPID: 200, TID: 201, PTID: 200})
	if f := s.User(201, 0x10004, 0); f.Func != "tiny_add" || s.Comm(201) != "renamed" {
		t.Errorf("after exit %+v %q", f, s.Comm(201))
	}
	// exec replaces the address space.
	s.HandleRecord(&sampler.Comm{PID: 200, TID: 200, Comm: "newprog", Exec: true})
	if f := s.User(200, 0x10004, 0); f.Func != unknownFunc || s.Comm(200) != "newprog" {
		t.Errorf("after exec %+v %q", f, s.Comm(200))
	}
	mmap(200, 0x20000, 0x1000, 0x1000, 11, lib)
	if f := s.User(200, 0x20050, 0); f.Func != "tiny_loop" {
		t.Errorf("after exec's mmap %+v", f)
	}
}

func TestInsertMap(t *testing.T) {
	obj := &object{path: "/x", base: "x"}
	var maps []*userMap
	maps = insertMap(maps, newUserMap(0x1000, 0x5000, 0, obj, ""))
	maps = insertMap(maps, newUserMap(0x2000, 0x3000, 0x100000, obj, ""))
	var got []string
	for _, m := range maps {
		got = append(got, fmt.Sprintf("%x-%x@%x", m.start, m.limit, m.pgoff))
	}
	if strings.Join(got, " ") != "1000-2000@0 2000-3000@100000 3000-5000@2000" {
		t.Errorf("maps %v", got)
	}
	maps = insertMap(maps, newUserMap(0x0, 0x6000, 0, obj, ""))
	if len(maps) != 1 {
		t.Errorf("%d maps after covering all", len(maps))
	}
}

//go:noinline
func markerPC() uintptr {
	pc, _, _, _ := runtime.Caller(0)
	return pc
}

// TestUserSelf resolves an address of this test binary through the real
// /proc: a Go binary, by its pclntab.
func TestUserSelf(t *testing.T) {
	pid := os.Getpid()
	s, err := newSymbolizer(Options{PIDs: []int{pid}, NoBPF: true}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pc := markerPC()
	fn := runtime.FuncForPC(pc)
	file, line := fn.FileLine(pc)
	f := s.User(uint32(pid), uint64(pc), 0)
	if f.Func != fn.Name() || f.File != file || f.Line != uint32(line) || f.Offset != uint64(pc-fn.Entry()) {
		t.Errorf("%#x: %s %s:%d +%#x, want %s %s:%d", pc, f.Func, f.File, f.Line, f.Offset, fn.Name(), file, line)
	}
	exe, _ := os.Executable()
	if f.Mapping == nil || f.Mapping.File != exe || f.Mapping.BuildID == "" {
		t.Errorf("mapping %+v (executable %s)", f.Mapping, exe)
	}
	if c := s.Comm(uint32(pid)); c == "" {
		t.Error("no comm")
	}
}

// TestUserVDSO resolves an address in this process's vDSO.
func TestUserVDSO(t *testing.T) {
	data, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, _ := parseMaps(bytes.NewReader(data))
	var vdso *mapEntry
	for i := range entries {
		if entries[i].path == "[vdso]" {
			vdso = &entries[i]
		}
	}
	if vdso == nil {
		t.Skip("no vDSO in this process")
	}
	pid := os.Getpid()
	s, err := newSymbolizer(Options{PIDs: []int{pid}, NoBPF: true}, &fakeProgs{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	syms := readVDSO()
	if syms == nil || len(syms.addrs) == 0 {
		t.Fatal("no vDSO symbols")
	}
	found := false
	for i, a := range syms.addrs {
		name, _, _ := syms.sym(a)
		if !strings.Contains(name, "clock_gettime") {
			continue
		}
		found = true
		// vDSO symbols are at their offset in the image.
		addr := vdso.start + a - syms.loads[0].vaddr + syms.loads[0].off
		if f := s.User(uint32(pid), addr+1, 0); f.Func != name || f.Offset != 1 || f.Mapping.File != "[vdso]" {
			t.Errorf("symbol %d %s at %#x: %+v", i, name, addr, f)
		}
		break
	}
	if !found {
		t.Error("no clock_gettime in the vDSO")
	}
}

// TestFramesImmutable resolves frames on one goroutine while another
// reads what frames returned earlier point to, as `bpfprof top` reads a
// live aggregate while recording goes on: Frames, their Mapping and Prog
// must not change once returned. Run with -race; without it, the reader
// still checks that every value it sees again is the one it saw first.
func TestFramesImmutable(t *testing.T) {
	hot := loadProgFixture(t, "hot")
	src := &fakeProgs{infos: map[uint32]*progInfo{hot.Info.ID: &hot.Info}}
	dir := fakeProc(t)
	fakeProcess(t, dir, 100, "tiny", "")
	s, err := newSymbolizer(Options{ProcDir: dir, PIDs: []int{100}}, src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	libs := []string{abs(t, "testdata/libtiny.so"), abs(t, "testdata/libtiny-stripped.so")}

	frames := make(chan Frame, 16)
	done := make(chan error)
	go func() {
		first := map[*Mapping]Mapping{}
		progs := map[*Prog]Prog{}
		var all []Frame
		var err error
		check := func(f Frame) {
			if f.Mapping != nil {
				m := *f.Mapping
				if was, ok := first[f.Mapping]; !ok {
					first[f.Mapping] = m
				} else if was != m && err == nil {
					err = fmt.Errorf("mapping changed from %+v to %+v", was, m)
				}
			}
			if f.Prog != nil {
				p := *f.Prog
				if was, ok := progs[f.Prog]; !ok {
					progs[f.Prog] = p
				} else if was != p && err == nil {
					err = fmt.Errorf("program changed from %+v to %+v", was, p)
				}
			}
		}
		for f := range frames {
			all = append(all, f)
			for _, f := range all {
				check(f)
			}
		}
		done <- err
	}()

	send := func(f Frame) {
		if f.Func == "" {
			t.Errorf("empty name: %+v", f)
		}
		frames <- f
	}
	for i := range uint64(64) {
		// A mapping of one of 8 files (by inode): new, and so not loaded
		// yet, the first 8 times; shared with earlier mappings after.
		addr := 0x7f0000000000 + i*0x100000
		s.HandleRecord(&sampler.Mmap2{PID: 100, TID: 100, Addr: addr, Len: 0x2000, PgOff: 0, Maj: 1, Min: 2, Ino: i%8 + 1, Prot: 5, Filename: libs[i%2]})
		f := s.User(100, addr+0x1060, i)
		if f.Func != "tiny_loop" || f.Mapping == nil || f.Mapping.BuildID == "" {
			t.Fatalf("%+v %+v", f, f.Mapping)
		}
		send(f)
		// A mapping over part of it, cutting the one handed out.
		s.HandleRecord(&sampler.Mmap2{PID: 100, TID: 100, Addr: addr + 0x1800, Len: 0x1000, Maj: 1, Min: 2, Ino: 99, Prot: 5, Filename: "//anon"})
		send(s.User(100, addr+0x1004, i))
		send(s.User(100, addr+0x1810, i))
		if i%16 == 0 {
			s.HandleRecord(&sampler.Fork{PID: uint32(200 + i), PPID: 100, TID: uint32(200 + i), PTID: 100})
			send(s.User(uint32(200+i), addr+0x1004, i))
		}
		// A BPF program loading and unloading.
		base := 1000 * i
		for _, r := range loadRecords(hot, base) {
			s.HandleRecord(r)
		}
		send(s.Kernel(hot.Info.KsymAddrs[0]+1, base+2))
		for _, r := range unloadRecords(hot, base+10) {
			s.HandleRecord(r)
		}
		send(s.Kernel(hot.Info.KsymAddrs[0]+1, base+5))
	}
	close(frames)
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestInsertMapRandom checks insertMap against a plain model: an address
// belongs to the last mapping inserted over it.
func TestInsertMapRandom(t *testing.T) {
	obj := &object{path: "/x", base: "x"}
	const pages = 64
	var owner [pages]int // 1 + index of the mapping holding each page, 0 none
	var maps []*userMap
	seed := uint64(1)
	next := func(n uint64) uint64 {
		seed = seed*6364136223846793005 + 1442695040888963407
		return (seed >> 33) % n
	}
	for i := 1; i <= 500; i++ {
		start := next(pages)
		limit := start + 1 + next(min(8, pages-start))
		maps = insertMap(maps, newUserMap(start*0x1000, limit*0x1000, uint64(i)<<20+start*0x1000, obj, ""))
		for pg := start; pg < limit; pg++ {
			owner[pg] = i
		}
		for j := 1; j < len(maps); j++ {
			if maps[j-1].limit > maps[j].start {
				t.Fatalf("after insert %d: %x-%x overlaps %x-%x", i, maps[j-1].start, maps[j-1].limit, maps[j].start, maps[j].limit)
			}
		}
		p := &process{maps: maps}
		for pg := range uint64(pages) {
			m := p.find(pg * 0x1000)
			switch {
			case owner[pg] == 0 && m != nil:
				t.Fatalf("after insert %d: page %d mapped", i, pg)
			case owner[pg] != 0 && (m == nil || m.pgoff+(pg*0x1000-m.start) != uint64(owner[pg])<<20+pg*0x1000):
				t.Fatalf("after insert %d: page %d in %+v, want insert %d", i, pg, m, owner[pg])
			}
		}
	}
}
