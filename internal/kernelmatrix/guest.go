package kernelmatrix

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Lines the guest's /init writes to the results port around each package.
const (
	startPrefix = "BPFPROF-GUEST-START "
	endPrefix   = "BPFPROF-GUEST-END "
	donePrefix  = "BPFPROF-GUEST-DONE"
)

// Binary is a static test binary and the package it tests.
type Binary struct {
	Package Package
	// Path is the binary on the host.
	Path string
}

// GuestTimeout is the go test -timeout of each package in the guest, well
// inside the qemu timeout so that a stuck test ends with its stacks.
const GuestTimeout = 4 * time.Minute

// BuildInitramfs writes an uncompressed newc cpio archive to out holding
// busybox (the static binary at busybox), an /init that mounts what the
// tests need and runs each binary's selected tests, and the binaries at
// their packages' directories. cpio is busybox's own ('busybox cpio -o -H
// newc'). One initramfs serves every kernel: Boot passes the kernel's name
// (testutil.GuestEnv) on the kernel command line, which hands it to /init.
func BuildInitramfs(out, busybox string, bins []Binary) error {
	stage, err := os.MkdirTemp(filepath.Dir(out), "initramfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "run", "src"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	if err := copyFile(busybox, filepath.Join(stage, "bin/busybox"), 0o755); err != nil {
		return err
	}
	var run strings.Builder
	for _, b := range bins {
		dir := filepath.Join(stage, "src", filepath.FromSlash(b.Package.Dir))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		name := filepath.Base(b.Path)
		if err := copyFile(b.Path, filepath.Join(dir, name), 0o755); err != nil {
			return err
		}
		fmt.Fprintf(&run, "runpkg %s %s '^(%s)$'\n", shellQuote(b.Package.Dir), shellQuote(name), strings.Join(b.Package.Tests, "|"))
	}
	init := strings.NewReplacer(
		"@TIMEOUT@", GuestTimeout.String(),
		"@START@", startPrefix,
		"@END@", endPrefix,
		"@DONE@", donePrefix,
		"@RUN@", run.String(),
	).Replace(initScript)
	if err := os.WriteFile(filepath.Join(stage, "init"), []byte(init), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	var names bytes.Buffer
	err = filepath.WalkDir(stage, func(path string, _ os.DirEntry, err error) error {
		if err != nil || path == stage {
			return err
		}
		rel, err := filepath.Rel(stage, path)
		names.WriteString(rel + "\n")
		return err
	})
	if err != nil {
		return err
	}
	cmd := exec.Command(busybox, "cpio", "-o", "-H", "newc")
	cmd.Dir = stage
	cmd.Stdin = &names
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("busybox cpio: %v: %s", err, lastLine(stderr.Bytes()))
	}
	return f.Close()
}

// guestEnv must equal testutil.GuestEnv (kernelmatrix does not import
// testutil, which links cilium/ebpf for its probes).
const guestEnv = "BPFPROF_KERNEL_MATRIX"

// initScript is the guest's /init. The kernel console is ttyS0; the tests
// write to ttyS1 in raw mode, so their output reaches the host unchanged
// and apart from kernel messages.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up 2>/dev/null
stty -F /dev/ttyS1 raw -echo
exec 3>/dev/ttyS1
export HOME=/tmp TMPDIR=/tmp
echo "@START@kernel $(uname -r)" >&3
runpkg() {
	echo "@START@$1" >&3
	cd "/src/$1"
	"./$2" -test.v=test2json -test.count=1 -test.timeout=@TIMEOUT@ -test.run "$3" >&3 2>&3 </dev/null
	echo "@END@$1 $?" >&3
	cd /
}
@RUN@echo "@DONE@" >&3
sync
poweroff -f
`

// Boot runs qemu-system-x86_64 (TCG, one vCPU: with two, attaching and
// detaching tracepoints in a loop hung 6.1 now and then) on k's image and
// initramfs under 'timeout', streams the results port (ttyS1) to results and
// the kernel console (ttyS0) to console. It returns when the guest powers
// off or the timeout kills qemu; an error says which. A panic or oops
// reboots, which -no-reboot turns into qemu's exit before /init's end.
// no_timer_check: on a starved host the emulated timer can miss the
// IO-APIC check at boot, and the kernel then panics ("IO-APIC + timer
// doesn't work"); under TCG the check says nothing about the code tested.
func Boot(ctx context.Context, k *Kernel, initramfs string, memMB int, timeout time.Duration, results, console io.Writer) error {
	args := []string{
		"--kill-after=10", strconv.Itoa(int(timeout.Seconds())),
		"qemu-system-x86_64",
		"-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", strconv.Itoa(memMB),
		"-kernel", k.Image, "-initrd", initramfs,
		"-append", "console=ttyS0 rdinit=/init no_timer_check panic=-1 softlockup_panic=1 oops=panic loglevel=7 " + guestEnv + "=" + k.Package,
		"-no-reboot", "-display", "none", "-monitor", "none", "-nodefaults",
		"-serial", "file:/dev/stderr", "-serial", "stdio",
	}
	cmd := exec.CommandContext(ctx, "timeout", args...)
	cmd.Stdout = results
	cmd.Stderr = console
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && (exit.ExitCode() == 124 || exit.ExitCode() == 137) {
		return fmt.Errorf("qemu killed after %v: the guest hung", timeout)
	}
	if err != nil {
		return fmt.Errorf("qemu-system-x86_64: %w", err)
	}
	return nil
}

// Line is one line the guest wrote, with when the host read it.
type Line struct {
	At   time.Time
	Text string
}

// TimedLines is an io.Writer that splits what it gets into lines and stamps
// each with the time it was complete.
type TimedLines struct {
	Lines []Line
	Echo  io.Writer // if set, each line is written here too as it comes
	part  []byte
	now   func() time.Time
}

// Write implements io.Writer.
func (t *TimedLines) Write(p []byte) (int, error) {
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		text := strings.TrimRight(string(t.part[:i]), "\r")
		t.part = t.part[i+1:]
		t.Lines = append(t.Lines, Line{At: now(), Text: text})
		if t.Echo != nil {
			fmt.Fprintln(t.Echo, text)
		}
	}
	return len(p), nil
}

// Flush ends a last line without a newline.
func (t *TimedLines) Flush() {
	if len(t.part) > 0 {
		_, _ = t.Write([]byte("\n"))
	}
}

// Tail returns the last n lines of a log, for a failure's report.
func Tail(log []byte, n int) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, ansi.ReplaceAllString(strings.TrimRight(sc.Text(), "\r"), ""))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// ansi matches terminal escape sequences the firmware or kernel may print.
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[a-zA-Z]|\x1bc`)

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// shellQuote quotes s for the guest's sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
