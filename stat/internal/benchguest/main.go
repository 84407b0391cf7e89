// Command benchguest runs stat's BenchmarkRunCost in a QEMU guest whose
// kernel lets fentry attach to BPF programs (Debian 12's 6.1 by default), so
// that scripts/bench-stat.sh can show the cost of the fentry/fexit counters
// next to that of run-time stats and sampling. It uses the kernel matrix's
// kernel cache and boot (internal/kernelmatrix) and prints the benchmark's
// output. Needs root, qemu-system-x86 and busybox-static.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/bpfprof/bpfprof/internal/kernelmatrix"
)

const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp TMPDIR=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf
stty -F /dev/ttyS1 raw -echo
exec 3>/dev/ttyS1
echo "guest kernel $(uname -r)" >&3
cd /tmp
/stat.test -test.run '^$' -test.bench RunCost -test.benchtime %s -test.count %d >&3 2>&3 </dev/null
sync
poweroff -f
`

func main() {
	kernel := flag.String("kernel", "linux-image-amd64", "Debian kernel image package to boot")
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	cache := flag.String("cache", filepath.Join(cacheDir, "bpfprof", "kernels"), "kernel package cache, shared with 'make test-kernels'")
	work := flag.String("work", "bin/bench-guest", "directory for the test binary and the initramfs")
	benchtime := flag.String("benchtime", "200x", "go test -benchtime in the guest")
	count := flag.Int("count", 3, "go test -count in the guest")
	busybox := flag.String("busybox", "/bin/busybox", "a static busybox (busybox-static)")
	flag.Parse()
	if err := run(*kernel, *cache, *work, *busybox, *benchtime, *count); err != nil {
		fmt.Fprintf(os.Stderr, "benchguest: %v\n", err)
		os.Exit(1)
	}
}

func run(pkg, cache, work, busybox, benchtime string, count int) error {
	k, err := kernelmatrix.FetchKernel(pkg, cache)
	if err != nil {
		return err
	}
	stage := filepath.Join(work, "root")
	os.RemoveAll(stage)
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	build := exec.Command("go", "test", "-c", "-o", filepath.Join(stage, "stat.test"), "./stat")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build the stat test binary: %v: %s", err, out)
	}
	if out, err := exec.Command("cp", busybox, filepath.Join(stage, "bin", "busybox")).CombinedOutput(); err != nil {
		return fmt.Errorf("copy busybox: %v: %s", err, out)
	}
	if err := os.WriteFile(filepath.Join(stage, "init"), fmt.Appendf(nil, initScript, benchtime, count), 0o755); err != nil {
		return err
	}
	initramfs, err := filepath.Abs(filepath.Join(work, "initramfs.cpio"))
	if err != nil {
		return err
	}
	cpio := exec.Command("sh", "-c", `find . | "$0" cpio -o -H newc > "$1"`, busybox, initramfs)
	cpio.Dir = stage
	if out, err := cpio.CombinedOutput(); err != nil {
		return fmt.Errorf("busybox cpio: %v: %s", err, strings.TrimSpace(string(out)))
	}
	var console strings.Builder
	if err := kernelmatrix.Boot(context.Background(), k, initramfs, 1024, 8*time.Minute, os.Stdout, &console); err != nil {
		return fmt.Errorf("%v; console: %s", err, strings.Join(kernelmatrix.Tail([]byte(console.String()), 5), " | "))
	}
	return nil
}
