// Package tui is the Bubble Tea terminal interface of 'bpfprof top': the
// table of loaded programs with their run-time stats and sample shares, and
// the drill-down into one program's annotated source. It reads live
// snapshots through messages and never opens a file descriptor itself.
//
// The package is laid out by the design and filled by the 'bpfprof top'
// work; nothing is exported yet.
package tui
