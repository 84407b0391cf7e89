package main

import (
	"errors"
	"io"
)

// errNotYet is returned by subcommands that later versions build.
var errNotYet = errors.New("not available in this version yet; use 'bpfprof list' for run-time stats and 'bpfprof record' for profiles")

// notBuilt names the commands that notYet stands in for, so that
// 'bpfprof -h' marks them. Deleting a command's notYet line deletes its
// mark.
var notBuilt = map[string]bool{}

// notYet returns a subcommand that parses -h (showing what it will do) and
// otherwise says it is not available yet.
func notYet(name, synopsis, about string) func(args []string, stdout, stderr io.Writer) error {
	notBuilt[name] = true
	return func(args []string, stdout, stderr io.Writer) error {
		fs := newFlagSet(name, synopsis+"\n\n"+about+" Not available in this version yet.", stderr)
		if err := fs.parse(args); err != nil {
			return err
		}
		return errNotYet
	}
}

var (
	runAnnotate = notYet("annotate", "[id ID | name NAME | tag TAG | pinned PATH] [-i PROFILE]", "Shows BPF source lines, xlated bytecode and JIT code with per-line sample percentages.")
)
