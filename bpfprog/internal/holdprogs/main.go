// Command holdprogs loads N minimal BPF socket filters and holds them until
// its standard input closes or it gets SIGINT/SIGTERM: the load for
// scripts/bench-list.sh, which times 'bpfprof list' against 'bpftool prog
// show' with many programs loaded. It prints "ready N" once all are loaded.
//
// Usage: holdprogs [-maps] N
//
// With -maps every program also references one shared array map, which makes
// bpftool read map metadata; without it bpftool is at its fastest. Needs
// CAP_BPF (in practice root).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

func main() {
	withMap := flag.Bool("maps", false, "make every program reference one shared array map")
	flag.Parse()
	n, err := strconv.Atoi(flag.Arg(0))
	if flag.NArg() != 1 || err != nil || n < 0 {
		fmt.Fprintln(os.Stderr, "usage: holdprogs [-maps] N")
		os.Exit(2)
	}
	progs, err := load(n, *withMap)
	if err != nil {
		fmt.Fprintln(os.Stderr, "holdprogs:", err)
		os.Exit(1)
	}
	fmt.Println("ready", len(progs))

	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-done:
	case <-sig:
	}
	for _, p := range progs {
		p.Close()
	}
}

func load(n int, withMap bool) (progs []*ebpf.Program, err error) {
	defer func() {
		if err != nil {
			for _, p := range progs {
				p.Close()
			}
		}
	}()
	insns := asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}
	if withMap {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Name: "holdprogs", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
		if err != nil {
			return nil, fmt.Errorf("create map: %w", err)
		}
		// The programs keep the map alive.
		defer m.Close()
		insns = append(asm.Instructions{asm.LoadMapPtr(asm.R1, m.FD())}, insns...)
	}
	for i := range n {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         fmt.Sprintf("holdprogs_%d", i),
			Type:         ebpf.SocketFilter,
			License:      "GPL",
			Instructions: insns,
		})
		if err != nil {
			return progs, fmt.Errorf("load program %d: %w", i, err)
		}
		progs = append(progs, p)
	}
	return progs, nil
}
