package main

import "io"

func runList(args []string, stdout, stderr io.Writer) error { return errNotYet }
