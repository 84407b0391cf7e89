// Package outfile writes an output file the way a user expects of a
// profiler's -o: a regular file appears whole or not at all (a temporary
// file beside it, renamed over it once written and synced, keeping the
// mode and owner the file had); a FIFO, a character device (/dev/null,
// /dev/full) or an open descriptor (/proc/self/fd/N) is written directly,
// never replaced; a symbolic link is followed and its target written; "-"
// is standard output. Every command that writes a profile (record, agent,
// convert) uses it.
//
// A temporary file is removed by Abort, which callers defer, so no signal
// the process catches leaves one behind; one left by a process that was
// killed outright is removed by the next Create in that directory.
package outfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrTerminal refuses to write binary output to a terminal.
var ErrTerminal = errors.New("refusing to write a binary profile to a terminal; redirect standard output or use -o FILE")

// How a File reaches its target.
type mode uint8

const (
	modeRename  mode = iota // a temporary file renamed over the target
	modeInPlace             // the target, truncated and written (hard links)
	modeDirect              // the target, written without truncating (devices, FIFOs, descriptors)
	modeStdout
)

// File is an output being prepared. Its methods are not safe for
// concurrent use.
type File struct {
	path   string // as given
	target string // the file written: path with symbolic links followed
	mode   mode
	stdout io.Writer
	tmp    *os.File // modeRename: the temporary file until Commit or Abort
	f      *os.File // modeInPlace and modeDirect once opened
	// keep is the mode and owner to give a replaced file.
	perm     fs.FileMode
	uid, gid int
	hasOwner bool
}

// maxLinks bounds the symbolic links followed, as the kernel's ELOOP.
const maxLinks = 40

// Create prepares path for writing and fails at once if it cannot be
// written, so that a command fails before doing its work: it creates the
// temporary file of a regular file, and opens a device or descriptor. A
// FIFO is only checked: opening it for writing waits for a reader, which
// Commit does. "-" is stdout, which must not be a terminal.
func Create(path string, stdout io.Writer) (*File, error) {
	if path == "-" {
		if isTerminal(stdout) {
			return nil, ErrTerminal
		}
		return &File{path: path, mode: modeStdout, stdout: stdout}, nil
	}
	if path == "" {
		return nil, errors.New("no output file name given")
	}
	o := &File{path: path, perm: 0o644}
	target, fi, err := resolve(path)
	if err != nil {
		return nil, o.fail(err)
	}
	o.target = target
	switch {
	case fi == nil:
		o.mode = modeRename
	case fi.IsDir():
		return nil, fmt.Errorf("cannot write the profile to %s: it is a directory", path)
	case fi.Mode().IsRegular() && isFD(path):
		// An open descriptor's file: the holder keeps it, so write it,
		// not a replacement.
		o.mode = modeInPlace
	case fi.Mode().IsRegular():
		o.mode = modeRename
		o.perm = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			o.uid, o.gid, o.hasOwner = int(st.Uid), int(st.Gid), true
			if st.Nlink > 1 {
				// Renaming would cut the other links off: write the
				// file itself.
				o.mode = modeInPlace
			}
		}
	case fi.Mode()&(fs.ModeNamedPipe|fs.ModeCharDevice|fs.ModeSocket) != 0:
		o.mode = modeDirect
	default:
		return nil, fmt.Errorf("cannot write the profile to %s: it is a %s, not a file, FIFO or character device", path, kindOf(fi.Mode()))
	}
	switch o.mode {
	case modeRename:
		sweep(filepath.Dir(o.target), filepath.Base(o.target))
		o.tmp, err = os.CreateTemp(filepath.Dir(o.target), tmpPrefix(filepath.Base(o.target))+"*.tmp")
		if err != nil {
			return nil, o.fail(err)
		}
	case modeInPlace:
		// Opened without O_TRUNC: the file keeps its contents until
		// Commit has something to replace them with.
		if o.f, err = os.OpenFile(o.target, os.O_WRONLY, 0); err != nil {
			return nil, o.fail(err)
		}
	case modeDirect:
		if fi.Mode()&fs.ModeNamedPipe != 0 {
			if err := unix.Access(o.target, unix.W_OK); err != nil {
				return nil, o.fail(err)
			}
			break
		}
		if o.f, err = os.OpenFile(o.target, os.O_WRONLY, 0); err != nil {
			return nil, o.fail(err)
		}
		if isTerminal(o.f) {
			o.f.Close()
			o.f = nil
			return nil, ErrTerminal
		}
	}
	return o, nil
}

// fail wraps an error of preparing or writing the output, without the
// path os repeats.
func (o *File) fail(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		err = le.Err
	}
	return fmt.Errorf("cannot write the profile to %s: %w", o.path, err)
}

// isFD reports whether path names an open descriptor through procfs.
func isFD(path string) bool {
	clean := filepath.Clean(path)
	if strings.HasPrefix(clean, "/dev/fd/") || clean == "/dev/stdout" || clean == "/dev/stderr" {
		return true
	}
	parts := strings.Split(clean, "/")
	return len(parts) == 5 && parts[1] == "proc" && parts[3] == "fd"
}

