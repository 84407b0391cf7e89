package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestParseListArgs(t *testing.T) {
	tests := []struct {
		args []string
		want listConfig
	}{
		{nil, listConfig{interval: time.Second}},
		{[]string{"--json"}, listConfig{json: true, interval: time.Second}},
		{[]string{"--json", "id", "42"}, listConfig{json: true, interval: time.Second, sel: bpfprog.Selector{Kind: bpfprog.SelectID, ID: 42}}},
		// Flags after the selector too.
		{[]string{"42", "--json", "--interval", "0"}, listConfig{json: true, sel: bpfprog.Selector{Kind: bpfprog.SelectID, ID: 42}}},
		{[]string{"name", "foo", "--demo"}, listConfig{demo: true, interval: time.Second, sel: bpfprog.Selector{Kind: bpfprog.SelectName, Name: "foo"}}},
		{[]string{"--interval", "1m30s"}, listConfig{interval: 90 * time.Second}},
		{[]string{"--interval=5"}, listConfig{interval: 5 * time.Second}},
		{[]string{"--interval", "0.25"}, listConfig{interval: 250 * time.Millisecond}},
		{[]string{"--interval", "0s"}, listConfig{}},
		{[]string{"tag", "8015C3C422F0136E"}, listConfig{interval: time.Second, sel: bpfprog.Selector{Kind: bpfprog.SelectTag, Tag: "8015c3c422f0136e"}}},
		// bpftool's short forms.
		{[]string{"-j"}, listConfig{json: true, interval: time.Second}},
		{[]string{"-p", "id", "3"}, listConfig{json: true, pretty: true, interval: time.Second, sel: bpfprog.Selector{Kind: bpfprog.SelectID, ID: 3}}},
		{[]string{"id", "3", "-jp"}, listConfig{json: true, pretty: true, interval: time.Second, sel: bpfprog.Selector{Kind: bpfprog.SelectID, ID: 3}}},
		{[]string{"name", "-j"}, listConfig{interval: time.Second, sel: bpfprog.Selector{Kind: bpfprog.SelectName, Name: "-j"}}},
		// ps -o style columns.
		{[]string{"-o", "id,run_cnt,run_time_ns", "id", "5"}, listConfig{interval: time.Second, columns: []int{0, 9, 10}, sel: bpfprog.Selector{Kind: bpfprog.SelectID, ID: 5}}},
		{[]string{"--columns=name loaded_at,MAP_IDS"}, listConfig{interval: time.Second, columns: []int{2, 11, 12}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			got, err := parseListArgs(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseListArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--interval", "-1"},
		{"--interval", "soon"},
		{"--bogus"},
		{"foo"},
		{"id", "42", "extra"},
		{"name"},
		{"id", "x"},
		{"tag", "xyz"},
		{"-o", "id,bogus"},
		{"-o", ","},
		{"-j", "-o", "id"},
	} {
		_, err := parseListArgs(args, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) {
			t.Errorf("parseListArgs(%q) = %v, want a usage error", args, err)
		}
	}
}

func TestListUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"list", "-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("list -h: exit %d", code)
	}
	if !strings.Contains(stderr.String(), "Usage: bpfprof list") || !strings.Contains(stderr.String(), "-interval") {
		t.Errorf("list -h printed %q", stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"list", "id", "-1"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `bad program id "-1"`) {
		t.Errorf("list id -1: exit %d, printed %q; want 2 and a bad id", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"list", "nonsense"}, &stdout, &stderr); code != 2 {
		t.Errorf("list nonsense: exit %d, want 2", code)
	}
	if first, _, _ := strings.Cut(stderr.String(), "\n"); !strings.HasPrefix(first, `bpfprof list: unexpected argument "nonsense"`) {
		t.Errorf("list nonsense printed %q", stderr.String())
	}
}

// listedProgram is the part of a 'list --json' object the tests check.
type listedProgram struct {
	ID              uint32           `json:"id"`
	Type            string           `json:"type"`
	Name            string           `json:"name"`
	FullName        string           `json:"full_name"`
	KernelName      string           `json:"kernel_name"`
	Tag             string           `json:"tag"`
	RunCnt          uint64           `json:"run_cnt"`
	RunTimeNs       uint64           `json:"run_time_ns"`
	Subprograms     int              `json:"subprograms"`
	JitedKsyms      []string         `json:"jited_ksyms"`
	Pids            []bpfprog.Proc   `json:"pids"`
	Attach          []map[string]any `json:"attach"`
	RunsPerSec      *float64         `json:"runs_per_sec"`
	AvgRunNs        *float64         `json:"avg_run_ns"`
	CPUPercent      *float64         `json:"cpu_percent"`
	RecursionMisses *uint64          `json:"recursion_misses"`
}

// listCmd runs 'bpfprof list args' in this process and returns its stdout;
// a non-zero exit fails the test.
func listCmd(t *testing.T, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"list"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("bpfprof list %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.Bytes()
}

// listOpenFDs lists this process's fds, to check a test leaves none behind.
func listOpenFDs(t *testing.T) map[string]string {
	t.Helper()
	fds := map[string]string{}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil {
			fds[e.Name()] = target
		}
	}
	return fds
}

// listCheckNoNewFDs fails the test if, at its end, BPF or other fds opened
// during it are still open (a stats fd, a program).
func listCheckNoNewFDs(t *testing.T) {
	before := listOpenFDs(t)
	t.Cleanup(func() {
		for fd, target := range listOpenFDs(t) {
			if before[fd] != target && strings.HasPrefix(target, "anon_inode:bpf") {
				t.Errorf("fd %s -> %s left open", fd, target)
			}
		}
	})
}

// listLoadAll loads the four bundled objects, attaches the tracepoint one and
// drives the others until the test ends.
func listLoadAll(t *testing.T) map[string]*testprogs.Object {
	t.Helper()
	testutil.RequireRoot(t, "load BPF programs and list them")
	objs := map[string]*testprogs.Object{}
	for _, name := range []string{testprogs.Hot, testprogs.Subprog, testprogs.Maps, testprogs.Tracepoint} {
		objs[name], _ = progtest.Load(t, name)
	}
	if err := objs[testprogs.Tracepoint].Attach(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, name := range []string{testprogs.Hot, testprogs.Subprog, testprogs.Maps} {
		prog := objs[name].Program()
		wg.Go(func() {
			if _, err := testprogs.Drive(ctx, prog, 5000); err != nil {
				t.Errorf("drive %s: %v", name, err)
			}
		})
	}
	// Cleanups run last-in first-out: stop driving before unloading.
	t.Cleanup(func() { cancel(); wg.Wait() })
	return objs
}

func listProgramID(t *testing.T, obj *testprogs.Object) uint32 {
	t.Helper()
	return progtest.ID(t, obj.Program())
}

func listDecode(t *testing.T, out []byte) []listedProgram {
	t.Helper()
	var progs []listedProgram
	if err := json.Unmarshal(out, &progs); err != nil {
		t.Fatalf("list --json output: %v\n%s", err, out)
	}
	return progs
}

func TestListJSONTestprogs(t *testing.T) {
	testutil.KernelMatrix(t)
	listCheckNoNewFDs(t)
	objs := listLoadAll(t)
	first := listDecode(t, listCmd(t, "--json", "--interval", "300ms"))
	second := listDecode(t, listCmd(t, "--json", "--interval", "300ms"))

	want := []struct {
		obj, name, full, typ string
		subprograms          int
	}{
		{testprogs.Hot, testprogs.HotFunc[:15], testprogs.HotFunc, "socket_filter", 0},
		{testprogs.Subprog, testprogs.SubprogFunc[:15], testprogs.SubprogFunc, "xdp", 1},
		{testprogs.Maps, testprogs.MapsFunc, testprogs.MapsFunc, "socket_filter", 0},
		{testprogs.Tracepoint, testprogs.TracepointFunc[:15], testprogs.TracepointFunc, "tracepoint", 0},
	}
	find := func(progs []listedProgram, id uint32) *listedProgram {
		for i := range progs {
			if progs[i].ID == id {
				return &progs[i]
			}
		}
		return nil
	}
	for _, w := range want {
		t.Run(w.obj, func(t *testing.T) {
			id := listProgramID(t, objs[w.obj])
			p, p2 := find(first, id), find(second, id)
			if p == nil || p2 == nil {
				t.Fatalf("program %d (%s) not listed", id, w.full)
			}
			// "name" is bpftool's: the BTF name where the kernel's is
			// truncated.
			if p.Name != w.full || p.FullName != w.full || p.KernelName != w.name || p.Type != w.typ {
				t.Errorf("name %q full_name %q kernel_name %q type %q, want %q %q %q %q",
					p.Name, p.FullName, p.KernelName, p.Type, w.full, w.full, w.name, w.typ)
			}
			if p.Subprograms != w.subprograms || len(p.JitedKsyms) != w.subprograms+1 {
				t.Errorf("subprograms %d, jited_ksyms %v; want %d subprograms", p.Subprograms, p.JitedKsyms, w.subprograms)
			}
			for _, k := range p.JitedKsyms {
				if _, err := strconv.ParseUint(strings.TrimPrefix(k, "0x"), 16, 64); err != nil || !strings.HasPrefix(k, "0x") {
					t.Errorf("jited_ksyms entry %q is not a hex address", k)
				}
			}
			if !slices.ContainsFunc(p.Pids, func(q bpfprog.Proc) bool { return q.PID == os.Getpid() }) {
				t.Errorf("pids %v do not include this process %d", p.Pids, os.Getpid())
			}
			if p.RunsPerSec == nil || p.AvgRunNs == nil || p.CPUPercent == nil || p.RecursionMisses == nil {
				t.Fatalf("missing stats keys: %+v", p)
			}
			// Every program runs: the tracepoint one on the system
			// calls of this very test.
			if *p.RunsPerSec <= 0 || *p.CPUPercent <= 0 || *p.AvgRunNs <= 0 {
				t.Errorf("runs_per_sec %v avg_run_ns %v cpu_percent %v, want > 0", *p.RunsPerSec, *p.AvgRunNs, *p.CPUPercent)
			}
			if p2.RunCnt <= p.RunCnt || p2.RunTimeNs <= p.RunTimeNs {
				t.Errorf("stats did not grow: run_cnt %d then %d, run_time_ns %d then %d", p.RunCnt, p2.RunCnt, p.RunTimeNs, p2.RunTimeNs)
			}
			if w.obj == testprogs.Tracepoint {
				// The link names the event; its system comes from
				// tracefs, which may or may not be mounted as we list.
				if len(p.Attach) != 1 {
					t.Fatalf("attach %v, want one link", p.Attach)
				}
				name, _ := p.Attach[0]["name"].(string)
				if p.Attach[0]["description"] != "tracepoint "+name ||
					p.Attach[0]["link_type"] != "perf_event" || (name != "raw_syscalls/sys_enter" && name != "sys_enter") {
					t.Errorf("attach %v, want the tracepoint raw_syscalls/sys_enter", p.Attach)
				}
			} else if len(p.Attach) != 0 {
				t.Errorf("attach %v, want none", p.Attach)
			}
		})
	}

	// Every key bpftool prints, and ours, are in each object.
	var raw []map[string]any
	if err := json.Unmarshal(listCmd(t, "--json", "--interval", "0", "id", strconv.Itoa(int(listProgramID(t, objs[testprogs.Maps])))), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 {
		t.Fatalf("list id N gave %d programs", len(raw))
	}
	for _, key := range []string{"id", "type", "name", "tag", "gpl_compatible", "loaded_at", "uid", "bytes_xlated",
		"jited", "bytes_jited", "bytes_memlock", "map_ids", "btf_id", "run_time_ns", "run_cnt", "recursion_misses", "pids",
		"full_name", "kernel_name", "verified_insns", "attach", "subprograms", "jited_ksyms", "jited_func_lens"} {
		if _, ok := raw[0][key]; !ok {
			t.Errorf("key %q missing", key)
		}
	}
	for _, key := range []string{"runs_per_sec", "avg_run_ns", "cpu_percent"} {
		if _, ok := raw[0][key]; ok {
			t.Errorf("key %q present with --interval 0", key)
		}
	}
	if ids, _ := raw[0]["map_ids"].([]any); len(ids) < 2 {
		t.Errorf("map_ids %v, want the hash and array maps", raw[0]["map_ids"])
	}
}

func TestListTable(t *testing.T) {
	listCheckNoNewFDs(t)
	objs := listLoadAll(t)
	id := strconv.Itoa(int(listProgramID(t, objs[testprogs.Hot])))
	out := string(listCmd(t, "--interval", "200ms", id))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("want a header and one program, got:\n%s", out)
	}
	header := strings.Fields(lines[0])
	if want := []string{"ID", "TYPE", "NAME", "TAG", "RUNS/s", "AVG", "ns", "CPU%", "ATTACH", "PIDS"}; !slices.Equal(header, want) {
		t.Errorf("header %q, want %q", header, want)
	}
	// Columns are aligned: each header starts where its values do.
	col := strings.Index(lines[0], "TAG")
	if col < 0 || len(lines[1]) <= col || !strings.HasPrefix(lines[1][col:], strings.Fields(lines[1])[3]) {
		t.Errorf("TAG column not aligned:\n%s", out)
	}
	f := strings.Fields(lines[1])
	if f[0] != id || f[1] != "socket_filter" || f[2] != testprogs.HotFunc {
		t.Errorf("row %q", lines[1])
	}
	if runs, err := strconv.ParseFloat(f[4], 64); err != nil || runs <= 0 {
		t.Errorf("RUNS/s %q", f[4])
	}
	if !strings.Contains(lines[1], "("+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("PIDS of row %q lack this process", lines[1])
	}

	// Chosen columns agree with --json, and -p indents the same JSON.
	out = string(listCmd(t, "--interval", "0", "-o", "id,run_cnt,run_time_ns,loaded_at,map_ids", id))
	var prog []struct {
		RunCnt   uint64   `json:"run_cnt"`
		LoadedAt int64    `json:"loaded_at"`
		MapIDs   []uint32 `json:"map_ids"`
	}
	pretty := listCmd(t, "--interval", "0", "-p", id)
	if err := json.Unmarshal(pretty, &prog); err != nil || len(prog) != 1 || !bytes.Contains(pretty, []byte("\n    ")) {
		t.Fatalf("-p printed %s: %v", pretty, err)
	}
	lines = strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !slices.Equal(strings.Fields(lines[0]), []string{"ID", "RUN_CNT", "RUN_TIME_NS", "LOADED_AT", "MAP_IDS"}) {
		t.Fatalf("-o id,run_cnt,run_time_ns,loaded_at,map_ids printed:\n%s", out)
	}
	f = strings.Fields(lines[1])
	runs, err := strconv.ParseUint(f[1], 10, 64)
	if f[0] != id || err != nil || runs == 0 || runs > prog[0].RunCnt {
		t.Errorf("row %q: want id %s and run_cnt in (0, %d]", lines[1], id, prog[0].RunCnt)
	}
	if ns, err := strconv.ParseUint(f[2], 10, 64); err != nil || ns == 0 {
		t.Errorf("run_time_ns %q", f[2])
	}
	if at, err := time.Parse("2006-01-02T15:04:05-0700", f[3]); err != nil || at.Unix() != prog[0].LoadedAt {
		t.Errorf("loaded_at %q: %v, want unix time %d", f[3], err, prog[0].LoadedAt)
	}
	var maps []string
	for _, m := range prog[0].MapIDs {
		maps = append(maps, strconv.Itoa(int(m)))
	}
	if want := orDash(strings.Join(maps, ",")); f[4] != want {
		t.Errorf("map_ids %q, want %q", f[4], want)
	}
}

// listBpftoolProgram is 'bpftool prog show --json' output.
type listBpftoolProgram struct {
	ID           uint32         `json:"id"`
	Type         any            `json:"type"`
	Name         string         `json:"name"`
	Tag          string         `json:"tag"`
	GPL          bool           `json:"gpl_compatible"`
	LoadedAt     int64          `json:"loaded_at"`
	UID          uint32         `json:"uid"`
	BytesXlated  uint32         `json:"bytes_xlated"`
	Jited        bool           `json:"jited"`
	BytesJited   uint32         `json:"bytes_jited"`
	BytesMemlock uint64         `json:"bytes_memlock"`
	MapIDs       []uint32       `json:"map_ids"`
	BTFID        uint32         `json:"btf_id"`
	Pids         []bpfprog.Proc `json:"pids"`
}

// TestListMatchesBpftool compares 'list --json' with 'bpftool prog show
// --json' for every program on the machine.
func TestListMatchesBpftool(t *testing.T) {
	listCheckNoNewFDs(t)
	listLoadAll(t)
	bpftool, err := exec.LookPath("bpftool")
	if err != nil {
		testutil.SkipOrFail(t, "bpftool is not installed (apt-get install bpftool)")
	}
	start := time.Now()
	var ours []listBpftoolProgram
	if err := json.Unmarshal(listCmd(t, "--json", "--interval", "0"), &ours); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bpftool, "prog", "show", "--json").Output()
	if err != nil {
		t.Fatalf("bpftool prog show --json: %v", err)
	}
	var theirs []listBpftoolProgram
	if err := json.Unmarshal(out, &theirs); err != nil {
		t.Fatal(err)
	}
	byID := map[uint32]listBpftoolProgram{}
	for _, p := range theirs {
		byID[p.ID] = p
	}
	compared := 0
	for _, o := range ours {
		b, ok := byID[o.ID]
		if !ok {
			// Only a program unloaded in between may be missing.
			if _, err := bpfprog.Get(bpfprog.ID(o.ID), bpfprog.ListOptions{SkipProcs: true, SkipAttach: true}); !errors.Is(err, bpfprog.ErrNotFound) {
				t.Errorf("program %d listed by bpfprof, still loaded, but not by bpftool", o.ID)
			}
			continue
		}
		delete(byID, o.ID)
		compared++
		// bpftool omits btf_id and map_ids when there are none.
		if b.MapIDs == nil {
			b.MapIDs = []uint32{}
		}
		if o.Type != b.Type || o.Name != b.Name || o.Tag != b.Tag || o.GPL != b.GPL || o.UID != b.UID ||
			o.BytesXlated != b.BytesXlated || o.Jited != b.Jited || o.BytesJited != b.BytesJited ||
			o.BytesMemlock != b.BytesMemlock || !slices.Equal(o.MapIDs, b.MapIDs) || o.BTFID != b.BTFID {
			t.Errorf("program %d differs:\nbpfprof %+v\nbpftool %+v", o.ID, o, b)
		}
		if d := o.LoadedAt - b.LoadedAt; d < -1 || d > 1 {
			t.Errorf("program %d loaded_at %d, bpftool %d", o.ID, o.LoadedAt, b.LoadedAt)
		}
		// Debian's bpftool has no pids; a full build does.
		if b.Pids != nil {
			pids := func(ps []bpfprog.Proc) []int {
				var out []int
				for _, p := range ps {
					out = append(out, p.PID)
				}
				slices.Sort(out)
				return out
			}
			if !slices.Equal(pids(o.Pids), pids(b.Pids)) {
				t.Errorf("program %d pids %v, bpftool %v", o.ID, o.Pids, b.Pids)
			}
		}
	}
	for id := range byID {
		// Only a program loaded in between may be missing from ours.
		p, err := bpfprog.Get(bpfprog.ID(id), bpfprog.ListOptions{SkipProcs: true, SkipAttach: true})
		if err == nil && p.LoadedAt.Before(start.Add(-time.Second)) {
			t.Errorf("program %d listed by bpftool, loaded before bpfprof listed, but not listed by it", id)
		}
	}
	if compared < 4 {
		t.Errorf("compared only %d programs", compared)
	}
	t.Logf("compared %d programs with bpftool", compared)
}

func TestListNotFound(t *testing.T) {
	testutil.RequireRoot(t, "list BPF programs")
	var stdout, stderr bytes.Buffer
	code := run([]string{"list", "--interval", "0", "name", "bpfprof_no_such_program"}, &stdout, &stderr)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got, want := stderr.String(), "bpfprof list: no BPF program with name bpfprof_no_such_program; see 'bpfprof list'\n"; got != want {
		t.Errorf("stderr %q, want %q", got, want)
	}
}

func TestListDemo(t *testing.T) {
	testutil.RequireRoot(t, "load the demo programs")
	listCheckNoNewFDs(t)
	progs := listDecode(t, listCmd(t, "--demo", "--json", "--interval", "300ms"))
	seen := map[string]uint32{}
	for _, p := range progs {
		switch p.FullName {
		case testprogs.HotFunc, testprogs.SubprogFunc, testprogs.MapsFunc, testprogs.TracepointFunc:
			if !slices.ContainsFunc(p.Pids, func(q bpfprog.Proc) bool { return q.PID == os.Getpid() }) {
				continue // another test's copy
			}
			seen[p.FullName] = p.ID
			if p.RunsPerSec == nil || *p.RunsPerSec <= 0 {
				t.Errorf("%s: runs_per_sec %v, want > 0", p.FullName, p.RunsPerSec)
			}
		}
	}
	if len(seen) != 4 {
		t.Fatalf("demo programs listed: %v, want all four", seen)
	}
	// The demo programs are unloaded when list returns. Other processes
	// listing programs may hold one a moment longer.
	for name, id := range seen {
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if _, err = bpfprog.Get(bpfprog.ID(id), bpfprog.ListOptions{SkipProcs: true, SkipAttach: true}); errors.Is(err, bpfprog.ErrNotFound) {
				break
			}
		}
		if !errors.Is(err, bpfprog.ErrNotFound) {
			t.Errorf("demo program %s (%d) still loaded: %v", name, id, err)
		}
	}
}

// TestListHelperProcess is not a test: TestListWithoutRoot runs this test
// binary as another user with BPFPROF_LIST_HELPER=1 to run bpfprof there.
func TestListHelperProcess(t *testing.T) {
	if os.Getenv("BPFPROF_LIST_HELPER") != "1" {
		t.Skip("helper process for TestListWithoutRoot")
	}
	args := strings.Fields(os.Getenv("BPFPROF_LIST_ARGS"))
	os.Exit(run(append([]string{"list"}, args...), os.Stdout, os.Stderr))
}

func TestListWithoutRoot(t *testing.T) {
	testutil.RequireRoot(t, "run bpfprof as another user")
	bin := testutil.WorldExecutableSelf(t)
	const capPerfmon, capBPF = 38, 39
	for _, tt := range []struct {
		args string
		caps []uintptr
	}{
		{"", nil},
		{"--interval 0", nil},
		{"--json --interval 0 id 1", nil},
		{"--demo", nil},
		// CAP_BPF and CAP_PERFMON do not let one list others' programs.
		{"--interval 0", []uintptr{capBPF, capPerfmon}},
	} {
		t.Run(fmt.Sprintf("%s caps %v", tt.args, tt.caps), func(t *testing.T) {
			cmd := testutil.AsNobody(bin, []string{"BPFPROF_LIST_HELPER=1", "BPFPROF_LIST_ARGS=" + tt.args}, tt.caps,
				"-test.run=^TestListHelperProcess$")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; stderr %q", err, stderr.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "bpfprof list: ") || !strings.Contains(msg, "CAP_SYS_ADMIN") {
				t.Errorf("stderr %q, want one line naming CAP_SYS_ADMIN", msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
