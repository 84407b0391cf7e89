// Package annotate builds source-annotated listings of BPF programs: per BPF
// function, each BTF source line with the xlated instructions it became (in
// bpftool's notation) and, optionally, the x86-64 machine code the JIT made
// of them, each with its share of the samples.
//
// It is pure data in, data out and opens nothing itself:
//
//   - A Program is captured when a program is first seen, so it can be
//     listed after it unloads: FromDetail fills it from what
//     bpfprog.ReadDetail read of a live program (with map names, and
//     kallsyms to name the helpers its xlated calls target); a perf.data
//     reader fills the same struct from the file.
//   - Counts heat it: self samples by JIT address (aggregate.Addrs), or by
//     source line when no addresses were kept; CountsFromSnapshot and
//     CountsFromDelta take them from the aggregate.
//   - Build makes the Listing (functions → blocks of one BTF line record →
//     xlated and JIT instructions, with samples and percentages, the
//     hottest lines ranked); WriteText and WriteJSON render it, and the TUI
//     renders it live.
//
// # Reading the text listing
//
//	program 42 bpfprof_xdp_main  tag 28b6ccef93e3e43f  type xdp
//	samples: 1077 of 8000 (13.46%), event cpu-clock over 5s
//	runs: 1200000, 410 ns per run
//
//	static __u32 bpfprof_xdp_sub(__u32 len):  1040 samples (96.56% of the program)
//	>1   87.31%       908  ; for (i = 0; ...) /* MARK: sub-hot */ [testdata/subprog.bpf.c:25:55]
//	                          15: (bf) r3 = r0
//	       40.10%       417           ffffffffc0027168:  mov %rdi,%rsi
//
// Each function starts with its BTF signature and its samples. A source
// line (";" then the text and [file:line:col]) shows its samples and their
// share of the function; ">N" marks the N-th hottest line of the program.
// Under it come its xlated instructions as bpftool prints them ("slot:
// (opcode) text"; a trailing "; ..." names the map, jump target or
// subprogram bpftool leaves out), then with JIT its machine code, each
// instruction with its own samples. Without samples the count columns are
// left out. A line of "note:" says what is missing (no BTF line info, no
// JIT image) and why.
//
// helpers.go, the helper names by ID, is generated from enum bpf_func_id in
// the running kernel's BTF by 'go generate' (make generate).
package annotate

//go:generate go run gen_helpers.go
