package annotate

import (
	"io"
	"os/exec"
	"strconv"
	"syscall"
	"testing"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// x86Pattern is real x86-64 machine code of the kind the BPF JIT emits
// (loads, ALU, compare and branch, a call), repeated to make a large
// image (ten instructions).
var x86Pattern = []byte{
	0x48, 0x8b, 0x7b, 0x70, // mov 0x70(%rbx),%rdi
	0x48, 0x89, 0xfe, // mov %rdi,%rsi
	0x48, 0x81, 0xe6, 0xff, 0x03, 0x00, 0x00, // and $0x3ff,%rsi
	0x89, 0x75, 0xfc, // mov %esi,-0x4(%rbp)
	0x48, 0x83, 0xc6, 0xfc, // add $-0x4,%rsi
	0x48, 0x85, 0xc0, // test %rax,%rax
	0x74, 0x04, // je +4
	0x48, 0x83, 0xc0, 0x38, // add $0x38,%rax
	0xe8, 0x00, 0x10, 0x00, 0x00, // call rel32
	0xf0, 0x4c, 0x01, 0x28, // lock add %r13,(%rax)
}

// bigProgram generates a program of about n xlated instructions in 10
// functions, with a line record every 4 instructions and a JIT image of
// x86Pattern, and samples on every 7th machine instruction.
func bigProgram(n int) (*Program, Counts) {
	const funcs = 10
	const base uint64 = 0xffffffffa0000000
	p := &Program{ID: 1, Tag: "00112233445566ff", Name: "big", Type: "xdp", Maps: []Map{{ID: 5, Name: "m"}}}
	per := n / funcs
	xl := make([]byte, 0, n*8)
	put := func(b []byte) { xl = append(xl, b...) }
	var img []byte
	var addrs []uint64
	var lens []uint32
	c := Counts{ByAddr: map[uint64]uint64{}, Total: 1 << 20}
	for f := range funcs {
		start := len(xl) / 8
		p.Funcs = append(p.Funcs, Func{Insn: uint32(start), Name: "f" + strconv.Itoa(f), Signature: "static int f(int x)"})
		addr := base + uint64(len(img)+f*64) // images are apart in the kernel
		fimg := len(img)
		for i := 0; i < per; {
			slot := len(xl) / 8
			if (slot-start)%4 == 0 {
				off := len(img) - fimg
				p.Lines = append(p.Lines, Line{Insn: uint32(slot), File: "big.c", Line: uint32(slot/4 + 1), Col: 3,
					Text: "acc = (acc + i) * 40503u ^ (acc >> 5);", JITAddr: addr + uint64(off)})
				// Displacements and immediates vary as they do in
				// real code, so identical instructions repeat only as
				// much as they would.
				at := len(img)
				img = append(img, x86Pattern...)
				img[at+3] = byte(slot)                          // mov disp8
				hostEndian.PutUint32(img[at+10:], uint32(slot)) // and imm32
				img[at+16] = byte(-slot)                        // mov disp8
				img[at+20] = byte(slot >> 3)                    // add imm8
				for k := 0; k < len(x86Pattern); k += 7 {
					c.ByAddr[addr+uint64(off)] += uint64(k + 1)
				}
			}
			switch i % 8 {
			case 0:
				put(raw(0x61, 1, 6, 32, 0))
			case 1:
				put(raw(0x07, 1, 0, 0, 1))
			case 2:
				put(raw(0x55, 1, 0, 1, 256))
			case 3:
				put(raw(0x85, 0, 0, 0, 1))
			case 4:
				put(append(raw(0x18, 1, 1, 0, 5), raw(0, 0, 0, 0, 0)...))
				i++
			case 5:
				put(raw(0xdb, 0, 1, 0, 0))
			case 6:
				put(raw(0xbf, 2, 10, 0, 0))
			default:
				put(raw(0x05, 0, 0, -3, 0))
			}
			i++
		}
		addrs = append(addrs, addr)
		lens = append(lens, uint32(len(img)-fimg))
	}
	p.Xlated = xl
	p.JIT = &JIT{Image: img, Ksyms: addrs, FuncLens: lens}
	return p, c
}

// reportCPU reports the process's CPU time per operation, user and
// system: on a machine shared with other work it says more than ns/op.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkStaticListing builds and renders the static listing (xlated
// with source lines, no JIT) of a generated ~50,000-instruction program.
func BenchmarkStaticListing(b *testing.B) {
	p, _ := bigProgram(50000)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		l, err := Build(p, Counts{}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteText(io.Discard, l, TextOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(p.Xlated)/8), "insns")
}

// BenchmarkJITListing builds and renders the heated listing with the JIT
// disassembly of the same program.
func BenchmarkJITListing(b *testing.B) {
	p, c := bigProgram(50000)
	b.ReportAllocs()
	defer reportCPU(b)()
	var jit int
	for b.Loop() {
		l, err := Build(p, c, Options{JIT: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := WriteText(io.Discard, l, TextOptions{}); err != nil {
			b.Fatal(err)
		}
		jit = 0
		for _, f := range l.Functions {
			for _, blk := range f.Blocks {
				jit += len(blk.JIT)
			}
		}
	}
	b.ReportMetric(float64(jit), "jit-insns")
}

// BenchmarkDisassemble is the x86-64 disassembly alone of the same image.
func BenchmarkDisassemble(b *testing.B) {
	p, _ := bigProgram(50000)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.SetBytes(int64(len(p.JIT.Image)))
	for b.Loop() {
		if _, err := Disassemble(p.JIT.Image, p.JIT.Ksyms[0], ATT, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListVsBpftool lists the hot testdata program as a user would:
// bpftool's 'prog dump xlated linum' against capture, build and render
// here, side by side in one run. Needs root.
func BenchmarkListVsBpftool(b *testing.B) {
	testutil.RequireRoot(b, "load BPF programs")
	_, info := loadInfo(b, "maps")
	id := info.ID
	b.Run("bpftool", func(b *testing.B) {
		if _, err := exec.LookPath("bpftool"); err != nil {
			b.Skip("bpftool not installed")
		}
		for b.Loop() {
			if err := exec.Command("bpftool", "prog", "dump", "xlated", "id", strconv.FormatUint(uint64(id), 10), "linum").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bpfprof", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d, err := bpfprog.ReadDetail(id, bpfprog.DetailAll)
			if err != nil {
				b.Fatal(err)
			}
			p, err := FromDetail(d, CaptureOptions{})
			if err != nil {
				b.Fatal(err)
			}
			l, err := Build(p, Counts{}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := WriteText(io.Discard, l, TextOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
