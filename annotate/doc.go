// Package annotate builds source-annotated listings of BPF programs: per BPF
// function, each BTF source line with the xlated instructions it became (in
// bpftool's notation) and, optionally, the x86-64 machine code the JIT made
// of them, each with its share of the samples.
//
// It is pure data in, data out and opens nothing itself. A caller captures a
// Program when it first sees it (FromProgramInfo from a live program; a
// perf.data reader fills the same struct from the file), gathers Counts from
// a snapshot, and calls Build; the Listing it returns is rendered as text
// (WriteText) or JSON (WriteJSON), or live by the TUI.
package annotate

//go:generate go run gen_helpers.go
