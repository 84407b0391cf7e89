package main

import (
	"errors"
	"io"
)

// errNotYet is returned by subcommands that later issues build.
var errNotYet = errors.New("not implemented yet in this version; use 'bpfprof list' and 'bpfprof record'")

func runStat(args []string, stdout, stderr io.Writer) error     { return errNotYet }
func runAnnotate(args []string, stdout, stderr io.Writer) error { return errNotYet }
func runTop(args []string, stdout, stderr io.Writer) error      { return errNotYet }
