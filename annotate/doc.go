// Package annotate renders source-annotated BPF programs: BTF line info,
// xlated instructions and JIT disassembly side by side, with the share of
// samples that fell on each line. It only consumes aggregate snapshots and
// program info handed to it by cmd/bpfprof; it opens nothing itself.
//
// The package is laid out by the design and filled by the 'bpfprof annotate'
// work; nothing is exported yet.
package annotate
