// Command bpfprof profiles BPF programs the way perf profiles ordinary code.
//
// Only this package wires the others together: sampler → symbolize →
// aggregate → {tui, pprof, annotate, stat}.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
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
		{"convert", "convert a perf.data file from 'perf record' into a pprof profile with BPF source lines", runConvert},
		{"annotate", "show BPF source, bytecode and JIT code with sample heat", runAnnotate},
		{"top", "interactive, top-like view of every loaded BPF program", runTop},
		{"agent", "run continuously: per-program metrics for Prometheus, profiles to OTLP, Pyroscope or a directory", runAgent},
		{"version", "print the version of bpfprof", runVersion},
		{"completion", "print a bash, zsh or fish script that completes bpfprof's commands, flags and programs", runCompletion},
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
	switch {
	case len(args) == 0:
		mainUsage(stderr)
		return 2
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		if len(args) > 1 && args[0] == "help" {
			// "bpfprof help record" is "bpfprof record -h".
			return run([]string{args[1], "-h"}, stdout, stderr)
		}
		mainUsage(stderr)
		return 0
	case args[0] == "--version" || args[0] == "-V":
		args = append([]string{"version"}, args[1:]...)
	case args[0] == completeCommand:
		complete(args[1:], stdout)
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
		case errors.Is(err, errHelp):
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
	if strings.HasPrefix(args[0], "-") {
		fmt.Fprintf(stderr, "bpfprof: unknown flag %q before the command (see 'bpfprof -h')\n", args[0])
		return 2
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
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Flags: -h, --help for this help; -V, --version for the version.")
	fmt.Fprintln(w, "Run 'bpfprof COMMAND -h' for the flags of a command.")
	fmt.Fprintln(w, "Needs root (CAP_PERFMON to sample, CAP_SYS_ADMIN to list programs and read their line info).")
}

// flagSet is a command's flags, parsed GNU style by github.com/spf13/pflag:
// short and long forms, flags before or after the arguments, "--" ending
// them. Every command declares its flags on one, then calls parse:
//
//	fs := newFlagSet("stat", "[flags] ["+bpfprog.SelectorUsage+"]", stderr)
//	out := fs.StringP("output", "o", "", "write the report to `FILE`")
//	quiet := fs.BoolP("quiet", "q", false, "print nothing but the report")
//	dur := fs.StringP("duration", "d", "", "stop after `DURATION`")
//	fs.Bool("json", false, "print JSON") // long form only: --json
//	if err := fs.parse(args); err != nil {
//		return err // -h (ErrHelp: exit 0) or a usage error (exit 2)
//	}
//	sel, rest, err := bpfprog.ParseSelector(fs.Args())
//
// The word in backquotes names the value in the help (-o, --output FILE).
// fs.Changed("output") says whether a flag was given. A program selector's
// value is never taken for a flag ("id -1" is a bad id, not flag -1). A
// command that runs another command (record) calls
// fs.SetInterspersed(false) first, so that flags after the command's name
// are the command's own.
type flagSet struct {
	*pflag.FlagSet
	synopsis string
	stderr   io.Writer
	// args are the arguments left after parse.
	args           []string
	noInterspersed bool
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	return &flagSet{FlagSet: fs, synopsis: synopsis, stderr: stderr}
}

// parse parses args. -h or --help prints the usage and returns
// errHelp; any other mistake comes back as a usage error.
func (fs *flagSet) parse(args []string) error {
	fs.FlagSet.SetInterspersed(false)
	fs.args = nil
	for {
		if err := fs.FlagSet.Parse(args); err != nil {
			if errors.Is(err, pflag.ErrHelp) {
				fs.printUsage()
				return errHelp
			}
			return usageError{err.Error()}
		}
		rest := fs.FlagSet.Args()
		if fs.ArgsLenAtDash() >= 0 || len(rest) == 0 {
			fs.args = append(fs.args, rest...)
			return nil
		}
		n := 1
		if selectorKeyword(rest[0]) && len(rest) > 1 {
			n = 2 // the selector's value, whatever it looks like
		}
		if fs.noInterspersed {
			n = len(rest)
		}
		fs.args = append(fs.args, rest[:n]...)
		args = rest[n:]
	}
}

// SetInterspersed(false) makes parse stop at the first argument: what
// follows is a command line of its own.
func (fs *flagSet) SetInterspersed(on bool) { fs.noInterspersed = !on }

// Args returns the arguments left after parse, flags taken out.
func (fs *flagSet) Args() []string { return fs.args }

// NArg returns len(fs.Args()).
func (fs *flagSet) NArg() int { return len(fs.args) }

// Arg returns the i'th argument left after parse, or "".
func (fs *flagSet) Arg(i int) string {
	if i < 0 || i >= len(fs.args) {
		return ""
	}
	return fs.args[i]
}

// selectorKeyword reports whether word starts a program selector, whose
// value comes next.
func selectorKeyword(word string) bool {
	switch word {
	case "id", "name", "tag", "pinned":
		return true
	}
	return false
}

func (fs *flagSet) printUsage() {
	fmt.Fprintf(fs.stderr, "Usage: bpfprof %s %s\n", fs.Name(), fs.synopsis)
	if fs.HasAvailableFlags() {
		fmt.Fprintf(fs.stderr, "\nFlags:\n%s", flagUsages(fs.FlagSet))
	}
}

// flagUsages lists the flags as the README spells them: "-o, --output
// FILE", a bool without pflag's "[=true|false]".
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, right string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "    --" + f.Name
		if f.Shorthand != "" {
			left = "-" + f.Shorthand + ", --" + f.Name
		}
		name, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" && name != "" {
			left += " " + name
		}
		switch {
		case f.Value.Type() == "bool", f.DefValue == "", f.DefValue == "0", f.DefValue == "[]":
		case f.Value.Type() == "string":
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, r.left, r.right)
	}
	return b.String()
}

// errHelp is what parse returns after printing the usage for -h: exit 0.
var errHelp = pflag.ErrHelp

// endSignals end a command's work early, as Ctrl-C does: it still writes
// what it promised (a profile, a listing, totals), detaches what it
// attached and restores the terminal. SIGHUP is a terminal closed or an ssh
// session dropped; SIGQUIT (Ctrl-\) would otherwise dump the goroutines
// and exit, leaving a temporary file and a -- COMMAND behind.
var endSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// notifyEnd returns a context that endSignals end. Once it is done, SIGQUIT
// has its default action again: a second Ctrl-\ still ends a command stuck
// finishing (writing to a FIFO nobody reads, say), with Go's goroutine dump.
func notifyEnd(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, endSignals...)
	context.AfterFunc(ctx, func() { signal.Reset(syscall.SIGQUIT) })
	return ctx, stop
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
