package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/pprof/profile"

	"github.com/bpfprof/bpfprof/pprof"
)

// output is where record writes its profile: standard output, or a file
// that appears whole or not at all (a temporary file in the same directory,
// renamed over the target once written and synced).
type output struct {
	path   string
	stdout bool
	w      io.Writer // standard output
	tmp    *os.File  // the temporary file, until commit or abort
}

// createOutput prepares path for writing: it creates the temporary file at
// once, so that a path that cannot be written fails before sampling starts.
func createOutput(path string, stdout io.Writer) (*output, error) {
	if path == "-" {
		if isTerminal(stdout) {
			return nil, errNotATerminal
		}
		return &output{path: path, stdout: true, w: stdout}, nil
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("cannot write the profile to %s: it is a directory", path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("cannot write the profile to %s: %w", path, err)
	}
	return &output{path: path, tmp: tmp}, nil
}

// name is the output's path, or "-" for standard output.
func (o *output) name() string { return o.path }

// commit writes p and, for a file, syncs it and renames it into place. It
// returns the size written.
func (o *output) commit(p *profile.Profile) (int64, error) {
	if o.stdout {
		cw := &countingWriter{w: o.w}
		if err := pprof.Write(cw, p); err != nil {
			return cw.n, fmt.Errorf("write the profile to standard output: %w", err)
		}
		return cw.n, nil
	}
	bw := bufio.NewWriterSize(o.tmp, 1<<16)
	cw := &countingWriter{w: bw}
	err := pprof.Write(cw, p)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = o.tmp.Chmod(0o644)
	}
	if err == nil {
		err = o.tmp.Sync()
	}
	if cerr := o.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp.Name(), o.path)
	}
	if err != nil {
		o.abort()
		return 0, fmt.Errorf("write %s: %w", o.path, err)
	}
	o.tmp = nil
	return cw.n, nil
}

// abort removes the temporary file unless commit renamed it into place.
func (o *output) abort() {
	if o.tmp == nil {
		return
	}
	o.tmp.Close()
	os.Remove(o.tmp.Name())
	o.tmp = nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}
