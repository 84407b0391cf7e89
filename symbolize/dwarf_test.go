package symbolize

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/internal/testutil"
)

// requireTools skips (fails under CI, whose .ci/run installs them) without
// the tools the oracle tests build and compare with.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testutil.SkipOrFail(t, tool+" is not installed (apt-get install gcc binutils)")
		}
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// oracleAddrs lists the addresses of instructions of bin, as objdump
// disassembles them: all of those in functions named by keep (nil: all),
// and every nth of the others.
func oracleAddrs(t *testing.T, bin string, keep func(fn string) bool, nth int) []uint64 {
	out := run(t, "objdump", "-d", "--no-show-raw-insn", "-j", ".text", bin)
	insn := regexp.MustCompile(`^\s+([0-9a-f]+):\s+(\S.*)$`)
	// Padding between functions, which no sample can hit: it lies past
	// the symbol before it.
	padding := regexp.MustCompile(`^(nop|xchg +%ax,%ax|cs nop|data16|int3|ds nop)`)
	fn := regexp.MustCompile(`^[0-9a-f]+ <([^>]+)>:$`)
	var addrs []uint64
	cur, i := "", 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if m := fn.FindStringSubmatch(sc.Text()); m != nil {
			cur = m[1]
			continue
		}
		m := insn.FindStringSubmatch(sc.Text())
		if m == nil || padding.MatchString(m[2]) {
			continue
		}
		a, _ := strconv.ParseUint(m[1], 16, 64)
		if keep == nil || keep(cur) {
			addrs = append(addrs, a)
		} else if i++; nth > 0 && i%nth == 0 {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		t.Fatalf("objdump found no instructions in %s", bin)
	}
	return addrs
}

// addr2line resolves addrs with addr2line -f -i: per address, the
// functions and positions innermost first.
func addr2line(t *testing.T, bin string, addrs []uint64) [][]Line {
	args := []string{"-a", "-f", "-i", "-e", bin}
	for _, a := range addrs {
		args = append(args, fmt.Sprintf("%#x", a))
	}
	out := run(t, "addr2line", args...)
	var res [][]Line
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for i := 0; i < len(lines); {
		if !strings.HasPrefix(lines[i], "0x") {
			t.Fatalf("addr2line output out of step at %q", lines[i])
		}
		i++
		var chain []Line
		for i+1 < len(lines) && !strings.HasPrefix(lines[i], "0x") {
			pos := lines[i+1]
			if j := strings.Index(pos, " (discriminator"); j >= 0 {
				pos = pos[:j]
			}
			file, line, _ := strings.Cut(pos, ":")
			n, _ := strconv.Atoi(line)
			if file == "??" {
				file = ""
			}
			fn := lines[i]
			if fn == "??" {
				fn = ""
			}
			chain = append(chain, Line{Func: fn, File: file, Line: uint32(n)})
			i += 2
		}
		res = append(res, chain)
	}
	if len(res) != len(addrs) {
		t.Fatalf("addr2line answered %d addresses of %d", len(res), len(addrs))
	}
	return res
}

// sameFunc reports whether our name of a function is addr2line's: the
// same, an ELF symbol of a clone of it (msort_with_tmp.part.0 for
// msort_with_tmp) where addr2line gives DWARF's name, another symbol at
// the same address (addr2line picks any alias, we pick perf's), or a Go
// ABI wrapper's name.
func sameFunc(ours, theirs string, aliases map[string]string) bool {
	switch {
	case ours == theirs, theirs != "" && strings.HasPrefix(ours, theirs+"."), theirs == ours+".abi0":
		return true
	}
	a, ok := aliases[ours]
	return ok && a == aliases[theirs]
}

// symbolAliases maps each function symbol of bin to its address.
func symbolAliases(t *testing.T, bin string) map[string]string {
	aliases := map[string]string{}
	for line := range strings.Lines(run(t, "nm", "--defined-only", bin)) {
		if f := strings.Fields(line); len(f) == 3 && strings.ContainsAny(f[1], "tTwWiI") {
			aliases[f[2]] = f[0]
		}
	}
	return aliases
}

