// Package tui is the Bubble Tea terminal interface of 'bpfprof top': the
// table of loaded programs with their run-time stats and sample shares, and
// the drill-down into one program with its facts, charts, who pays for it
// and its annotated source with live heat.
//
// The Model reads everything through a Source, and only from tea.Cmds: the
// data arrives as messages (FrameMsg, DetailsMsg), and the package itself
// opens no file descriptor. WriteBatch prints the same rows as a plain
// table for 'top -b'.
package tui
