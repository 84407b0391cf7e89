package testprogs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// tracefsMount is where ensureTracefs mounts tracefs, the place the kernel
// documents and cilium/ebpf looks first.
const tracefsMount = "/sys/kernel/tracing"

// tracefsMu keeps this process's attaches from unmounting tracefs under
// each other.
var tracefsMu sync.Mutex

// ensureTracefs mounts tracefs at /sys/kernel/tracing unless it is mounted
// somewhere already, and returns the function that undoes what it did.
// cilium/ebpf reads a tracepoint's id from tracefs and remembers for the life
// of the process where tracefs is (or that it is missing), so this must run
// before every tracepoint attach, and always mount at the same place.
func ensureTracefs() (unmount func(), err error) {
	nothing := func() {}
	mounted, err := tracefsMounted()
	if err != nil || mounted {
		return nothing, err
	}
	if err := unix.Mount("tracefs", tracefsMount, "tracefs", 0, ""); err != nil {
		// Another process may have mounted it in the meantime.
		if errors.Is(err, unix.EBUSY) {
			return nothing, nil
		}
		return nothing, fmt.Errorf("mount tracefs at %s: %w", tracefsMount, classify(err))
	}
	// A lazy unmount: the attached tracepoint needs nothing from tracefs.
	return func() { _ = unix.Unmount(tracefsMount, unix.MNT_DETACH) }, nil
}

// tracefsMounted reports whether a tracefs is mounted in this process's mount
// namespace, from /proc/self/mountinfo.
func tracefsMounted() (bool, error) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("find tracefs: %w", err)
	}
	return hasTracefs(raw), nil
}

// hasTracefs reports whether a mountinfo table lists a tracefs mount. Each
// line is "id parent major:minor root mountpoint options [optional...] - fstype source superoptions".
func hasTracefs(mountinfo []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		_, after, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		if fstype, _, _ := strings.Cut(after, " "); fstype == "tracefs" {
			return true
		}
	}
	return false
}
