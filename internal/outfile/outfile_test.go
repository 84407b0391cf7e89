package outfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

const payload = "profile bytes"

func writePayload(w io.Writer) error {
	_, err := io.WriteString(w, payload)
	return err
}

// commit writes payload to path through a File.
func commit(t *testing.T, path string) {
	t.Helper()
	o, err := Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Abort()
	n, err := o.Commit(writePayload)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(payload)) {
		t.Errorf("%d bytes written, want %d", n, len(payload))
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// noTemp fails if dir holds a temporary file.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

func TestNewFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.pb.gz")
	commit(t, path)
	if got := readFile(t, path); got != payload {
		t.Errorf("file holds %q", got)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode())
	}
	noTemp(t, dir)
}

// TestReplaceKeepsModeAndOwner: an existing file is replaced whole, with
// its mode and (as root) its owner.
func TestReplaceKeepsModeAndOwner(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p")
	if err := os.WriteFile(path, []byte("old, longer than the new contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	if root {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, path)
	if got := readFile(t, path); got != payload {
		t.Errorf("file holds %q", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode())
	}
	if st := fi.Sys().(*syscall.Stat_t); root && (st.Uid != 65534 || st.Gid != 65534) {
		t.Errorf("owner %d:%d, want 65534:65534", st.Uid, st.Gid)
	}
	noTemp(t, dir)
}

// TestSymlink: the link stays, its target gets the profile; a dangling
// link's target is created.
func TestSymlink(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(sub, "target")
	if err := os.WriteFile(target, []byte("old"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("sub/target", link); err != nil {
		t.Fatal(err)
	}
	commit(t, link)
	if li, err := os.Lstat(link); err != nil || li.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("link replaced: %v %v", li, err)
	}
	if got := readFile(t, target); got != payload {
		t.Errorf("target holds %q", got)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o640 {
		t.Errorf("target mode %v, want 0640", fi.Mode())
	}

	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink("sub/new", dangling); err != nil {
		t.Fatal(err)
	}
	commit(t, dangling)
	if got := readFile(t, filepath.Join(sub, "new")); got != payload {
		t.Errorf("new target holds %q", got)
	}
	noTemp(t, dir)
	noTemp(t, sub)
}

// TestHardLink: a file with other links is written in place, so that
// every name sees the profile.
func TestHardLink(t *testing.T) {
	dir := t.TempDir()
	path, other := filepath.Join(dir, "p"), filepath.Join(dir, "other")
	if err := os.WriteFile(path, []byte("old contents, longer than the new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path, other); err != nil {
		t.Fatal(err)
	}
	commit(t, path)
	if got := readFile(t, other); got != payload {
		t.Errorf("other link holds %q", got)
	}
}

// TestDevices: /dev/null stays a device; /dev/full fails for want of
// space.
func TestDevices(t *testing.T) {
	commit(t, "/dev/null")
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is now %v (%v)", fi, err)
	}
	o, err := Create("/dev/full", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Abort()
	_, err = o.Commit(writePayload)
	if !errors.Is(err, unix.ENOSPC) || !strings.Contains(err.Error(), "no space left") {
		t.Errorf("writing /dev/full: %v, want no space left", err)
	}
}

// TestFIFO: a FIFO is written, not replaced, when a reader comes.
func TestFIFO(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		b, _ := os.ReadFile(path)
		got <- string(b)
	}()
	commit(t, path)
	if s := <-got; s != payload {
		t.Errorf("reader got %q", s)
	}
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("FIFO is now %v (%v)", fi, err)
	}
	noTemp(t, dir)
}

// TestProcFD: /proc/self/fd/N is written through, a pipe as a regular
// file.
func TestProcFD(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	commit(t, fmt.Sprintf("/proc/self/fd/%d", w.Fd()))
	w.Close()
	if s := <-got; s != payload {
		t.Errorf("pipe got %q", s)
	}

	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("old contents, longer than the new"); err != nil {
		t.Fatal(err)
	}
	commit(t, fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if got := readFile(t, f.Name()); got != payload {
		t.Errorf("held file holds %q", got)
	}
	noTemp(t, dir)
}

func TestRefused(t *testing.T) {
	dir := t.TempDir()
	for path, want := range map[string]string{
		dir:                                   "is a directory",
		filepath.Join(dir, "missing", "file"): "no such file or directory",
		"":                                    "no output file name",
	} {
		if _, err := Create(path, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Create(%q): %v, want %q", path, err, want)
		}
	}
	noTemp(t, dir)
}

func TestStdout(t *testing.T) {
	var buf bytes.Buffer
	o, err := Create("-", &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := o.Commit(writePayload); err != nil || n != int64(len(payload)) || buf.String() != payload || o.Name() != "-" {
		t.Errorf("stdout: %d %v %q", n, err, buf.String())
	}
}

// TestAbort: an aborted output leaves nothing, and the file it would have
// replaced untouched.
func TestAbort(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Abort()
	o.Abort()
	if got := readFile(t, path); got != "old" {
		t.Errorf("file holds %q", got)
	}
	noTemp(t, dir)
	failed := errors.New("build failed")
	o, err = Create(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Commit(func(io.Writer) error { return failed }); !errors.Is(err, failed) {
		t.Errorf("commit: %v", err)
	}
	if got := readFile(t, path); got != "old" {
		t.Errorf("file holds %q after a failed commit", got)
	}
	noTemp(t, dir)
}

// TestSweep: Create removes the temporary files of processes that are
// gone, and keeps those of live ones.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid // waited for: no such process any more
	stale := filepath.Join(dir, fmt.Sprintf(".p.bpfprof-%d-123.tmp", dead))
	live := filepath.Join(dir, fmt.Sprintf(".p.bpfprof-%d-456.tmp", os.Getppid()))
	other := filepath.Join(dir, fmt.Sprintf(".q.bpfprof-%d-789.tmp", dead))
	for _, p := range []string{stale, live, other} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, filepath.Join(dir, "p"))
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover of a dead process kept: %v", err)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}

// TestRegular: only an output that is a regular file by its own name, new,
// replaced or written in place, can be read back; a device, a FIFO,
// standard output and a descriptor's file (by a name that ends with this
// process) cannot.
func TestRegular(t *testing.T) {
	dir := t.TempDir()
	linked, other := filepath.Join(dir, "linked"), filepath.Join(dir, "other")
	if err := os.WriteFile(linked, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(linked, other); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	held, err := os.Create(filepath.Join(dir, "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for path, want := range map[string]bool{
		filepath.Join(dir, "new"): true,
		linked:                    true,
		"/dev/null":               false,
		fifo:                      false,
		"-":                       false,
		fmt.Sprintf("/proc/self/fd/%d", held.Fd()): false,
		fmt.Sprintf("/dev/fd/%d", held.Fd()):       false,
	} {
		o, err := Create(path, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if got := o.Regular(); got != want {
			t.Errorf("%s: Regular() = %v, want %v", path, got, want)
		}
		o.Abort()
	}
}
