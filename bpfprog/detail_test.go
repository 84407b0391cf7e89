package bpfprog

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// TestReadDetail reads every part of the bundled programs and checks the
// parts against each other and against what the objects hold.
func TestReadDetail(t *testing.T) {
	for _, tc := range []struct {
		obj   string
		funcs []string
		maps  int
	}{
		{testprogs.Hot, []string{testprogs.HotFunc}, 0},
		{testprogs.Subprog, []string{testprogs.SubprogFunc, testprogs.SubprogSubFunc}, 0},
		{testprogs.Maps, []string{testprogs.MapsFunc}, 2},
		{testprogs.Tracepoint, []string{testprogs.TracepointFunc}, 1},
	} {
		t.Run(tc.obj, func(t *testing.T) {
			obj, id := progtest.Load(t, tc.obj)
			d, err := ReadDetail(ID(id), DetailAll)
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != ID(id) || d.FullName != tc.funcs[0] || !strings.HasPrefix(tc.funcs[0], d.Name) || d.Name == "" {
				t.Errorf("id %d name %q full name %q, want %d, a prefix of %q, %q", d.ID, d.Name, d.FullName, id, tc.funcs[0], tc.funcs[0])
			}
			typ := obj.Program().Type()
			if d.Type != Type(typ) {
				t.Errorf("type %v (%s), want %v", d.Type, d.Type.Name(), typ)
			}
			if len(d.Tag) != 16 {
				t.Errorf("tag %q, want 16 hex digits", d.Tag)
			}
			if len(d.Xlated) == 0 || len(d.Xlated)%8 != 0 {
				t.Errorf("xlated %d bytes, want a non-empty multiple of 8", len(d.Xlated))
			}
			if len(d.MapIDs) != tc.maps {
				t.Errorf("map ids %v, want %d", d.MapIDs, tc.maps)
			}

			var names []string
			for i, f := range d.Funcs {
				names = append(names, f.Name)
				if f.Type == nil || f.Type.Name != f.Name {
					t.Errorf("func %d %q: BTF type %v", i, f.Name, f.Type)
				}
				if int(f.Insn)*8 >= len(d.Xlated) || (i > 0 && f.Insn <= d.Funcs[i-1].Insn) {
					t.Errorf("func %d %q at insn %d: out of order or past the %d bytes of code", i, f.Name, f.Insn, len(d.Xlated))
				}
			}
			if !slices.Equal(names, tc.funcs) {
				t.Errorf("funcs %q, want %q", names, tc.funcs)
			}
			if len(d.Lines) == 0 {
				t.Fatal("no line info")
			}
			sourced := 0
			for i, l := range d.Lines {
				if !strings.HasSuffix(l.File, tc.obj+".bpf.c") || (l.Line == 0) != (l.Source == "") ||
					int(l.Insn)*8 >= len(d.Xlated) || (i > 0 && l.Insn < d.Lines[i-1].Insn) {
					t.Errorf("line %d: %+v", i, l)
				}
				if l.Line > 0 {
					sourced++
				}
			}
			// The compiler marks some code as of no line (line 0).
			if sourced < len(d.Lines)/2 {
				t.Errorf("%d of %d lines with a line number and text", sourced, len(d.Lines))
			}

			if d.JITHidden() {
				testutil.SkipOrFail(t, "the kernel hides JIT addresses from this process (kernel.kptr_restrict)")
			}
			if len(d.JITImage) == 0 {
				testutil.SkipOrFail(t, "programs are not JIT compiled here (net.core.bpf_jit_enable=0)")
			}
			if len(d.JitedKsyms) != len(d.Funcs) || len(d.JitedFuncLens) != len(d.Funcs) {
				t.Errorf("%d JIT symbols and %d lengths for %d functions", len(d.JitedKsyms), len(d.JitedFuncLens), len(d.Funcs))
			}
			var size uint32
			for _, n := range d.JitedFuncLens {
				size += n
			}
			if int(size) != len(d.JITImage) {
				t.Errorf("function lengths add up to %d, image is %d bytes", size, len(d.JITImage))
			}
			if len(d.JitedLines) != len(d.Lines) {
				t.Fatalf("%d JIT line addresses for %d lines", len(d.JitedLines), len(d.Lines))
			}
			for i, a := range d.JitedLines {
				if !inJIT(d, a) {
					t.Errorf("line %d at %#x: in no function's image", i, a)
				}
			}
		})
	}
}