// agree reports whether our positions of an address are addr2line's.
// With outerOnly, only the outermost function's name is compared: binutils
// names the inlined frames of Go's DWARF after their caller.
func agree(ours, theirs []Line, aliases map[string]string, outerOnly bool) bool {
	if len(ours) != len(theirs) {
		return false
	}
	for i := range ours {
		o, a := ours[i], theirs[i]
		if (!outerOnly || i == len(ours)-1) && !sameFunc(o.Func, a.Func, aliases) {
			return false
		}
		if a.Line == 0 {
			// addr2line then takes the file from the symbol table's
			// STT_FILE entries (crtstuff.c, iofflush.o), which say
			// nothing of lines.
			continue
		}
		if o.Line != a.Line {
			return false
		}
		if o.File != a.File && a.File != "./"+o.File && !(a.File != "" && !filepath.IsAbs(a.File) && strings.HasSuffix(o.File, "/"+a.File)) {
			return false
		}
	}
	return true
}

// resolveFile symbolizes addrs in the ELF file at path as User does:
// symbols or pclntab, then DWARF.
func resolveFile(t *testing.T, path string, debugDirs []string, cache *dwarfCache, addrs []uint64) [][]Line {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := loadELFFrom(f, elfSource{opened: path, path: path, debugDirs: debugDirs, dwarf: cache}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var res [][]Line
	for _, a := range addrs {
		fr := Frame{Kind: KindUser, Addr: a}
		named, dw := o.resolve(&fr, a)
		if dw != nil {
			refineDWARF(&fr, dw, a, named)
		}
		res = append(res, fr.Lines(nil))
	}
	return res
}

// checkOracle compares our symbolization of addrs in bin with addr2line's
// on at least 99% of them, and returns the share that agreed.
func checkOracle(t *testing.T, bin string, ours [][]Line, addrs []uint64) float64 {
	t.Helper()
	return checkOracleGo(t, bin, ours, addrs, false)
}

// checkOracleGo is checkOracle, comparing only the outermost names with
// outerOnly.
func checkOracleGo(t *testing.T, bin string, ours [][]Line, addrs []uint64, outerOnly bool) float64 {
	t.Helper()
	theirs := addr2line(t, bin, addrs)
	aliases := symbolAliases(t, bin)
	bad := 0
	for i := range addrs {
		if !agree(ours[i], theirs[i], aliases, outerOnly) {
			if bad++; bad <= 10 {
				t.Logf("%#x: ours %v, addr2line %v", addrs[i], ours[i], theirs[i])
			}
		}
	}
	share := 1 - float64(bad)/float64(len(addrs))
	t.Logf("%s: %d of %d addresses agree with addr2line (%.2f%%)", filepath.Base(bin), len(addrs)-bad, len(addrs), 100*share)
	if share < 0.99 {
		t.Errorf("%s: only %.2f%% of %d addresses agree with addr2line -f -i, want 99%%", bin, 100*share, len(addrs))
	}
	return share
}

// buildProg compiles testdata/dwarf/prog.c with gcc -O2 -g and extra flags.
func buildProg(t *testing.T, dir, name string, flags ...string) string {
	src, err := filepath.Abs("testdata/dwarf/prog.c")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	run(t, "gcc", append(append([]string{"-O2", "-g", "-Wl,--build-id", "-o", bin}, flags...), src)...)
	return bin
}

// oracleFunc reports whether fn is a function of prog.c, clones included.
func oracleFunc(fn string) bool {
	base, _, _ := strings.Cut(fn, ".")
	switch base {
	case "leaf", "scale", "check", "die", "must_be_positive", "work", "main":
		return true
	}
	return false
}

// TestDWARFOracle checks functions, inlined calls and file:line against
// addr2line -f -i for binaries gcc builds with static, inlined and cloned
// functions (constprop, part, cold): dynamic, static, stripped with a
// debug link, stripped with the debug file found by build ID.
func TestDWARFOracle(t *testing.T) {
	requireTools(t, "gcc", "addr2line", "objdump", "objcopy")
	dir := t.TempDir()
	cache := newDWARFCache(0)

	t.Run("dynamic", func(t *testing.T) {
		bin := buildProg(t, dir, "prog")
		syms := run(t, "nm", bin)
		for _, clone := range []string{"scale.constprop.0", "check.part.0", "must_be_positive.cold"} {
			if !strings.Contains(syms, clone) {
				t.Logf("gcc made no %s: this compiler clones differently", clone)
			}
		}
		addrs := oracleAddrs(t, bin, nil, 0)
		ours := resolveFile(t, bin, nil, cache, addrs)
		checkOracle(t, bin, ours, addrs)
		// Inlined calls, innermost first, ending in the function
		// they were inlined into.
		inlined := 0
		for _, l := range ours {
			if len(l) > 1 {
				inlined++
				if !oracleFunc(l[len(l)-1].Func) {
					t.Errorf("inline chain %v ends outside prog.c's functions", l)
				}
			}
		}
		if inlined == 0 {
			t.Error("no address has inlined calls")
		}
	})
	t.Run("relative", func(t *testing.T) {
		// Compiled from its directory: DWARF holds the file relative
		// to the compilation directory.
		src, err := os.ReadFile("testdata/dwarf/prog.c")
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "rel")
		if err := os.MkdirAll(filepath.Join(sub, "src"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "src", "prog.c"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("gcc", "-O2", "-g", "-o", "prog", "src/prog.c")
		cmd.Dir = sub
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		bin := filepath.Join(sub, "prog")
		addrs := oracleAddrs(t, bin, nil, 0)
		ours := resolveFile(t, bin, nil, cache, addrs)
		checkOracle(t, bin, ours, addrs)
		for _, l := range ours {
			if f := l[len(l)-1].File; f != "" && !filepath.IsAbs(f) {
				t.Fatalf("file %q is not joined to the compilation directory", f)
			}
		}
	})
	t.Run("static", func(t *testing.T) {
		bin := buildProg(t, dir, "prog-static", "-static")
		addrs := oracleAddrs(t, bin, oracleFunc, 40)
		checkOracle(t, bin, resolveFile(t, bin, nil, cache, addrs), addrs)
	})
	t.Run("debuglink", func(t *testing.T) {
		full := buildProg(t, dir, "prog-full")
		sub := filepath.Join(dir, "link")
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		bin := filepath.Join(sub, "prog")
		run(t, "objcopy", "--only-keep-debug", full, filepath.Join(sub, "prog.debug"))
		// No build ID, so that only the debug link finds it.
		run(t, "objcopy", "--strip-all", "--remove-section=.note.gnu.build-id", "--add-gnu-debuglink="+filepath.Join(sub, "prog.debug"), full, bin)
		addrs := oracleAddrs(t, full, nil, 0)
		ours := resolveFile(t, bin, []string{filepath.Join(dir, "nowhere")}, cache, addrs)
		checkOracle(t, full, ours, addrs)
		// A debug file with another CRC is not the stripped file's.
		if err := os.WriteFile(filepath.Join(sub, "prog.debug"), []byte("not it"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, l := range resolveFile(t, bin, []string{filepath.Join(dir, "nowhere")}, newDWARFCache(0), addrs[:1]) {
			if l[len(l)-1].File != "" {
				t.Errorf("a debug file with the wrong CRC gave %v", l)
			}
		}
	})
	t.Run("build-id", func(t *testing.T) {
		full := buildProg(t, dir, "prog-bid")
		stripped := filepath.Join(dir, "prog-bid-stripped")
		run(t, "objcopy", "--strip-all", full, stripped)
		f, err := os.Open(full)
		if err != nil {
			t.Fatal(err)
		}
		o, err := loadELF(f, nil)
		f.Close()
		if err != nil || len(o.buildID) < 4 {
			t.Fatalf("build ID of %s: %v", full, err)
		}
		debug := filepath.Join(dir, "debugroot")
		idDir := filepath.Join(debug, ".build-id", o.buildID[:2])
		if err := os.MkdirAll(idDir, 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, "objcopy", "--only-keep-debug", full, filepath.Join(idDir, o.buildID[2:]+".debug"))
		addrs := oracleAddrs(t, full, nil, 0)
		checkOracle(t, full, resolveFile(t, stripped, []string{debug}, cache, addrs), addrs)
		// Without the debug file, the stripped binary names only its
		// dynamic symbols.
		named := 0
		for _, l := range resolveFile(t, stripped, []string{filepath.Join(dir, "nowhere")}, newDWARFCache(0), addrs) {
			if l[len(l)-1].File != "" {
				t.Fatalf("stripped binary without debug info has lines: %v", l)
			}
			if oracleFunc(l[len(l)-1].Func) && l[len(l)-1].Func != "main" {
				named++
			}
		}
		if named > 0 {
			t.Errorf("%d addresses of static functions named without their debug file", named)
		}
	})
	t.Run("minidebuginfo", func(t *testing.T) {
		requireTools(t, "xz")
		full := buildProg(t, dir, "prog-mini")
		mini := filepath.Join(dir, "mini")
		// As Fedora's find-debuginfo makes it: the function symbols
		// in an xz-compressed ELF in .gnu_debugdata.
		var keep strings.Builder
		for line := range strings.Lines(run(t, "nm", "--defined-only", full)) {
			if f := strings.Fields(line); len(f) == 3 && (f[1] == "t" || f[1] == "T") {
				keep.WriteString(f[2] + "\n")
			}
		}
		if err := os.WriteFile(mini+".keep", []byte(keep.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		run(t, "objcopy", "--only-keep-debug", full, mini+".debug")
		run(t, "objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment", "--keep-symbols="+mini+".keep", mini+".debug", mini+".syms")
		run(t, "xz", "-k", "-f", mini+".syms")
		bin := filepath.Join(dir, "prog-mini-stripped")
		run(t, "objcopy", "--strip-all", "--remove-section=.note.gnu.build-id", "--add-section", ".gnu_debugdata="+mini+".syms.xz", full, bin)
		addrs := oracleAddrs(t, full, oracleFunc, 0)
		ours := resolveFile(t, bin, []string{filepath.Join(dir, "nowhere")}, cache, addrs)
		theirs := addr2line(t, full, addrs)
		bad := 0
		for i := range addrs {
			// Names only: MiniDebugInfo has no lines.
			if !sameFunc(ours[i][len(ours[i])-1].Func, theirs[i][len(theirs[i])-1].Func, nil) {
				if bad++; bad <= 5 {
					t.Logf("%#x: ours %v, addr2line %v", addrs[i], ours[i], theirs[i])
				}
			}
		}
		if bad > len(addrs)/100 {
			t.Errorf("%d of %d addresses misnamed from .gnu_debugdata", bad, len(addrs))
		}
	})
	t.Run("budget", func(t *testing.T) {
		// Over its budget, the cache drops the least recently used
		// file's DWARF, and reads it again when needed.
		a, b := filepath.Join(dir, "prog"), filepath.Join(dir, "prog-full")
		small := newDWARFCache(1)
		ta, tb := small.table("a", []string{a}), small.table("b", []string{b})
		va := oracleAddrs(t, a, func(fn string) bool { return fn == "leaf" }, 0)[0]
		if _, ok := ta.lookup(va); !ok {
			t.Fatal("no DWARF for leaf")
		}
		heldA := small.Held()
		if heldA <= 0 || int64(heldA) != ta.bytes.Load() {
			t.Fatalf("held %d after one file, the table counts %d", heldA, ta.bytes.Load())
		}
		if _, ok := tb.lookup(va); !ok {
			t.Fatal("no DWARF for leaf in the second file")
		}
		if ta.bytes.Load() != 0 || int64(small.Held()) != tb.bytes.Load() {
			t.Errorf("over budget: first file holds %d, cache %d, second file %d; want the first dropped", ta.bytes.Load(), small.Held(), tb.bytes.Load())
		}
		if l, ok := ta.lookup(va); !ok || l[len(l)-1].Func != "leaf" {
			t.Errorf("dropped file read again: %v, %v", l, ok)
		}
		if tb.bytes.Load() != 0 {
			t.Errorf("second file not dropped when the first came back")
		}
	})
	if held := cache.Held(); held <= 0 {
		t.Errorf("the DWARF cache holds %d bytes after use", held)
	}
}

// TestDWARFOracleGo checks a Go binary's functions, inlined calls and
// lines, which come from its pclntab, against addr2line's reading of its
// DWARF.
func TestDWARFOracleGo(t *testing.T) {
	requireTools(t, "addr2line", "objdump")
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(`package main

import (
	"fmt"
	"os"
	"strings"
)

func square(x int) int { return x * x }

//go:noinline
func sum(n int) int {
	s := 0
	for i := range n {
		s += square(i)
	}
	return s
}

func main() {
	fmt.Println(sum(len(os.Args)*1000), strings.Repeat("x", 3))
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "gobin")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Dir = dir
	// binutils 2.40's addr2line cannot read the DWARF 5 that Go 1.25
	// and later write by default; ours comes from the pclntab anyway.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GO111MODULE=off", "GOEXPERIMENT=nodwarf5")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addrs := oracleAddrs(t, bin, func(fn string) bool { return strings.HasPrefix(fn, "main.") }, 97)
	checkOracleGo(t, bin, resolveFile(t, bin, nil, newDWARFCache(0), addrs), addrs, true)
	// The inlined calls' own names, which addr2line gets wrong, come
	// from the pclntab: main.sum inlines main.square.
	found := false
	for _, l := range resolveFile(t, bin, nil, newDWARFCache(0), oracleAddrs(t, bin, func(fn string) bool { return fn == "main.sum" }, 0)) {
		if len(l) == 2 && l[0].Func == "main.square" && l[1].Func == "main.sum" {
			found = true
		}
	}
	if !found {
		t.Error("no address of main.sum has main.square inlined")
	}
}

func TestParseDebugLink(t *testing.T) {
	data := append([]byte("libc.so.6.debug\x00"), 0, 0, 0, 0)
	data = binary.LittleEndian.AppendUint32(data[:16], 0xdeadbeef)
	if name, crc, ok := parseDebugLink(data, binary.LittleEndian); !ok || name != "libc.so.6.debug" || crc != 0xdeadbeef {
		t.Errorf("parseDebugLink = %q, %#x, %v", name, crc, ok)
	}
	for _, bad := range [][]byte{nil, {0}, []byte("abc"), []byte("abc\x00\x01"), append([]byte("../x\x00\x00\x00\x00"), 1, 2, 3, 4)} {
		if name, _, ok := parseDebugLink(bad, binary.LittleEndian); ok {
			t.Errorf("parseDebugLink(%q) = %q, want none", bad, name)
		}
	}
	got := debugCandidates("/usr/lib/x/libfoo.so", "abcdef", "libfoo.debug", []string{"/usr/lib/debug"})
	var paths []string
	for _, c := range got {
		paths = append(paths, c.path)
	}
	want := []string{"/usr/lib/debug/.build-id/ab/cdef.debug", "/usr/lib/x/libfoo.debug", "/usr/lib/x/.debug/libfoo.debug", "/usr/lib/debug/usr/lib/x/libfoo.debug"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("debugCandidates = %q, want %q", paths, want)
	}
}

func FuzzMiniDebugData(f *testing.F) {
	f.Add([]byte{0xfd, '7', 'z', 'X', 'Z', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := miniDebugData(bytes.NewReader(data))
		if err != nil && out != nil {
			t.Fatal("error with data")
		}
	})
}

// BenchmarkDWARFFirstTouch measures the first touch of a large binary with
// DWARF, as scripts/bench-dwarf.sh builds one: reading its symbols and
// resolving the addresses in $BPFPROF_BENCH_DWARF_ADDRS (hex, one a line)
// with file, line and inlined calls, from a cold cache. It reports the
// DWARF the cache holds after (held-MiB) and the live heap growth
// (heap-MiB). Skipped without $BPFPROF_BENCH_DWARF (the binary).
func BenchmarkDWARFFirstTouch(b *testing.B) {
	bin, list := os.Getenv("BPFPROF_BENCH_DWARF"), os.Getenv("BPFPROF_BENCH_DWARF_ADDRS")
	if bin == "" || list == "" {
		b.Skip("set BPFPROF_BENCH_DWARF and BPFPROF_BENCH_DWARF_ADDRS (scripts/bench-dwarf.sh does)")
	}
	data, err := os.ReadFile(list)
	if err != nil {
		b.Fatal(err)
	}
	var addrs []uint64
	for _, f := range strings.Fields(string(data)) {
		a, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 64)
		if err != nil {
			b.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	var held, heap uint64
	var lines int
	var cpu time.Duration
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cpu0 := cpuTime()
		cache := newDWARFCache(0)
		f, err := os.Open(bin)
		if err != nil {
			b.Fatal(err)
		}
		o, err := loadELFFrom(f, elfSource{opened: bin, path: bin, dwarf: cache}, nil)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		lines = 0
		for _, a := range addrs {
			fr := Frame{Addr: a}
			named, dw := o.resolve(&fr, a)
			if dw != nil {
				refineDWARF(&fr, dw, a, named)
			}
			if fr.Line != 0 {
				lines++
			}
		}
		cpu += cpuTime() - cpu0
		runtime.GC()
		runtime.ReadMemStats(&after)
		held = uint64(cache.Held())
		heap = after.HeapAlloc - min(after.HeapAlloc, before.HeapAlloc)
		runtime.KeepAlive(o)
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(held)/(1<<20), "held-MiB")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(lines), "with-lines")
	b.ReportMetric(float64(len(addrs)), "addrs")
}

// cpuTime is the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLibcDebugInfo resolves libc as installed, with libc6-dbg's separate
// debug info found by build ID: local functions perf names at the root of
// C stacks and inside qsort get their names, and DWARF their lines.
func TestLibcDebugInfo(t *testing.T) {
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	if _, err := os.Stat(libc); err != nil {
		testutil.SkipOrFail(t, "no glibc at "+libc+" on this machine")
	}
	if _, err := os.Stat(filepath.Join(DefaultDebugDir, ".build-id")); err != nil {
		testutil.SkipOrFail(t, "no separate debug info (apt-get install libc6-dbg)")
	}
	f, err := os.Open(libc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	o, err := loadELFFrom(f, elfSource{opened: libc, path: libc, debugDirs: []string{DefaultDebugDir}, dwarf: newDWARFCache(0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"__libc_start_call_main": false, "msort_with_tmp.part.0": false}
	for i := range o.addrs {
		begin := uint32(0)
		if i > 0 {
			begin = o.ends[i-1]
		}
		name := o.names[begin:o.ends[i]]
		if _, ok := want[name]; !ok {
			continue
		}
		want[name] = true
		fr := Frame{}
		named, dw := o.resolve(&fr, o.addrs[i]+4)
		if !named || fr.Func != name {
			t.Errorf("%#x resolves to %q, want %s", o.addrs[i]+4, fr.Func, name)
		}
		if dw == nil {
			t.Errorf("%s: no DWARF found for libc", name)
			continue
		}
		refineDWARF(&fr, dw, o.addrs[i]+4, named)
		if fr.Line == 0 || fr.File == "" {
			t.Errorf("%s: no source line from DWARF: %+v", name, fr)
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("libc's symbols lack %s: its debug file was not found or read", name)
		}
	}
}
