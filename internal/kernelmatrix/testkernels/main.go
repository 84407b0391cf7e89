// Command testkernels is 'make test-kernels': it runs the tests that need
// another kernel than the host's in a QEMU guest on each kernel named, and
// exits 1 unless each selected test passed on each kernel.
//
//	go run ./internal/kernelmatrix/testkernels -kernels "linux-image-amd64 linux-image-6.12-amd64"
//
// It needs apt-get and dpkg-deb (to get the kernels), qemu-system-x86_64 and
// timeout (to run them), busybox-static (for the guest) and go.
package main

import (
	"bytes"
	"context"
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bpfprof/bpfprof/internal/kernelmatrix"
)

func main() {
	os.Exit(run())
}

func run() int {
	kernels := flag.String("kernels", "linux-image-amd64", "Debian kernel image packages, space-separated (metapackages are followed)")
	cache := flag.String("cache", defaultCache(), "directory for the downloaded packages and unpacked kernels")
	work := flag.String("work", "bin/test-kernels", "directory for the test binaries, initramfs and console logs")
	timeout := flag.Duration("timeout", 6*time.Minute, "limit for one kernel's boot and tests; past it the guest counts as hung")
	busybox := flag.String("busybox", "/bin/busybox", "a static busybox for the guest (busybox-static)")
	memMB := flag.Int("m", 1024, "guest memory in MiB")
	verbose := flag.Bool("v", false, "echo the guests' test output as it comes")
	jobs := flag.Int("j", runtime.NumCPU(), "guests to run at once (each takes one host CPU)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "test-kernels: unexpected argument %q\n", flag.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := checkTools(*busybox); err != nil {
		fmt.Fprintf(os.Stderr, "test-kernels: %v\n", err)
		return 1
	}
	pkgs, err := kernelmatrix.Select(".")
	if err != nil {
		fmt.Fprintf(os.Stderr, "test-kernels: %v\n", err)
		return 1
	}
	if len(pkgs) == 0 {
		fmt.Fprintln(os.Stderr, "test-kernels: no test calls testutil.RequireFentry, RequireKprobes or KernelMatrix: nothing to run")
		return 1
	}
	if err := os.MkdirAll(*work, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "test-kernels: %v\n", err)
		return 1
	}
	bins, err := buildTests(ctx, pkgs, *work)
	if err != nil {
		fmt.Fprintf(os.Stderr, "test-kernels: %v\n", err)
		return 1
	}
	initramfs := filepath.Join(*work, "initramfs.cpio")
	if err := kernelmatrix.BuildInitramfs(initramfs, *busybox, bins); err != nil {
		fmt.Fprintf(os.Stderr, "test-kernels: build the initramfs: %v\n", err)
		return 1
	}

	// Fetch every kernel first: a wrong name fails before any boot.
	var ks []*kernelmatrix.Kernel
	for _, name := range strings.Fields(*kernels) {
		k, err := kernelmatrix.FetchKernel(name, *cache)
		if err != nil {
			fmt.Fprintf(os.Stderr, "test-kernels: %v\n", err)
			return 1
		}
		ks = append(ks, k)
	}
	// Each guest runs on one host CPU (TCG, one vCPU): boot up to -j at
	// once, and print each report as its guest ends.
	results := make([]*kernelmatrix.Result, len(ks))
	sem := make(chan struct{}, max(1, *jobs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, k := range ks {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			mu.Lock()
			fmt.Fprintf(os.Stderr, "test-kernels: booting %s %s (%s) with %d test packages...\n", k.Package, k.Version, filepath.Base(k.Image), len(pkgs))
			mu.Unlock()
			r := runKernel(ctx, k, pkgs, initramfs, *work, *memMB, *timeout, *verbose)
			mu.Lock()
			defer mu.Unlock()
			results[i] = r
			r.Write(os.Stdout)
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "test-kernels: interrupted")
		return 1
	}
	status := 0
	for _, r := range results {
		if len(r.Problems()) > 0 {
			status = 1
		}
	}
	fmt.Println()
	for _, r := range results {
		verdict := "PASS"
		if len(r.Problems()) > 0 {
			verdict = "FAIL"
		}
		fmt.Printf("%s  %-36s %.1fs\n", verdict, r.Kernel.Package, r.Wall.Seconds())
	}
	return status
}

func defaultCache() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "bpfprof", "kernels")
	}
	return filepath.Join(os.TempDir(), "bpfprof-kernels")
}

// checkTools says which tool to install when one is missing.
func checkTools(busybox string) error {
	for tool, pkg := range map[string]string{"qemu-system-x86_64": "qemu-system-x86", "apt-get": "apt", "dpkg-deb": "dpkg", "timeout": "coreutils"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: apt-get install %s", tool, pkg)
		}
	}
	f, err := elf.Open(busybox)
	if err != nil {
		return fmt.Errorf("no static busybox at %s (%v): apt-get install busybox-static", busybox, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked, the guest has no libc: apt-get install busybox-static", busybox)
		}
	}
	return nil
}

// buildTests builds each package's tests as a static binary.
func buildTests(ctx context.Context, pkgs []kernelmatrix.Package, work string) ([]kernelmatrix.Binary, error) {
	var bins []kernelmatrix.Binary
	for _, p := range pkgs {
		out, err := filepath.Abs(filepath.Join(work, strings.ReplaceAll(p.Dir, "/", "_")+".test"))
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, "go", "test", "-c", "-o", out, "./"+p.Dir)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("CGO_ENABLED=0 go test -c ./%s: %v\n%s", p.Dir, err, msg)
		}
		bins = append(bins, kernelmatrix.Binary{Package: p, Path: out})
	}
	return bins, nil
}

// runKernel boots one kernel and collects its results.
func runKernel(ctx context.Context, k *kernelmatrix.Kernel, pkgs []kernelmatrix.Package, initramfs, work string, memMB int, timeout time.Duration, verbose bool) *kernelmatrix.Result {
	r := &kernelmatrix.Result{Kernel: k}
	lines := &kernelmatrix.TimedLines{}
	if verbose {
		lines.Echo = os.Stderr
	}
	var console bytes.Buffer
	start := time.Now()
	r.BootErr = kernelmatrix.Boot(ctx, k, initramfs, memMB, timeout, lines, &console)
	r.Wall = time.Since(start)
	lines.Flush()
	logPath := filepath.Join(work, "console-"+k.Package+".log")
	_ = os.WriteFile(logPath, console.Bytes(), 0o644)
	r.Console = kernelmatrix.Tail(console.Bytes(), 30)
	release, results, done, err := kernelmatrix.ParseGuest(lines.Lines, pkgs, test2json)
	r.Release, r.Packages, r.Done = release, results, done
	if err != nil && r.BootErr == nil {
		r.BootErr = err
	}
	return r
}

// test2json decodes a package's -test.v=test2json output with 'go tool
// test2json'.
func test2json(p kernelmatrix.Package, raw []byte) ([]kernelmatrix.Event, error) {
	cmd := exec.Command("go", "tool", "test2json", "-p", p.Dir)
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go tool test2json: %w", err)
	}
	return kernelmatrix.DecodeTest2JSON(out)
}
