// Command workload loads the bundled hot and subprog BPF programs, drives
// them flat out for a while and unloads them: the workload that
// 'perf record' samples to make the perf.data files under
// sampler/perfdata/testdata, and that the integration tests profile.
//
// Usage: workload [-d DURATION] [-ready FILE]. Needs root (CAP_BPF).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/bpfprof/bpfprof/internal/testprogs"
)

func main() {
	dur := flag.Duration("d", 2*time.Second, "how long to drive the programs")
	ready := flag.String("ready", "", "create this `FILE` once the programs are loaded")
	flag.Parse()
	if err := run(*dur, *ready); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
}

func run(dur time.Duration, ready string) error {
	var objs []*testprogs.Object
	defer func() {
		for _, o := range objs {
			o.Close()
		}
	}()
	for _, name := range []string{testprogs.Hot, testprogs.Subprog} {
		o, err := testprogs.Load(name)
		if err != nil {
			return err
		}
		objs = append(objs, o)
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(objs))
	for i, o := range objs {
		wg.Go(func() { _, errs[i] = testprogs.Drive(ctx, o.Program(), 0) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
