package main

import "io"

func runRecord(args []string, stdout, stderr io.Writer) error { return errNotYet }