// inJIT reports whether addr is in the image of one of d's functions.
func inJIT(d *Detail, addr uint64) bool {
	for i, k := range d.JitedKsyms {
		if addr >= k && addr < k+uint64(d.JitedFuncLens[i]) {
			return true
		}
	}
	return false
}

// TestReadDetailParts checks that only the parts asked for are read.
func TestReadDetailParts(t *testing.T) {
	_, id := progtest.Load(t, testprogs.Subprog)
	d, err := ReadDetail(ID(id), DetailJIT)
	if err != nil {
		t.Fatal(err)
	}
	if d.Funcs != nil || d.Lines != nil || d.JitedLines != nil || d.Xlated != nil || d.JITImage != nil || d.MapIDs != nil {
		t.Errorf("parts not asked for were read: %+v", d)
	}
	if d.FullName != d.Name || d.Tag == "" {
		t.Errorf("name %q full name %q tag %q: want the kernel's name twice, and a tag", d.Name, d.FullName, d.Tag)
	}
	if !d.JITHidden() && len(d.JitedKsyms) != 2 {
		t.Errorf("JIT symbols %#x, want 2", d.JitedKsyms)
	}

	d, err = ReadDetail(ID(id), DetailFuncs|DetailLines)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Funcs) != 2 || d.Funcs[1].Name != testprogs.SubprogSubFunc || d.Funcs[1].Type != nil || len(d.Lines) == 0 {
		t.Errorf("funcs %+v (want names, no types), %d lines", d.Funcs, len(d.Lines))
	}
	if d.JitedKsyms != nil || d.Xlated != nil {
		t.Error("JIT symbols or xlated read without being asked for")
	}
}

// TestReadDetailNoBTF reads a program loaded without BTF: code, no func or
// line info.
func TestReadDetailNoBTF(t *testing.T) {
	testutil.RequireRoot(t, "load BPF programs")
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bpfprof_nobtf", Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Add.Imm(asm.R0, 1), asm.Return()},
	})
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	id, err := IDFromFD(prog.FD())
	if err != nil || id != progID(t, prog) {
		t.Fatalf("IDFromFD = %d, %v; want %d", id, err, progID(t, prog))
	}
	d, err := ReadDetail(id, DetailAll)
	if err != nil {
		t.Fatal(err)
	}
	if d.Funcs != nil || d.Lines != nil || d.JitedLines != nil || len(d.Xlated) != 3*8 || d.FullName != "bpfprof_nobtf" {
		t.Errorf("%d funcs, %d lines, %d JIT lines, %d bytes of xlated, name %q", len(d.Funcs), len(d.Lines), len(d.JitedLines), len(d.Xlated), d.FullName)
	}
	if len(d.JITImage) > 0 && len(d.JitedKsyms) != 1 {
		t.Errorf("JIT symbols %#x for one function", d.JitedKsyms)
	}
}

// TestReadDetailNotFound reads programs that are not loaded: one never
// was, one was and has been unloaded.
func TestReadDetailNotFound(t *testing.T) {
	testutil.RequireRoot(t, "read BPF programs")
	if _, err := ReadDetail(1<<31-1, DetailAll); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "is not loaded") {
		t.Errorf("never loaded: %v, want ErrNotFound", err)
	}

	obj, err := testprogs.Load(testprogs.Hot)
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	id := progID(t, obj.Program())
	if err := obj.Close(); err != nil {
		t.Fatal(err)
	}
	// Another process listing programs may hold it a moment longer.
	for deadline := time.Now().Add(10 * time.Second); ; {
		_, err = ReadDetail(id, DetailAll)
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unloaded: %v, want ErrNotFound", err)
	}
}

