// Package symbolize turns sampled addresses into frames: kernel symbols from
// /proc/kallsyms, JITed BPF functions with their BTF source lines, and
// user-space functions from ELF symbol tables and Go pclntab.
//
// A Symbolizer is built from the state of the machine when it starts (New
// reads /proc/kallsyms, every loaded BPF program and /proc/*/maps) and then
// follows the side-band records of a sampler (HandleRecord): BPF programs
// loading and unloading, processes mapping files, forking, exiting.
// Everything it learns stays resolvable until Close, so samples of a program
// that unloaded, or of a process that exited, before the profile is written
// still get names. JIT address ranges are reused by the kernel, so BPF
// addresses are resolved by address and sample time. The one thing let go
// early is the image of an unloaded BPF program that no sample resolved
// into: it is dropped a few seconds (bpfRetention) behind the latest record
// or sample, when no sample can come for it any more, so that a recording
// while programs churn holds memory bounded by the programs it sampled.
//
// Parsers of untrusted bytes (kallsyms, maps, ELF notes and symbol tables,
// Go pclntabs) are pure functions over readers; the kernel is touched only by New, by HandleRecord when a
// program loads (to read its info before it can vanish), and by the
// rate-limited refresh described on Symbolizer.Kernel.
package symbolize

//go:generate go tool stringer -type=Kind -trimprefix=Kind
//go:generate clang -O1 -g0 -shared -fPIC -nostdlib -Wl,--build-id=sha1 -Wl,-z,noexecstack -o testdata/libtiny.so testdata/tiny.c
//go:generate clang -O1 -g0 -shared -fPIC -nostdlib -Wl,--build-id=0x5712199ed0000000000000000000000000000001 -Wl,-z,noexecstack -o testdata/libtiny-stripped.so testdata/tiny.c
//go:generate llvm-strip --strip-all testdata/libtiny-stripped.so
