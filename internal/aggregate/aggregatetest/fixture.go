package aggregatetest

import (
	"github.com/bpfprof/bpfprof/sampler"
	"github.com/bpfprof/bpfprof/symbolize"
)

// Addresses of the fixture's kernel, BPF and user code.
const (
	KernelStart = 0xffffffff81000000
	HotStart    = 0xffffffffc0001000 // bpfprof_hot_loop_socket's JIT image
	XDPStart    = 0xffffffffc0003000 // bpfprof_xdp_main, then bpfprof_xdp_sub
	DriverStart = 0x400000           // the driver's Go binary
)

// Fixture times in perf clock nanoseconds: the subprogram's JIT range is
// reused by another program after it unloads.
const (
	T0          = 1_000_000_000
	XDPLoaded   = T0 + 1_000_000_000
	XDPUnloaded = T0 + 2_000_000_000
)

// PIDs of the fixture's processes.
const (
	DriverPID = 100
	BusyPID   = 200
)

// NewResolver returns a fake Resolver shaped like a machine running the
// testdata programs: the hot-loop socket filter driven by BPF_PROG_TEST_RUN
// from a Go process, an XDP program with a subprogram that is loaded and
// unloaded while recording, another program reusing its JIT range, and a busy
// user-space process without symbols.
func NewResolver() *Resolver {
	kernel := &symbolize.Mapping{Kind: symbolize.KindKernel, Start: KernelStart, Limit: KernelStart + 0x2000000, File: "[kernel.kallsyms]"}
	hot := &symbolize.Prog{ID: 42, Tag: "9e0bd1a4f4e3b2c1", Type: "socket_filter", Name: "bpfprof_hot_loop_socket"}
	xdp := &symbolize.Prog{ID: 57, Tag: "5b1a07d2c3e4f601", Type: "xdp", Name: "bpfprof_xdp_main"}
	reuse := &symbolize.Prog{ID: 61, Tag: "0f1e2d3c4b5a6978", Type: "tracepoint", Name: "reuser"}
	return &Resolver{
		KernelMapping: kernel,
		KernelSyms: []Sym{
			{Addr: KernelStart + 0x1000, Size: 0x100, Name: "do_syscall_64"},
			{Addr: KernelStart + 0x2000, Size: 0x100, Name: "__x64_sys_bpf"},
			{Addr: KernelStart + 0x3000, Size: 0x400, Name: "__sys_bpf"},
			{Addr: KernelStart + 0x4000, Size: 0x200, Name: "bpf_prog_test_run_skb"},
			{Addr: KernelStart + 0x5000, Size: 0x200, Name: "bpf_test_run"},
			{Addr: KernelStart + 0x6000, Size: 0x100, Name: "bpf_prog_test_run_xdp"},
			{Addr: KernelStart + 0x7000, Size: 0x100, Name: "asm_sysvec_apic_timer_interrupt"},
			{Addr: KernelStart + 0x8000, Size: 0x100, Name: "entry_SYSCALL_64_after_hwframe"},
		},
		Programs: []Program{
			{
				Prog:    hot,
				Mapping: &symbolize.Mapping{Kind: symbolize.KindBPF, Start: HotStart, Limit: HotStart + 0x100, File: "[bpf] bpfprof_hot_loop_socket", BuildID: hot.Tag},
				Funcs:   []Sym{{Addr: HotStart, Size: 0x100, Name: "bpfprof_hot_loop_socket", SystemName: "bpf_prog_9e0bd1a4f4e3b2c1_bpfprof_hot_loop_socket"}},
				Lines: []LineAt{
					{Addr: HotStart, File: "testdata/hot.bpf.c", Line: 16, Column: 20, Source: "__u32 acc = skb->len;"},
					{Addr: HotStart + 0x20, File: "testdata/hot.bpf.c", Line: 20, Column: 2, Source: "for (i = 0; i < HOT_ITERATIONS; i++) acc = (acc ^ i) * 2654435761u + (acc >> 7); /* MARK: hot */"},
					{Addr: HotStart + 0x80, File: "testdata/hot.bpf.c", Line: 26, Column: 9, Source: "return skb->len | (acc & 1);"},
				},
			},
			{
				Prog:    xdp,
				Mapping: &symbolize.Mapping{Kind: symbolize.KindBPF, Start: XDPStart, Limit: XDPStart + 0x200, File: "[bpf] bpfprof_xdp_main", BuildID: xdp.Tag},
				Funcs: []Sym{
					{Addr: XDPStart, Size: 0x80, Name: "bpfprof_xdp_main", SystemName: "bpf_prog_5b1a07d2c3e4f601_bpfprof_xdp_main"},
					{Addr: XDPStart + 0x100, Size: 0x100, Name: "bpfprof_xdp_sub", SystemName: "bpf_prog_77aa0c1b2d3e4f50_bpfprof_xdp_sub"},
				},
				Lines: []LineAt{
					{Addr: XDPStart, File: "testdata/subprog.bpf.c", Line: 28, Column: 18, Source: "__u32 len = ctx->data_end - ctx->data;"},
					{Addr: XDPStart + 0x20, File: "testdata/subprog.bpf.c", Line: 31, Column: 6, Source: "if (bpfprof_xdp_sub(len) == 0)"},
					{Addr: XDPStart + 0x40, File: "testdata/subprog.bpf.c", Line: 33, Column: 2, Source: "return XDP_PASS;"},
					{Addr: XDPStart + 0x100, File: "testdata/subprog.bpf.c", Line: 16, Column: 8, Source: "__u32 acc = len;"},
					{Addr: XDPStart + 0x110, File: "testdata/subprog.bpf.c", Line: 20, Column: 2, Source: "for (i = 0; i < SUB_ITERATIONS; i++) acc = (acc + i) * 40503u ^ (acc >> 5); /* MARK: sub-hot */"},
				},
				Loaded:   XDPLoaded,
				Unloaded: XDPUnloaded,
			},
			{
				Prog:     reuse,
				Mapping:  &symbolize.Mapping{Kind: symbolize.KindBPF, Start: XDPStart, Limit: XDPStart + 0x80, File: "[bpf] reuser", BuildID: reuse.Tag},
				Funcs:    []Sym{{Addr: XDPStart, Size: 0x80, Name: "reuser", SystemName: "bpf_prog_0f1e2d3c4b5a6978_reuser"}},
				Loaded:   XDPUnloaded,
				Unloaded: 0,
			},
		},
		Images: map[uint32][]Image{
			DriverPID: {{
				Mapping: &symbolize.Mapping{Kind: symbolize.KindUser, Start: DriverStart, Limit: DriverStart + 0x100000, Offset: 0, File: "/usr/local/bin/driver", BuildID: "6472697665722d6275696c642d6964"},
				Syms: []Sym{
					{Addr: DriverStart + 0x1000, Size: 0x100, Name: "runtime.main", File: "/usr/lib/go/src/runtime/proc.go", Line: 283},
					{Addr: DriverStart + 0x2000, Size: 0x100, Name: "main.main", File: "/src/driver/main.go", Line: 12,
						Inlined: []symbolize.Line{{Func: "main.load", File: "/src/driver/load.go", Line: 40}, {Func: "main.run", File: "/src/driver/main.go", Line: 30}}},
					{Addr: DriverStart + 0x3000, Size: 0x100, Name: "syscall.Syscall6", File: "/usr/lib/go/src/syscall/syscall_linux.go", Line: 95},
				},
			}},
			BusyPID: {{
				Mapping: &symbolize.Mapping{Kind: symbolize.KindUser, Start: 0x7f0000000000, Limit: 0x7f0000010000, Offset: 0x2000, File: "/usr/bin/busy"},
			}},
		},
		Comms: map[uint32]string{DriverPID: "driver", BusyPID: "busy"},
	}
}

