package sampler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFormatCPUList(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{
		{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1}, "0-1"}, {[]int{0, 1, 2, 3, 5}, "0-3,5"}, {[]int{1, 3, 5, 6}, "1,3,5-6"},
	} {
		if got := FormatCPUList(c.in); got != c.want {
			t.Errorf("FormatCPUList(%v) = %q, want %q", c.in, got, c.want)
		}
		if back, err := ParseCPUList(c.want); err != nil || fmt.Sprint(back) != fmt.Sprint(c.in) {
			t.Errorf("ParseCPUList(%q) = %v, %v: not %v", c.want, back, err, c.in)
		}
	}
}

func TestCheckCPUs(t *testing.T) {
	online := []int{0, 1, 2, 3, 6}
	got, err := checkCPUs([]int{3, 1, 1, 6}, online)
	if err != nil || fmt.Sprint(got) != "[1 3 6]" {
		t.Errorf("checkCPUs = %v, %v; want [1 3 6]", got, err)
	}
	for _, c := range []struct {
		want []int
		msg  string
	}{
		{[]int{99}, "cpu 99 is not online (online: 0-3,6)"},
		{[]int{1, 4, 5, -1}, "cpus -1,4-5 are not online (online: 0-3,6)"},
	} {
		_, err := checkCPUs(c.want, online)
		if err == nil || err.Error() != c.msg || !errors.Is(err, ErrNotFound) {
			t.Errorf("checkCPUs(%v) = %v, want %q wrapping ErrNotFound", c.want, err, c.msg)
		}
	}
}

// TestOpenOfflineCPU: a CPU that is not online is refused before anything
// opens, whatever the privileges.
func TestOpenOfflineCPU(t *testing.T) {
	online, err := onlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	cpu := online[len(online)-1] + 1
	r, err := Open(Options{Events: []Event{cpuClock}, CPUs: []int{0, cpu}})
	if err == nil {
		r.Close()
		t.Fatalf("Open on cpu %d succeeded with only %v online", cpu, online)
	}
	want := fmt.Sprintf("cpu %d is not online (online: %s)", cpu, FormatCPUList(online))
	if err.Error() != want || !errors.Is(err, ErrNotFound) {
		t.Errorf("error %q, want %q wrapping ErrNotFound", err, want)
	}
}

func TestCgroupFS(t *testing.T) {
	for _, c := range []struct {
		magic int64
		want  string
	}{
		{unix.CGROUP2_SUPER_MAGIC, ""},
		{unix.CGROUP_SUPER_MAGIC, "a cgroup v1 hierarchy"},
		{unix.TMPFS_MAGIC, "on tmpfs, not a cgroup"},
		{0xef53, "not a cgroup (filesystem type 0xef53)"},
	} {
		if got := cgroupFS(c.magic); got != c.want {
			t.Errorf("cgroupFS(%#x) = %q, want %q", c.magic, got, c.want)
		}
	}
}

// TestOpenCgroupErrors: a directory that is not a cgroup v2 one, or a path
// that does not exist, is refused before any event opens (so without
// privileges too), saying what --cgroup needs.
func TestOpenCgroupErrors(t *testing.T) {
	const need = "--cgroup needs a cgroup v2 directory (under /sys/fs/cgroup on a unified hierarchy"
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path, want string
		notFound   bool
	}{
		{path: dir, want: need},
		{path: file, want: need},
		{path: filepath.Join(dir, "missing"), want: "cgroup " + filepath.Join(dir, "missing") + " does not exist", notFound: true},
	}
	// A cgroup v1 hierarchy, where the machine has one.
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup/cpu", &st); err == nil && int64(st.Type) == unix.CGROUP_SUPER_MAGIC {
		cases = append(cases, struct {
			path, want string
			notFound   bool
		}{path: "/sys/fs/cgroup/cpu", want: need + ", /sys/fs/cgroup/unified on a hybrid one): /sys/fs/cgroup/cpu: a cgroup v1 hierarchy"})
	}
	for _, c := range cases {
		r, err := Open(Options{Events: []Event{cpuClock}, Cgroup: c.path})
		if err == nil {
			r.Close()
			t.Errorf("Open with cgroup %s succeeded", c.path)
			continue
		}
		if !strings.HasPrefix(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("cgroup %s: error %q, want %q", c.path, err, c.want)
		}
		if errors.Is(err, ErrNotFound) != c.notFound || errors.Is(err, ErrNotSupported) {
			t.Errorf("cgroup %s: error %q: not found %v, not supported %v", c.path, err, errors.Is(err, ErrNotFound), errors.Is(err, ErrNotSupported))
		}
	}
}

// TestTargetsSkipExited: of several processes, one that exited after the
// caller listed them (record -u) is skipped, as exited threads are; a lone
// process that is gone, or every one, is an error wrapping ErrNotFound.
func TestTargetsSkipExited(t *testing.T) {
	const gone = 1 << 30 // above any pid_max: never a running process
	self := os.Getpid()
	o := Options{PIDs: []int{gone, self}}
	ts, closeTargets, err := o.targets()
	closeTargets()
	if err != nil {
		t.Fatalf("targets of %v: %v", o.PIDs, err)
	}
	if len(ts) == 0 {
		t.Fatalf("targets of %v: none", o.PIDs)
	}
	for _, tg := range ts {
		if tg.proc != self {
			t.Errorf("target %+v: not a thread of %d", tg, self)
		}
	}
	for _, pids := range [][]int{{gone}, {gone, gone + 1}} {
		o := Options{PIDs: pids}
		_, closeTargets, err := o.targets()
		closeTargets()
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("targets of %v: %v, want ErrNotFound", pids, err)
		}
	}
}

// TestThreadsAdded: a thread the targets did not list is reported, one
// they listed is not, and a process gone since is skipped.
func TestThreadsAdded(t *testing.T) {
	const gone = 1 << 30 // above any pid_max: never a running process
	self := os.Getpid()
	o := Options{PIDs: []int{self}}
	ts, closeTargets, err := o.targets()
	closeTargets()
	if err != nil {
		t.Fatal(err)
	}
	added, err := threadsAdded([]int{gone, self}, ts)
	if err != nil {
		t.Fatal(err)
	}
	// Threads the runtime started since the listing may show up; the main
	// thread, listed, never does.
	for _, tid := range added {
		if tid == self {
			t.Errorf("threadsAdded = %v: the main thread %d was listed", added, self)
		}
	}
	var missed []target
	for _, tg := range ts {
		if tg.pid != self {
			missed = append(missed, tg)
		}
	}
	added, err = threadsAdded([]int{self}, missed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(added, self) {
		t.Errorf("threadsAdded = %v without the unlisted main thread %d", added, self)
	}
}
