package main

import (
	"errors"
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
