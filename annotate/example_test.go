package annotate_test

import (
	"bytes"
	"encoding/binary"
	"os"

	"github.com/cilium/ebpf/asm"

	"github.com/bpfprof/bpfprof/annotate"
)

// A program is captured once (here built by hand, as a perf.data reader
// would fill it), heated by samples at JIT addresses, and rendered.
func ExampleBuild() {
	var xlated bytes.Buffer
	for _, ins := range []asm.Instruction{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // r2 = *(u32 *)(r1 +0)
		asm.Mov.Imm(asm.R0, 2),
		asm.Return(),
	} {
		if _, err := ins.Marshal(&xlated, binary.LittleEndian); err != nil {
			panic(err)
		}
	}
	const jit = 0xffffffffc0001000
	p := &annotate.Program{
		ID: 7, Tag: "0011223344556677", Name: "pass", Type: "xdp",
		Xlated: xlated.Bytes(),
		Funcs:  []annotate.Func{{Insn: 0, Name: "pass", Signature: "int pass(struct xdp_md *ctx)"}},
		Lines: []annotate.Line{
			{Insn: 0, File: "pass.c", Line: 5, Col: 14, Text: "__u32 len = ctx->data;", JITAddr: jit},
			{Insn: 1, File: "pass.c", Line: 6, Col: 2, Text: "return XDP_PASS;", JITAddr: jit + 3},
		},
		JIT: &annotate.JIT{
			// mov (%rdi),%esi; mov $0x2,%eax; ret
			Image: []byte{0x8b, 0x37, 0x90, 0xb8, 0x02, 0x00, 0x00, 0x00, 0xc3},
			Ksyms: []uint64{jit},
		},
	}
	counts := annotate.Counts{ByAddr: map[uint64]uint64{jit: 30, jit + 3: 10}, Total: 400, Event: "cpu-clock"}
	l, err := annotate.Build(p, counts, annotate.Options{JIT: true})
	if err != nil {
		panic(err)
	}
	annotate.WriteText(os.Stdout, l, annotate.TextOptions{})
	// Output:
	// program 7 pass  tag 0011223344556677  type xdp
	// samples: 40 of 400 (10.00%), event cpu-clock
	// hottest lines (share of the program): >1 pass.c:5 (75.0%), >2 pass.c:6 (25.0%)
	//
	// int pass(struct xdp_md *ctx):  40 samples (100.00% of the program)
	// >1   75.00%        30  ; __u32 len = ctx->data; [pass.c:5:14]
	//                            0: (61) r2 = *(u32 *)(r1 +0)
	//      75.00%        30           ffffffffc0001000:  mov (%rdi),%esi
	//                                 ffffffffc0001002:  nop
	// >2   25.00%        10  ; return XDP_PASS; [pass.c:6:2]
	//                            1: (b7) r0 = 2
	//                            2: (95) exit
	//      25.00%        10           ffffffffc0001003:  mov $0x2,%eax
	//                                 ffffffffc0001008:  retq
}
