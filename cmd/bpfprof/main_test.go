package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-V"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Errorf("%q: exit %d: %s", args, code, stderr.String())
		}
		if !strings.HasPrefix(stdout.String(), "bpfprof ") || strings.Count(stdout.String(), "\n") != 1 {
			t.Errorf("%q printed %q, want one line 'bpfprof VERSION'", args, stdout.String())
		}
	}
}

func TestMainUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-h"}, &stdout, &stderr); code != 0 {
		t.Errorf("-h: exit %d", code)
	}
	for _, c := range commands() {
		var line string
		for l := range strings.Lines(stderr.String()) {
			if f := strings.Fields(l); len(f) > 0 && f[0] == c.name {
				line = l
			}
		}
		if line == "" {
			t.Errorf("-h does not list %s:\n%s", c.name, stderr.String())
			continue
		}
		if strings.Contains(line, "not built") {
			t.Errorf("-h marks %s as not built: %s", c.name, line)
		}
	}

	stderr.Reset()
	if code := run([]string{"help", "record"}, &stdout, &stderr); code != 0 || !strings.Contains(stderr.String(), "Usage: bpfprof record") {
		t.Errorf("help record: exit %d, printed %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"--bogus"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown flag "--bogus"`) {
		t.Errorf("--bogus: exit %d, printed %q", code, stderr.String())
	}
}

// TestFlagSet checks the parsing every command shares: short and long
// forms, flags on either side of arguments, "--", and selector values that
// look like flags.
func TestFlagSet(t *testing.T) {
	for _, tc := range []struct {
		args          []string
		noIntersperse bool
		out           string
		quiet         bool
		rest          []string
	}{
		{args: []string{"-o", "x", "-q"}, out: "x", quiet: true},
		{args: []string{"--output", "x", "--quiet"}, out: "x", quiet: true},
		{args: []string{"--output=x", "-qo", "y"}, out: "y", quiet: true},
		{args: []string{"-ox"}, out: "x"},
		{args: []string{"id", "7", "-q", "extra"}, quiet: true, rest: []string{"id", "7", "extra"}},
		{args: []string{"id", "-1", "-q"}, quiet: true, rest: []string{"id", "-1"}},
		{args: []string{"name", "-q"}, rest: []string{"name", "-q"}},
		{args: []string{"-q", "--", "-o", "x"}, quiet: true, rest: []string{"-o", "x"}},
		{args: []string{"-q", "cmd", "-o", "x"}, noIntersperse: true, quiet: true, rest: []string{"cmd", "-o", "x"}},
		{args: []string{"cmd", "-o", "x"}, out: "x", rest: []string{"cmd"}},
	} {
		fs := newFlagSet("test", "", &bytes.Buffer{})
		if tc.noIntersperse {
			fs.SetInterspersed(false)
		}
		out := fs.StringP("output", "o", "", "write to `FILE`")
		quiet := fs.BoolP("quiet", "q", false, "say less")
		if err := fs.parse(tc.args); err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if *out != tc.out || *quiet != tc.quiet || strings.Join(fs.Args(), " ") != strings.Join(tc.rest, " ") || fs.NArg() != len(tc.rest) {
			t.Errorf("%q: output %q, quiet %v, args %q; want %q, %v, %q", tc.args, *out, *quiet, fs.Args(), tc.out, tc.quiet, tc.rest)
		}
	}
}

func TestFlagSetHelp(t *testing.T) {
	var stderr bytes.Buffer
	fs := newFlagSet("test", "[flags] THING", &stderr)
	fs.StringP("output", "o", "out.txt", "write to `FILE`")
	fs.Bool("json", false, "print JSON")
	fs.Int("count", 3, "do it `N` times")
	err := fs.parse([]string{"--help"})
	if err != errHelp {
		t.Fatalf("--help: %v, want errHelp", err)
	}
	want := `Usage: bpfprof test [flags] THING

Flags:
  -o, --output FILE  write to FILE (default "out.txt")
      --json         print JSON
      --count N      do it N times (default 3)
`
	if stderr.String() != want {
		t.Errorf("--help printed\n%s\nwant\n%s", stderr.String(), want)
	}
	for _, args := range [][]string{{"--bogus"}, {"-x"}, {"-o"}, {"--count", "many"}} {
		fs := newFlagSet("test", "", &stderr)
		fs.StringP("output", "o", "", "")
		fs.Int("count", 0, "")
		if _, ok := fs.parse(args).(usageError); !ok {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
