package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/internal/testprogs"
	"github.com/bpfprof/bpfprof/internal/testprogs/progtest"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

// The tests of this file need kprobes, which the development host has
// compiled out: they run in the 'make test-kernels' guest (Debian 6.1 and
// 6.12 under QEMU), and skip elsewhere.

// loadKprobe loads the Kprobe test program and attaches it to
// testprogs.KprobeTarget until the test ends.
func loadKprobe(t *testing.T) *testprogs.Object {
	t.Helper()
	testutil.RequireKprobes(t)
	obj, _ := progtest.Load(t, testprogs.Kprobe)
	if err := obj.Attach(); err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestListKprobe lists a kprobe program: its attach point names the kernel
// function, in JSON and in the table. Before Linux 6.6 the kernel does not
// describe perf_event links; list asks BPF_TASK_FD_QUERY instead.
func TestListKprobe(t *testing.T) {
	listCheckNoNewFDs(t)
	obj := loadKprobe(t)
	id := listProgramID(t, obj)
	progs := listDecode(t, listCmd(t, "--json", "--interval", "0", "id", strconv.Itoa(int(id))))
	if len(progs) != 1 {
		t.Fatalf("list id %d gave %d programs", id, len(progs))
	}
	p := progs[0]
	if p.Type != "kprobe" || p.Name != testprogs.KprobeFunc {
		t.Errorf("type %q name %q, want kprobe %s", p.Type, p.Name, testprogs.KprobeFunc)
	}
	want := map[string]any{
		"link_type": "perf_event", "perf_event_type": "kprobe", "name": testprogs.KprobeTarget,
		"description": "kprobe " + testprogs.KprobeTarget,
	}
	if len(p.Attach) != 1 {
		t.Fatalf("attach %v, want one link", p.Attach)
	}
	for k, v := range want {
		if p.Attach[0][k] != v {
			t.Errorf("attach %s = %v, want %v (all: %v)", k, p.Attach[0][k], v, p.Attach[0])
		}
	}
	out := string(listCmd(t, "--interval", "0", strconv.Itoa(int(id))))
	if !strings.Contains(out, "kprobe "+testprogs.KprobeTarget) {
		t.Errorf("table lacks the attach point kprobe %s:\n%s", testprogs.KprobeTarget, out)
	}
}

// TestRecordKprobe records while getpid runs the kprobe program: its
// samples carry the program's name and, for their BPF frame, the source
// line marked kprobe-hot.
func TestRecordKprobe(t *testing.T) {
	loadKprobe(t)
	file, line, err := testprogs.Marker(testprogs.Kprobe, "kprobe-hot")
	if err != nil {
		t.Fatal(err)
	}
	hotLine := fmt.Sprintf("%s:%d", file, line)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			for range 1000 {
				unix.Getpid()
			}
		}
	})
	path := filepath.Join(t.TempDir(), "kprobe.pb.gz")
	_, stderr := recordOK(t, "-F", "999", "-d", "2s", "-o", path)
	cancel()
	wg.Wait()
	checkSummary(t, stderr, path)

	p := readProfile(t, path)
	lines := map[string]int64{}
	var n int64
	for _, s := range p.Sample {
		if !s.HasLabel("bpf_prog_name", testprogs.KprobeFunc) {
			continue
		}
		n += s.Value[0]
		if !s.HasLabel("bpf_prog_type", "kprobe") {
			t.Errorf("kprobe sample labels %v", s.Label)
		}
		leaf := s.Location[0]
		if len(leaf.Line) > 0 && leaf.Mapping != nil && strings.HasPrefix(leaf.Mapping.File, "[bpf] ") {
			l := leaf.Line[0]
			lines[fmt.Sprintf("%s:%d", l.Function.Filename, l.Line)] += s.Value[0]
		}
	}
	if n == 0 {
		t.Fatalf("no sample labelled with %s among %d", testprogs.KprobeFunc, len(p.Sample))
	}
	if top, c := topOf(lines); top != hotLine {
		t.Errorf("top line of %s: %s (%d of %d samples), want %s; all: %v", testprogs.KprobeFunc, top, c, n, hotLine, lines)
	}
}
