// Package bpfprof holds the BPF objects bundled with bpfprof: the test and
// demo programs built from testdata/*.bpf.c by 'make generate'.
package bpfprof

import "embed"

// TestdataFS holds testdata/*.bpf.o and their C sources.
//
//go:embed testdata/*.bpf.o testdata/*.bpf.c
var TestdataFS embed.FS
