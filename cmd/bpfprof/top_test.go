package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/internal/testutil"
)

func TestParseTopArgs(t *testing.T) {
	for _, c := range []struct {
		args  []string
		check func(*topConfig) bool
	}{
		{nil, func(c *topConfig) bool {
			return c.delay == time.Second && !c.batch && c.frequency == 499 && !c.eventSet
		}},
		{[]string{"-d", "0.5"}, func(c *topConfig) bool { return c.delay == 500*time.Millisecond }},
		{[]string{"--delay=2s", "--demo"}, func(c *topConfig) bool { return c.delay == 2*time.Second && c.demo }},
		{[]string{"-bn3"}, func(c *topConfig) bool { return c.batch && c.iterations == 3 }},
		{[]string{"--once", "-n", "1", "--sort", "runs/s", "--filter", "xdp"}, func(c *topConfig) bool {
			return c.batch && c.iterations == 1 && c.sort == "runs/s" && c.filter == "xdp"
		}},
		{[]string{"-e", "cpu-clock", "-F", "99", "--log", "/tmp/x"}, func(c *topConfig) bool {
			return c.eventSet && c.event.String() == "cpu-clock" && c.frequency == 99 && c.logFile == "/tmp/x"
		}},
	} {
		cfg, err := parseTopArgs(c.args, io.Discard)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if !c.check(cfg) {
			t.Errorf("%q: parsed %+v", c.args, *cfg)
		}
	}
}

func TestTopUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-n", "2"}, "-n counts batch tables; use it with -b"},
		{[]string{"-b", "-n", "-1"}, "-n must be 1 or more"},
		{[]string{"-d", "0.01"}, "out of range"},
		{[]string{"-d", "soon"}, "-d"},
		{[]string{"-F", "0"}, "-F must be above 0"},
		{[]string{"-b", "--sort", "color"}, `--sort "color": one of ID, TYPE`},
		{[]string{"-e", "no-such-event"}, "-e"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		var stderr bytes.Buffer
		if code := run(append([]string{"top"}, c.args...), io.Discard, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", c.args, code, stderr.String())
		}
		if !strings.Contains(stderr.String(), c.want) || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: stderr %q, want one line with %q", c.args, stderr.String(), c.want)
		}
	}
}

// Without a terminal top refuses in one line and points to what works
// there; it checks this before anything needs a privilege.
func TestTopNeedsTerminal(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"top"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := "bpfprof top: top needs a terminal; use `bpfprof top -b`, `bpfprof list` or `bpfprof stat`\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stderr %q, stdout %q; want stderr %q", stderr.String(), stdout.String(), want)
	}
}

// TestTopBatch runs 'top -b --demo' in process: one table after one delay,
// with the demo programs and their rates, filtered and sorted as asked.
func TestTopBatch(t *testing.T) {
	testutil.RequireRoot(t, "top loads the demo programs and samples the machine")
	var stdout, stderr bytes.Buffer
	code := run([]string{"top", "-b", "-n", "1", "-d", "0.3", "--demo", "--filter", "bpfprof_", "--sort", "name"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) < 3 || !strings.Contains(lines[0], "programs") || !strings.HasPrefix(lines[1], "stats: our fd") && !strings.HasPrefix(lines[1], "stats: sysctl") {
		t.Fatalf("no summary lines:\n%s", stdout.String())
	}
	header := lines[2]
	runsEnd := strings.Index(header, "RUNS/s") + len("RUNS/s")
	var names []string
	for _, l := range lines[3:] {
		f := strings.Fields(l)
		if len(f) < 3 {
			t.Fatalf("short row %q", l)
		}
		names = append(names, f[2])
		// Only this process's demo programs must have run; others of
		// the same name (other tests) may be idle.
		if strings.Contains(l, fmt.Sprintf("(%d)", os.Getpid())) {
			runs := strings.TrimSpace(l[strings.LastIndex(l[:runsEnd-len("RUNS/s")], " ")+1 : runsEnd])
			if v, err := parseCount(runs); err != nil || v <= 0 {
				t.Errorf("demo program without runs: %q (RUNS/s %q)", l, runs)
			}
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("rows not sorted by name: %v", names)
	}
	for _, n := range demoNames {
		if !slices.Contains(names, n) {
			t.Errorf("no %s row:\n%s", n, stdout.String())
		}
	}
}

// parseCount reads a count cell of the table: a whole number, or above
// 999999 one with M or G (a busy machine's tracepoint runs a million times
// a second).
func parseCount(cell string) (float64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(cell, "M"):
		mult = 1e6
	case strings.HasSuffix(cell, "G"):
		mult = 1e9
	}
	v, err := strconv.ParseFloat(strings.TrimRight(cell, "MG"), 64)
	return v * mult, err
}

// tuiListing joins the blocks of one line that follow each other, puts
// each block's machine code under its first instruction, and keeps code
// without a source line.
func TestTUIListing(t *testing.T) {
	src := func(line uint32) *annotate.Source {
		return &annotate.Source{File: "hot.bpf.c", Line: line, Text: fmt.Sprintf("line %d", line)}
	}
	al := &annotate.Listing{Functions: []annotate.Function{{
		Name: "f",
		Blocks: []annotate.Block{
			{Insns: []annotate.Insn{{Index: 0, Text: "r0 = 0"}}},
			{Source: src(10), Insns: []annotate.Insn{{Index: 1, Text: "r1 = 1"}}, JIT: []annotate.JITInsn{{Addr: 0x100, Len: 3, Text: "mov"}}},
			{Source: src(10), Insns: []annotate.Insn{{Index: 2, Text: "r2 = 2", Comment: "map x"}}},
			{Source: src(11), Insns: []annotate.Insn{{Index: 3, Text: "exit"}}},
			{Source: src(10), Insns: []annotate.Insn{{Index: 4, Text: "r3 = 3"}}},
		},
	}}}
	l := tuiListing(al)
	if len(l.Funcs) != 1 || l.Funcs[0].Name != "f" {
		t.Fatalf("functions: %+v", l.Funcs)
	}
	var got []string
	for _, sl := range l.Funcs[0].Lines {
		s := fmt.Sprintf("%d:", sl.Line)
		for _, in := range sl.Insns {
			s += fmt.Sprintf(" %d %s", in.Index, in.Text)
			for _, j := range in.JIT {
				s += fmt.Sprintf(" [%x+%d %s]", j.Addr, j.Len, j.Text)
			}
		}
		got = append(got, s)
	}
	want := []string{
		"0: 0 r0 = 0",
		"10: 1 r1 = 1 [100+3 mov] 2 r2 = 2  ; map x",
		"11: 3 exit",
		"10: 4 r3 = 3",
	}
	if !slices.Equal(got, want) {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
