// Command bpfprof profiles BPF programs the way perf profiles ordinary code.
//
// Only this package wires the others together: sampler → symbolize →
// aggregate → {tui, pprof, annotate, stat}.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

// command is one subcommand of bpfprof.
type command struct {
	name    string
	summary string
	// run executes the subcommand with its arguments (the subcommand name
	// removed). It returns a usageError for bad arguments.
	run func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"list", "list loaded BPF programs with their facts and run-time stats", runList},
		{"record", "sample stacks, including JITed BPF code, into a pprof profile", runRecord},
		{"stat", "count runs and run time per BPF program, perf-stat style", runStat},
		{"annotate", "show BPF source, bytecode and JIT code with sample heat", runAnnotate},
		{"top", "interactive, top-like view of every loaded BPF program", runTop},
		{"version", "print the version of bpfprof", runVersion},
	}
}

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes bpfprof with args and returns the exit code: 0 on success, 1
// for runtime errors, 2 for usage errors.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		mainUsage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		}
		var ec exitCodeError
		if errors.As(err, &ec) {
			// The subcommand said all there is to say: pass a profiled
			// command's exit status on, as perf record does.
			return ec.code
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "bpfprof %s: %v (see 'bpfprof %s -h')\n", c.name, err, c.name)
			return 2
		}
		fmt.Fprintf(stderr, "bpfprof %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "bpfprof: unknown command %q (see 'bpfprof -h' for the commands)\n", args[0])
	return 2
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "bpfprof shows which BPF program eats CPU and which line of its source is hot.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: bpfprof COMMAND [flags] [args]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'bpfprof COMMAND -h' for the flags of a command.")
	fmt.Fprintln(w, "Needs root (CAP_PERFMON to sample, CAP_SYS_ADMIN to list programs and read their line info).")
}

// flagSet is a subcommand's flags: quiet while parsing, so that a mistake is
// reported in one line, with the full usage only on -h.
type flagSet struct {
	*flag.FlagSet
	synopsis string
	stderr   io.Writer
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, synopsis: synopsis, stderr: stderr}
}

// parse parses args. -h prints the usage and returns flag.ErrHelp; any other
// mistake comes back as a usage error.
func (fs *flagSet) parse(args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(fs.stderr, "Usage: bpfprof %s %s\n\n", fs.Name(), fs.synopsis)
		fs.SetOutput(fs.stderr)
		fs.PrintDefaults()
		return flag.ErrHelp
	}
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "", stderr)
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	version := "(devel)"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		version = info.Main.Version
	}
	fmt.Fprintf(stdout, "bpfprof %s\n", strings.TrimSpace(version))
	return nil
}
