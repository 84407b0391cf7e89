package bpfprog

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/bpfabi"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// tinyProgram loads a two-instruction program returning ret.
func tinyProgram(tb testing.TB, spec ebpf.ProgramSpec, ret int32) *ebpf.Program {
	tb.Helper()
	spec.Instructions = asm.Instructions{asm.Mov.Imm(asm.R0, ret), asm.Return()}
	if spec.License == "" {
		spec.License = "GPL"
	}
	p, err := ebpf.NewProgram(&spec)
	if err != nil {
		tb.Fatalf("load %s program: %v", spec.Type, err)
	}
	tb.Cleanup(func() { p.Close() })
	return p
}

// linkFD opens a link by the ID its Info reports.
func linkFD(tb testing.TB, l link.Link) int {
	tb.Helper()
	info, err := l.Info()
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := bpfabi.FDByID(unix.BPF_LINK_GET_FD_BY_ID, uint32(info.ID))
	if err != nil {
		tb.Fatal(err)
	}
	return fd
}

// TestCaptureLinkInfo makes one link of every type this kernel can make
// without hardware or kprobes, and saves its raw link info as a fixture for
// TestParseLinkInfo. It runs only with -capture, as root.
func TestCaptureLinkInfo(t *testing.T) {
	if !*capture {
		t.Skip("run with -capture to rewrite testdata/linkinfo from this kernel")
	}
	testutil.RequireRoot(t, "make BPF links")
	dir := filepath.Join("testdata", "linkinfo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	save := func(name, how string, l link.Link, err error) {
		t.Helper()
		if err != nil {
			t.Logf("%s: not captured: %v", name, err)
			return
		}
		defer l.Close()
		fd := linkFD(t, l)
		defer unix.Close(fd)
		raw, str, err := readLinkInfo(fd, make([]byte, linkNameMax))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		f := linkFixture{comment: fmt.Sprintf("# %s\n# captured by TestCaptureLinkInfo -capture\n", how), raw: raw, name: str}
		if err := writeLinkFixture(filepath.Join(dir, name+".txt"), f); err != nil {
			t.Fatal(err)
		}
	}

	rawtp := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.RawTracepoint}, 0)
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: rawtp})
	save("raw_tracepoint", "raw tracepoint sys_enter", l, err)

	tp := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.TracePoint}, 0)
	l, err = link.Tracepoint("raw_syscalls", "sys_enter", tp, nil)
	save("perf_event-tracepoint", "tracepoint raw_syscalls/sys_enter (perf event link; needs tracefs mounted)", l, err)

	xdp := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.XDP}, 2) // XDP_PASS
	l, err = link.AttachXDP(link.XDPOptions{Program: xdp, Interface: 1, Flags: link.XDPGenericMode})
	save("xdp", "XDP on lo (ifindex 1), generic mode", l, err)

	tc := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.SchedCLS}, -1) // TCX_NEXT
	l, err = link.AttachTCX(link.TCXOptions{Interface: 1, Program: tc, Attach: ebpf.AttachTCXIngress})
	save("tcx", "tcx ingress on lo (ifindex 1)", l, err)

	if root := cgroup2Mount(); root != "" {
		cg := filepath.Join(root, "bpfprof-capture")
		if err := os.Mkdir(cg, 0o755); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
		defer os.Remove(cg)
		skb := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.CGroupSKB}, 1)
		l, err = link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: ebpf.AttachCGroupInetIngress, Program: skb})
		save("cgroup", "cgroup_skb ingress on a fresh cgroup v2 directory", l, err)
	}

	iter := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceIter, AttachTo: "task"}, 0)
	it, err := link.AttachIter(link.IterOptions{Program: iter})
	save("iter", "task iterator", it, err)

	netns, err := os.Open("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Close()
	lookup := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.SkLookup, AttachType: ebpf.AttachSkLookup}, 1) // SK_PASS
	nl, err := link.AttachNetNs(int(netns.Fd()), lookup)
	save("netns", "sk_lookup on this network namespace", nl, err)

	pe := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.PerfEvent}, 0)
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample: 1_000_000_000,
		Bits:   unix.PerfBitDisabled,
	}
	if pfd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC); err != nil {
		t.Logf("perf_event: not captured: %v", err)
	} else {
		defer unix.Close(pfd)
		rl, err := link.AttachRawLink(link.RawLinkOptions{Target: pfd, Program: pe, Attach: ebpf.AttachPerfEvent})
		save("perf_event-event", "perf_event program on a software cpu-clock event", rl, err)
	}

	nf := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.Netfilter, AttachType: ebpf.AttachNetfilter}, 1) // NF_ACCEPT
	l, err = link.AttachNetfilter(link.NetfilterOptions{Program: nf, ProtocolFamily: link.NetfilterProtoIPv4, Hook: 3, Priority: -128})
	save("netfilter", "netfilter ipv4 output, priority -128", l, err)

	// Functions of libc that nothing calls, so the probes cost nothing.
	const libc = "/lib/x86_64-linux-gnu/libc.so.6"
	exe, err := link.OpenExecutable(libc)
	if err != nil {
		t.Logf("uprobes: not captured: %v", err)
		return
	}
	up := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.Kprobe}, 0)
	l, err = exe.Uprobe("strfry", up, nil)
	save("perf_event-uprobe", "uprobe on strfry in "+libc, l, err)
	upm := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.Kprobe, AttachType: ebpf.AttachTraceUprobeMulti}, 0)
	l, err = exe.UprobeMulti([]string{"strfry", "memfrob"}, upm, &link.UprobeMultiOptions{PID: uint32(os.Getpid())})
	save("uprobe_multi", "uprobe_multi on strfry and memfrob in "+libc+", this process only", l, err)
}
