package bpfprog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(m)) }

// loadObject loads a bundled test object for the length of the test.
func loadObject(tb testing.TB, name string) *testprogs.Object {
	tb.Helper()
	testutil.RequireRoot(tb, "load BPF programs and list them")
	obj, _ := progtest.Load(tb, name)
	return obj
}

// progID returns the kernel ID of a loaded program.
func progID(tb testing.TB, p *ebpf.Program) ID {
	tb.Helper()
	return ID(progtest.ID(tb, p))
}

func findID(progs []Program, id ID) *Program {
	for i := range progs {
		if progs[i].ID == id {
			return &progs[i]
		}
	}
	return nil
}

func TestListTestprogs(t *testing.T) {
	objs := map[string]*testprogs.Object{}
	for _, name := range []string{testprogs.Hot, testprogs.Subprog, testprogs.Maps, testprogs.Tracepoint} {
		objs[name] = loadObject(t, name)
	}
	if err := objs[testprogs.Tracepoint].Attach(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	progs, err := List(ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(progs, func(a, b Program) int { return int(a.ID) - int(b.ID) }) {
		t.Error("programs not sorted by ID")
	}

	want := []struct {
		obj, name, full string
		typ             Type
		subprograms     int
	}{
		{testprogs.Hot, testprogs.HotFunc[:15], testprogs.HotFunc, TypeSocketFilter, 0},
		{testprogs.Subprog, testprogs.SubprogFunc[:15], testprogs.SubprogFunc, TypeXDP, 1},
		{testprogs.Maps, testprogs.MapsFunc, testprogs.MapsFunc, TypeSocketFilter, 0},
		{testprogs.Tracepoint, testprogs.TracepointFunc[:15], testprogs.TracepointFunc, TypeTracepoint, 0},
	}
	for _, w := range want {
		t.Run(w.obj, func(t *testing.T) {
			prog := objs[w.obj].Program()
			info, err := prog.Info()
			if err != nil {
				t.Fatal(err)
			}
			id := progID(t, prog)
			p := findID(progs, id)
			if p == nil {
				t.Fatalf("program %d (%s) not listed", id, w.full)
			}
			if p.Name != w.name || p.FullName != w.full {
				t.Errorf("name %q, full name %q; want %q, %q", p.Name, p.FullName, w.name, w.full)
			}
			if p.Type != w.typ {
				t.Errorf("type %s, want %s", p.Type, w.typ)
			}
			if p.Tag != info.Tag {
				t.Errorf("tag %s, want %s", p.Tag, info.Tag)
			}
			if !p.GPL || p.UID != 0 {
				t.Errorf("gpl %v uid %d, want true 0", p.GPL, p.UID)
			}
			if p.Subprograms != w.subprograms {
				t.Errorf("%d subprograms, want %d", p.Subprograms, w.subprograms)
			}
			if len(p.JitedKsyms) != w.subprograms+1 || len(p.JitedFuncLens) != w.subprograms+1 {
				t.Errorf("%d JIT symbols and %d lengths, want %d", len(p.JitedKsyms), len(p.JitedFuncLens), w.subprograms+1)
			}
			if ksyms, _ := info.JitedKsymAddrs(); len(ksyms) > 0 && uint64(ksyms[0]) != p.JitedKsyms[0] {
				t.Errorf("first JIT symbol %#x, want %#x", p.JitedKsyms[0], ksyms[0])
			}
			if n, _ := info.TranslatedSize(); int(p.XlatedSize) != n {
				t.Errorf("xlated size %d, want %d", p.XlatedSize, n)
			}
			if n, _ := info.JitedSize(); p.JitedSize != n || n == 0 {
				t.Errorf("jited size %d, want %d (> 0)", p.JitedSize, n)
			}
			if n, _ := info.VerifiedInstructions(); p.VerifiedInsns != n {
				t.Errorf("verified insns %d, want %d", p.VerifiedInsns, n)
			}
			if n, _ := info.Memlock(); p.Memlock != n || n == 0 {
				t.Errorf("memlock %d, want %d (> 0)", p.Memlock, n)
			}
			if btfID, _ := info.BTFID(); p.BTFID != uint32(btfID) || btfID == 0 {
				t.Errorf("BTF ID %d, want %d (> 0)", p.BTFID, btfID)
			}
			wantMaps, _ := info.MapIDs()
			if len(p.MapIDs) != len(wantMaps) {
				t.Errorf("map IDs %v, want %v", p.MapIDs, wantMaps)
			}
			for i := range min(len(p.MapIDs), len(wantMaps)) {
				if p.MapIDs[i] != uint32(wantMaps[i]) {
					t.Errorf("map IDs %v, want %v", p.MapIDs, wantMaps)
				}
			}
			if d := time.Since(p.LoadedAt); d < -time.Second || d > time.Since(start)+time.Minute {
				t.Errorf("loaded at %v, %v ago", p.LoadedAt, d)
			}
			if !slices.ContainsFunc(p.Procs, func(q Proc) bool { return q.PID == os.Getpid() }) {
				t.Errorf("pids %v do not include this process (%d)", p.Procs, os.Getpid())
			}
			if w.obj == testprogs.Tracepoint {
				if len(p.Attach) != 1 {
					t.Fatalf("attach %+v, want one link", p.Attach)
				}
				a := p.Attach[0]
				// The link names the event; its system comes from tracefs,
				// which may or may not be mounted as we list.
				if a.LinkType != LinkPerfEvent || a.PerfEvent == nil || *a.PerfEvent != PerfEventTracepoint ||
					(a.Name != "raw_syscalls/sys_enter" && a.Name != "sys_enter") || a.Description != "tracepoint "+a.Name {
					t.Errorf("attach %+v, want the tracepoint raw_syscalls/sys_enter", a)
				}
			} else if len(p.Attach) != 0 {
				t.Errorf("attach %+v, want none", p.Attach)
			}
		})
	}
	if maps := findID(progs, progID(t, objs[testprogs.Maps].Program())); maps != nil && len(maps.MapIDs) < 2 {
		t.Errorf("maps program uses maps %v, want its hash and array map", maps.MapIDs)
	}
}

func TestListOptionsSkip(t *testing.T) {
	obj := loadObject(t, testprogs.Tracepoint)
	if err := obj.Attach(); err != nil {
		t.Fatal(err)
	}
	progs, err := List(ListOptions{SkipProcs: true, SkipAttach: true})
	if err != nil {
		t.Fatal(err)
	}
	p := findID(progs, progID(t, obj.Program()))
	if p == nil {
		t.Fatal("program not listed")
	}
	if len(p.Procs) != 0 || len(p.Attach) != 0 {
		t.Errorf("procs %v, attach %v: want none when skipped", p.Procs, p.Attach)
	}
	if p.Memlock == 0 {
		t.Error("no memlock without the /proc scan")
	}
}

func TestGetFind(t *testing.T) {
	obj := loadObject(t, testprogs.Hot)
	id := progID(t, obj.Program())

	p, err := Get(id, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != id || p.FullName != testprogs.HotFunc {
		t.Errorf("Get(%d) = program %d %q", id, p.ID, p.FullName)
	}
	for _, sel := range []Selector{
		{Kind: SelectID, ID: id},
		{Kind: SelectName, Name: testprogs.HotFunc},
		{Kind: SelectName, Name: testprogs.HotFunc[:15]},
		{Kind: SelectTag, Tag: p.Tag},
	} {
		progs, err := Find(sel, ListOptions{})
		if err != nil {
			t.Errorf("Find(%v): %v", sel, err)
			continue
		}
		if findID(progs, id) == nil {
			t.Errorf("Find(%v) did not find program %d", sel, id)
		}
	}

	const missing = ID(1<<31 - 1)
	if _, err := Get(missing, ListOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(%d) = %v, want ErrNotFound", missing, err)
	}
	_, err = Find(Selector{Kind: SelectName, Name: "bpfprof_no_such_program"}, ListOptions{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no BPF program with name bpfprof_no_such_program; see 'bpfprof list'") {
		t.Errorf("Find(name bpfprof_no_such_program) = %v, want a clear ErrNotFound", err)
	}
}

func TestFindPinned(t *testing.T) {
	obj := loadObject(t, testprogs.Maps)
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		testutil.SkipOrFail(t, fmt.Sprintf("mount bpffs: %v", err))
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Error(err)
		}
	})
	path := filepath.Join(dir, "prog")
	if err := obj.Program().Pin(path); err != nil {
		t.Fatal(err)
	}
	defer obj.Program().Unpin()
	mapPath := filepath.Join(dir, "map")
	m := obj.Collection().Maps[testprogs.MapsHash]
	if err := m.Pin(mapPath); err != nil {
		t.Fatal(err)
	}
	defer m.Unpin()

	sel := Selector{Kind: SelectPinned, Path: path}
	progs, err := Find(sel, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(progs) != 1 || progs[0].ID != progID(t, obj.Program()) {
		t.Errorf("Find(%v) = %d programs", sel, len(progs))
	}
	all, err := List(ListOptions{SkipProcs: true, SkipAttach: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Select(all, sel); err != nil || len(got) != 1 || got[0].ID != progs[0].ID {
		t.Errorf("Select(%v) = %v, %v", sel, got, err)
	}
	// A program only a pin keeps loaded: no process holds it, its memlock
	// comes from the listing's own fd.
	lone := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.SocketFilter, Name: "bpfprof_t_pin"}, 0)
	lonePath := filepath.Join(dir, "lone")
	if err := lone.Pin(lonePath); err != nil {
		t.Fatal(err)
	}
	loneID := progID(t, lone)
	lone.Close()
	defer os.Remove(lonePath)
	progs, err = Find(Selector{Kind: SelectPinned, Path: lonePath}, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(progs) != 1 || progs[0].ID != loneID || len(progs[0].Procs) != 0 || progs[0].Memlock == 0 {
		t.Errorf("pinned-only program: %+v", progs)
	}

	for _, bad := range []string{mapPath, filepath.Join(dir, "nothing"), "/etc/hostname"} {
		if _, err := Find(Selector{Kind: SelectPinned, Path: bad}, ListOptions{}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Find(pinned %s) = %v, want ErrNotFound", bad, err)
		}
	}
}

func TestStats(t *testing.T) {
	obj := loadObject(t, testprogs.Hot)
	id := progID(t, obj.Program())
	stats, err := OpenStats()
	testutil.SkipIfNoPermission(t, err)
	if err != nil {
		t.Fatal(err)
	}
	defer stats.Close()
	raw, err := os.ReadFile(statsSysctl)
	if err != nil {
		t.Fatal(err)
	}
	if on := strings.TrimSpace(string(raw)) != "0"; on != stats.AlreadyEnabled() {
		t.Errorf("%s = %q, AlreadyEnabled = %v", statsSysctl, raw, stats.AlreadyEnabled())
	}

	before, err := stats.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	runs, err := testprogs.Drive(ctx, obj.Program(), 0)
	if err != nil {
		t.Fatal(err)
	}
	after, err := stats.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var r *Rate
	for _, x := range Delta(before, after) {
		if x.ID == id {
			r = &x
		}
	}
	if r == nil {
		t.Fatal("no rate for the driven program")
	}
	// The kernel may run it more often than asked (restarted calls).
	if r.Runs < runs || runs == 0 {
		t.Errorf("%d runs counted, %d driven", r.Runs, runs)
	}
	if r.New || r.Gone || r.RunTime <= 0 || r.RunsPerSec <= 0 || r.AvgRunNs <= 0 || r.CPUPercent <= 0 || r.CPUPercent > 100*float64(runtime.NumCPU()) {
		t.Errorf("implausible rate %+v", *r)
	}
	if r.Period < 250*time.Millisecond || r.Period > 10*time.Second {
		t.Errorf("period %v, want about 300ms", r.Period)
	}

	// A listing carries the same counters.
	p, err := Get(id, ListOptions{SkipProcs: true, SkipAttach: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Stats.RunCount < r.Runs {
		t.Errorf("listed run count %d < %d runs in the period", p.Stats.RunCount, r.Runs)
	}
	if err := stats.Close(); err != nil {
		t.Fatal(err)
	}
	if err := stats.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// Programs loaded and unloaded while listing are skipped or listed, never an
// error.
func TestListWhileProgramsComeAndGo(t *testing.T) {
	testutil.RequireRoot(t, "load BPF programs and list them")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var loadErr error
	wg.Go(func() {
		for ctx.Err() == nil {
			p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
				Name: "bpfprof_churn", Type: ebpf.SocketFilter, License: "GPL",
				Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
			})
			if err != nil {
				loadErr = err
				return
			}
			p.Close()
		}
	})
	// Links too: a link's id is taken before it is attached, and opening
	// it by id meanwhile says EAGAIN.
	var linkErr error
	wg.Go(func() {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "bpfprof_churn_tp", Type: ebpf.RawTracepoint, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			linkErr = err
			return
		}
		defer p.Close()
		for ctx.Err() == nil {
			l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sys_enter", Program: p})
			if err != nil {
				linkErr = err
				return
			}
			l.Close()
		}
	})
	deadline := time.Now().Add(500 * time.Millisecond)
	lists := 0
	for time.Now().Before(deadline) {
		if _, err := List(ListOptions{}); err != nil {
			t.Errorf("List while programs churn: %v", err)
			break
		}
		lists++
	}
	cancel()
	wg.Wait()
	for _, err := range []error{loadErr, linkErr} {
		if err != nil {
			testutil.SkipIfNoPermission(t, err)
			t.Fatal(err)
		}
	}
	t.Logf("%d listings", lists)
}

// loadMany loads n minimal socket filters for the benchmarks.
func loadMany(b *testing.B, n int) {
	b.Helper()
	testutil.RequireRoot(b, "load BPF programs and list them")
	for i := range n {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: fmt.Sprintf("bench_%d", i), Type: ebpf.SocketFilter, License: "GPL",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			testutil.SkipIfNoPermission(b, err)
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
	}
}

// BenchmarkList500 lists every program with 500 extra programs loaded (held
// by this process, so the /proc scan finds them too).
func BenchmarkList500(b *testing.B) {
	loadMany(b, 500)
	for b.Loop() {
		if _, err := List(ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListNoProcs500 is BenchmarkList500 without the /proc scan and
// links.
func BenchmarkListNoProcs500(b *testing.B) {
	loadMany(b, 500)
	for b.Loop() {
		if _, err := List(ListOptions{SkipProcs: true, SkipAttach: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot500 takes stats snapshots with 500 extra programs loaded.
func BenchmarkSnapshot500(b *testing.B) {
	loadMany(b, 500)
	stats, err := OpenStats()
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	for b.Loop() {
		if _, err := stats.Snapshot(); err != nil {
			b.Fatal(err)
		}
	}
}

func TestStatsAlreadyEnabled(t *testing.T) {
	testutil.RequireRoot(t, "turn kernel.bpf_stats_enabled on")
	raw, err := os.ReadFile(statsSysctl)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(raw)) == "0" {
		if err := os.WriteFile(statsSysctl, []byte("1"), 0); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := os.WriteFile(statsSysctl, []byte("0"), 0); err != nil {
				t.Error(err)
			}
		}()
	}
	stats, err := OpenStats()
	if err != nil {
		t.Fatal(err)
	}
	if !stats.AlreadyEnabled() {
		t.Error("AlreadyEnabled is false with the sysctl on")
	}
	if err := stats.Close(); err != nil {
		t.Fatal(err)
	}
	// Close leaves the sysctl as it was.
	if raw, err := os.ReadFile(statsSysctl); err != nil || strings.TrimSpace(string(raw)) != "1" {
		t.Errorf("%s = %q after Close, want 1", statsSysctl, raw)
	}
}

// Links name their attach points with names resolved on this machine:
// interface names, cgroup paths, the tracepoint's system.
func TestListAttachResolved(t *testing.T) {
	testutil.RequireRoot(t, "attach BPF programs")
	xdp := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.XDP, Name: "bpfprof_t_xdp"}, 2) // XDP_PASS
	l, err := link.AttachXDP(link.XDPOptions{Program: xdp, Interface: 1, Flags: link.XDPGenericMode})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tc := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.SchedCLS, Name: "bpfprof_t_tcx"}, -1) // TCX_NEXT
	ltc, err := link.AttachTCX(link.TCXOptions{Interface: 1, Program: tc, Attach: ebpf.AttachTCXEgress})
	if err != nil {
		t.Fatal(err)
	}
	defer ltc.Close()
	root := cgroup2Mount()
	if root == "" {
		t.Fatal("no cgroup v2 mount")
	}
	cg, err := os.MkdirTemp(root, "bpfprof-test-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(cg)
	skb := tinyProgram(t, ebpf.ProgramSpec{Type: ebpf.CGroupSKB, Name: "bpfprof_t_cg"}, 1)
	lcg, err := link.AttachCgroup(link.CgroupOptions{Path: cg, Attach: ebpf.AttachCGroupInetEgress, Program: skb})
	if err != nil {
		t.Fatal(err)
	}
	defer lcg.Close()

	progs, err := List(ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		prog *ebpf.Program
		want string
	}{
		{xdp, "xdp lo (ifindex 1)"},
		{tc, "tcx_egress lo (ifindex 1)"},
		{skb, "cgroup_inet_egress cgroup /" + filepath.Base(cg)},
	} {
		p := findID(progs, progID(t, tt.prog))
		if p == nil {
			t.Fatalf("program %v not listed", tt.prog)
		}
		if len(p.Attach) != 1 || p.Attach[0].Description != tt.want {
			t.Errorf("program %s attach %+v, want %q", p.Name, p.Attach, tt.want)
		}
		// The link holds the program: this process holds the link.
		if !slices.ContainsFunc(p.Procs, func(q Proc) bool { return q.PID == os.Getpid() }) {
			t.Errorf("program %s pids %v lack this process", p.Name, p.Procs)
		}
	}
}
