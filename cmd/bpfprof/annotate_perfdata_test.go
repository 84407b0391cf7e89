package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bpfprof/bpfprof/annotate"
	"github.com/bpfprof/bpfprof/bpfprog"
	"github.com/bpfprof/bpfprof/internal/errs"
	"github.com/bpfprof/bpfprof/internal/testprogs"
)

// hottestLine returns "file:line" of the hottest line of a listing.
func hottestLine(l *annotate.Listing) (string, uint64) {
	var top string
	var n uint64
	for _, f := range l.Functions {
		for _, ls := range f.Lines {
			if ls.Samples > n {
				top, n = ls.Source.String(), ls.Samples
			}
		}
	}
	return top, n
}

func TestAnnotatePerfData(t *testing.T) {
	file := filepath.Join(perfdataDir, "hot-task.data")
	if !isPerfData(file) || isPerfData("convert.go") {
		t.Fatal("isPerfData does not tell perf.data from other files")
	}
	for _, c := range []struct {
		sel      []string
		prog     string
		mark     string
		function string
	}{
		{[]string{"name", testprogs.HotFunc}, testprogs.Hot, "hot", ""},
		{[]string{"name", "bpfprof_hot_loo"}, testprogs.Hot, "hot", ""},
		{[]string{"tag", "8015c3c422f0136e"}, testprogs.Hot, "hot", ""},
		{[]string{"name", testprogs.SubprogFunc}, testprogs.Subprog, "sub-hot", ""},
	} {
		sel, _, err := bpfprog.ParseSelector(c.sel)
		if err != nil {
			t.Fatal(err)
		}
		prog, counts, _, err := perfDataProgram(file, sel, "")
		if err != nil {
			t.Fatalf("%v: %v", c.sel, err)
		}
		l, err := annotate.Build(prog, counts, annotate.Options{JIT: true})
		if err != nil {
			t.Fatal(err)
		}
		top, n := hottestLine(l)
		if want := markerLine(t, c.prog, c.mark); top != want || n == 0 {
			t.Errorf("%v: hottest line %s (%d samples), want %s", c.sel, top, n, want)
		}
		if !l.JITed || l.Samples == 0 || l.TotalSamples != 278 || counts.Event != "cpu-clock" {
			t.Errorf("%v: listing JITed %v, %d of %d samples, event %q", c.sel, l.JITed, l.Samples, l.TotalSamples, counts.Event)
		}
		var text strings.Builder
		if err := annotate.WriteText(&text, l, annotate.TextOptions{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), "MARK: "+c.mark) {
			t.Errorf("%v: listing without the marked line:\n%s", c.sel, text.String())
		}
	}
	for _, sel := range [][]string{{"id", "1"}, {"name", "nothing"}} {
		s, _, _ := bpfprog.ParseSelector(sel)
		if _, _, _, err := perfDataProgram(file, s, ""); !errors.Is(err, errs.ErrNotFound) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want a one-line ErrNotFound", sel, err)
		}
	}
}

// TestAnnotatePerfDataCommand runs 'bpfprof annotate -i perf.data' as a
// user does: the hot line is marked hottest, bad files fail in one line.
func TestAnnotatePerfDataCommand(t *testing.T) {
	file := filepath.Join(perfdataDir, "hot-task.data")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"annotate", "-i", file, "--jit", "name", testprogs.HotFunc}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var hot string
	for line := range strings.Lines(stdout.String()) {
		if strings.HasPrefix(strings.TrimSpace(line), ">1") {
			hot = line
			break
		}
	}
	if !strings.Contains(hot, "MARK: hot") {
		t.Errorf("the hottest line (>1) is %q, want the one marked hot:\n%s", hot, stdout.String())
	}

	good, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "cut.data")
	if err := os.WriteFile(bad, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"annotate", "-i", bad, "name", testprogs.HotFunc},
		{"annotate", "-i", file, "name", "no_such_program"},
		{"annotate", "-i", file, "pinned", "/sys/fs/bpf/x"},
	} {
		stdout.Reset()
		stderr.Reset()
		if code := run(args, &stdout, &stderr); code != 1 || strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: exit %d, stderr %q: want exit 1 and one line", args, code, stderr.String())
		}
	}
}