// TestJITSymbolsHidden checks that addresses the kernel hid give no JIT
// symbols: a cleared pointer (kptr_restrict) or zero addresses.
func TestJITSymbolsHidden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ksyms  []uint64
		given  bool
		hidden bool
	}{
		{"shown", []uint64{0xffffffffc0001000, 0xffffffffc0002000}, true, false},
		{"pointer cleared", []uint64{0, 0}, false, true},
		{"zero addresses", []uint64{0, 0}, true, true},
		{"one zero", []uint64{0xffffffffc0001000, 0}, true, true},
	} {
		k, l, hidden := jitSymbols(tc.ksyms, []uint32{16, 32}, tc.given)
		if hidden != tc.hidden || (hidden && (k != nil || l != nil)) || (!hidden && (len(k) != 2 || len(l) != 2)) {
			t.Errorf("%s: %#x %v hidden %v", tc.name, k, l, hidden)
		}
	}
}

// TestKernelErrorPermission checks the one-line error of a refused read.
func TestKernelErrorPermission(t *testing.T) {
	for _, errno := range []error{unix.EPERM, unix.EACCES} {
		err := kernelError("opening BPF program 7", errno)
		if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "opening BPF program 7 needs CAP_SYS_ADMIN") {
			t.Errorf("%v: %v", errno, err)
		}
	}
	if err := kernelError("reading", unix.EINVAL); errors.Is(err, ErrPermission) || !errors.Is(err, unix.EINVAL) {
		t.Errorf("EINVAL: %v", err)
	}
}

func TestTypeName(t *testing.T) {
	for typ, want := range map[Type]string{
		TypeSocketFilter: "socket_filter", TypeXDP: "xdp", TypeSchedCLS: "sched_cls",
		TypeTracing: "tracing", TypeSyscall: "syscall", Type(200): "type_200",
	} {
		if got := typ.Name(); got != want {
			t.Errorf("Type(%d).Name() = %q, want %q", typ, got, want)
		}
	}
}

// BenchmarkReadDetail reads a program with a subprogram as symbolize does
// when its PROG_LOAD arrives (JIT symbols, func and line info) and as a
// capture for annotate does (everything), here and through cilium/ebpf's
// ProgramInfo (the reader before bpfprog's), side by side.
func BenchmarkReadDetail(b *testing.B) {
	_, id := progtest.Load(b, testprogs.Subprog)
	b.Run("symbolize/bpfprog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, err := ReadDetail(ID(id), DetailJIT|DetailFuncs|DetailLines)
			if err != nil || len(d.Lines) == 0 {
				b.Fatal(d, err)
			}
		}
	})
	b.Run("symbolize/cilium", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err != nil {
				b.Fatal(err)
			}
			pi, err := p.Info()
			if err != nil {
				b.Fatal(err)
			}
			pi.JitedKsymAddrs()
			pi.JitedFuncLens()
			pi.JitedLineInfos()
			fis, err1 := pi.FuncInfos()
			lis, err2 := pi.LineInfos()
			if err1 != nil || err2 != nil || len(fis) == 0 || len(lis) == 0 {
				b.Fatal(err1, err2)
			}
			p.Close()
		}
	})
	b.Run("capture/bpfprog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, err := ReadDetail(ID(id), DetailAll)
			if err != nil || len(d.Xlated) == 0 {
				b.Fatal(d, err)
			}
		}
	})
	b.Run("capture/cilium", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
			if err != nil {
				b.Fatal(err)
			}
			pi, err := p.Info()
			if err != nil {
				b.Fatal(err)
			}
			insns, err := pi.Instructions()
			if err != nil || len(insns) == 0 {
				b.Fatal(err)
			}
			fis, err1 := pi.FuncInfos()
			lis, err2 := pi.LineInfos()
			if err1 != nil || err2 != nil || len(fis) == 0 || len(lis) == 0 {
				b.Fatal(err1, err2)
			}
			pi.JitedLineInfos()
			pi.JitedInsns()
			pi.JitedKsymAddrs()
			pi.JitedFuncLens()
			pi.MapIDs()
			p.Close()
		}
	})
}