// driverUser is the user stack of the Go driver inside its bpf(2) call:
// return addresses, leaf first.
var driverUser = []uint64{DriverStart + 0x3010, DriverStart + 0x2020, DriverStart + 0x1030}

// kernelUnder returns the kernel chain from bpf_test_run (via the given
// test-run function) down to the syscall entry: return addresses.
func kernelUnder(testRun uint64) []uint64 {
	return []uint64{
		KernelStart + 0x5040, // bpf_test_run
		testRun,
		KernelStart + 0x3100, // __sys_bpf
		KernelStart + 0x2010, // __x64_sys_bpf
		KernelStart + 0x1020, // do_syscall_64
		KernelStart + 0x8010, // entry_SYSCALL_64_after_hwframe
	}
}

// Records returns a fixed recording of 3 seconds: BPF events, samples in
// the hot loop and its prologue, in the XDP subprogram while it is loaded,
// in the program that reuses its range afterwards, in a busy user process,
// and lost and throttle records. The records are fresh values on every call.
func Records() []sampler.Record {
	var rs []sampler.Record
	var t uint64 = T0
	sample := func(cpu, pid, tid uint32, kernel, user []uint64) {
		ip := uint64(0)
		if len(kernel) > 0 {
			ip = kernel[0]
		} else if len(user) > 0 {
			ip = user[0]
		}
		rs = append(rs, &sampler.Sample{
			Common: sampler.Common{Time: t, CPU: cpu},
			IP:     ip, PID: pid, TID: tid, Period: 1_001_001,
			Kernel: kernel, User: user,
		})
		t += 1_000_000
	}
	hot := func(ip uint64) []uint64 {
		return append([]uint64{ip}, kernelUnder(KernelStart+0x4080)...)
	}
	xdp := func(ip uint64) []uint64 {
		return append([]uint64{ip, XDPStart + 0x2a}, kernelUnder(KernelStart+0x6020)...)
	}

	for i := range 200 {
		switch {
		case i%10 == 9:
			sample(1, BusyPID, BusyPID, nil, []uint64{0x7f0000001234, 0x7f0000004000})
		case i%25 == 3:
			sample(0, DriverPID, DriverPID+1, hot(HotStart+0x4), driverUser)
		case i%50 == 7:
			// The timer interrupt while the loop runs: the leaf is in the
			// kernel, under the hot line.
			sample(0, DriverPID, DriverPID+1, append([]uint64{KernelStart + 0x7010}, hot(HotStart+0x44)...), driverUser)
		default:
			sample(0, DriverPID, DriverPID+1, hot(HotStart+0x20+uint64(i%3)*0x10), driverUser)
		}
	}
	t = XDPLoaded
	rs = append(rs,
		&sampler.KSymbol{Common: sampler.Common{Time: t, CPU: 1}, Addr: XDPStart, Len: 0x80, Type: sampler.KSymbolBPF, Name: "bpf_prog_5b1a07d2c3e4f601_bpfprof_xdp_main"},
		&sampler.KSymbol{Common: sampler.Common{Time: t, CPU: 1}, Addr: XDPStart + 0x100, Len: 0x100, Type: sampler.KSymbolBPF, Name: "bpf_prog_77aa0c1b2d3e4f50_bpfprof_xdp_sub"},
		&sampler.BPFEvent{Common: sampler.Common{Time: t, CPU: 1}, Type: sampler.BPFEventProgLoad, ProgID: 57},
	)
	t++
	for i := range 100 {
		if i%20 == 0 {
			sample(1, DriverPID, DriverPID+2, xdp(XDPStart+0x30), driverUser)
			continue
		}
		sample(1, DriverPID, DriverPID+2, xdp(XDPStart+0x118+uint64(i%2)*0x8), driverUser)
	}
	rs = append(rs, &sampler.Lost{Common: sampler.Common{Time: t, CPU: 1}, Lost: 3})
	t = XDPUnloaded
	rs = append(rs,
		&sampler.BPFEvent{Common: sampler.Common{Time: t, CPU: 1}, Type: sampler.BPFEventProgUnload, ProgID: 57},
		&sampler.BPFEvent{Common: sampler.Common{Time: t + 1, CPU: 1}, Type: sampler.BPFEventProgLoad, ProgID: 61},
	)
	t += 2
	for range 10 {
		sample(1, BusyPID, BusyPID, []uint64{XDPStart + 0x10, KernelStart + 0x7010}, []uint64{0x7f0000001234})
	}
	rs = append(rs,
		&sampler.Throttle{Common: sampler.Common{Time: t, CPU: 0}},
		&sampler.Throttle{Common: sampler.Common{Time: t + 1, CPU: 0}, Unthrottle: true},
		&sampler.LostSamples{Common: sampler.Common{Time: t + 2, CPU: 0}, Lost: 2},
	)
	return rs
}

// Synthetic returns one sample of each of n distinct stacks, shaped like a
// busy machine under a live view: the hot-loop program at each of its 256
// JIT addresses, called from the driver's threads (one thread per 256
// stacks) on two CPUs, times t onwards. Feeding the same samples again
// counts the same stacks again.
func Synthetic(n int, t uint64) []*sampler.Sample {
	ss := make([]*sampler.Sample, n)
	under := kernelUnder(KernelStart + 0x4080)
	for i := range ss {
		kernel := append([]uint64{HotStart + uint64(i%256)}, under...)
		tid := uint32(DriverPID + 1 + i/256)
		ss[i] = &sampler.Sample{
			Common: sampler.Common{Time: t + uint64(i), CPU: uint32(i/256) % 2},
			IP:     kernel[0], PID: DriverPID, TID: tid, Period: 1_000_000,
			Kernel: kernel, User: driverUser,
		}
	}
	return ss
}