// resolve follows the symbolic links of path to the file to write, and
// stats it; fi is nil if it does not exist (a new file, or a dangling
// link's target). Descriptors in procfs are magic links whose target is
// not a path: they are not followed but stat'ed through.
func resolve(path string) (target string, fi fs.FileInfo, err error) {
	if isFD(path) {
		fi, err := os.Stat(path)
		return path, fi, err
	}
	target = path
	for range maxLinks {
		li, err := os.Lstat(target)
		if errors.Is(err, fs.ErrNotExist) {
			return target, nil, nil
		}
		if err != nil {
			return "", nil, err
		}
		if li.Mode()&fs.ModeSymlink == 0 {
			return target, li, nil
		}
		dest, err := os.Readlink(target)
		if err != nil {
			return "", nil, err
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(target), dest)
		}
		if isFD(dest) {
			fi, err := os.Stat(dest)
			return dest, fi, err
		}
		target = dest
	}
	return "", nil, syscall.ELOOP
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeIrregular != 0:
		return "irregular file"
	}
	return m.Type().String()
}

// Name is the path as given, "-" for standard output.
func (o *File) Name() string { return o.path }

// Regular reports whether the output is a regular file that can be read
// back by its name: not standard output, a device, a FIFO, or a descriptor
// (/dev/fd/N, /proc/self/fd/N), whatever file that holds.
func (o *File) Regular() bool {
	return o.mode == modeRename || o.mode == modeInPlace && !isFD(o.path)
}

// Commit writes what write produces through a buffer and, for a regular
// file, syncs it and puts it in place. It returns the bytes written. On
// error nothing replaced the target (except a file written in place or a
// device, which cannot be restored).
func (o *File) Commit(write func(io.Writer) error) (int64, error) {
	var dst io.Writer
	switch o.mode {
	case modeStdout:
		cw := &countingWriter{w: o.stdout}
		if err := write(cw); err != nil {
			return cw.n, fmt.Errorf("write the profile to standard output: %w", err)
		}
		return cw.n, nil
	case modeRename:
		if o.tmp == nil {
			return 0, fmt.Errorf("write %s: already written or aborted", o.path)
		}
		dst = o.tmp
	default:
		if o.f == nil {
			// A FIFO: this waits for a reader.
			f, err := os.OpenFile(o.target, os.O_WRONLY, 0)
			if err != nil {
				return 0, o.fail(err)
			}
			o.f = f
		}
		dst = o.f
	}
	bw := bufio.NewWriterSize(dst, 1<<16)
	cw := &countingWriter{w: bw}
	err := write(cw)
	if err == nil {
		err = bw.Flush()
	}
	switch o.mode {
	case modeRename:
		err = o.finishRename(err)
	case modeInPlace:
		if err == nil {
			// What is beyond the new end is the old file's.
			err = o.f.Truncate(cw.n)
		}
		if err == nil {
			err = o.f.Sync()
		}
		fallthrough
	default:
		if cerr := o.f.Close(); err == nil {
			err = cerr
		}
		o.f = nil
	}
	if err != nil {
		o.Abort()
		return 0, o.fail(err)
	}
	return cw.n, nil
}

// finishRename gives the temporary file the mode and owner of the file it
// replaces, syncs it and renames it over the target.
func (o *File) finishRename(err error) error {
	if err == nil {
		err = o.tmp.Chmod(o.perm)
	}
	if err == nil && o.hasOwner {
		// Only root may give a file away; keep ours otherwise.
		if cerr := o.tmp.Chown(o.uid, o.gid); cerr != nil && !errors.Is(cerr, fs.ErrPermission) {
			err = cerr
		}
	}
	if err == nil {
		err = o.tmp.Sync()
	}
	if cerr := o.tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(o.tmp.Name(), o.target)
	}
	if err == nil {
		o.tmp = nil
	}
	return err
}

// Abort removes the temporary file unless Commit put it in place, and
// closes what is open. It may be called more than once.
func (o *File) Abort() {
	if o.tmp != nil {
		o.tmp.Close()
		os.Remove(o.tmp.Name())
		o.tmp = nil
	}
	if o.f != nil {
		o.f.Close()
		o.f = nil
	}
}

// tmpPrefix starts the names of the temporary files for base: the process
// id in it lets a later run tell a leftover of a dead process.
func tmpPrefix(base string) string {
	return "." + base + ".bpfprof-" + strconv.Itoa(os.Getpid()) + "-"
}

// sweep removes the temporary files for base in dir left by processes
// that no longer exist (killed by SIGKILL, or by a power cut).
func sweep(dir, base string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".bpfprof-"
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !strings.HasSuffix(rest, ".tmp") || !e.Type().IsRegular() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 {
			continue
		}
		if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
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
