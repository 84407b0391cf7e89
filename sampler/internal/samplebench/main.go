// Command samplebench measures the sampler alone: it samples every CPU for a
// while, counts what it reads, and prints the counts and its own CPU time.
// scripts/bench-sampler.sh runs it next to perf record. Needs root.
//
//	go run ./sampler/internal/samplebench -F 4999 -d 10s -g
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bpfprof/bpfprof/sampler"
)

func main() {
	freq := flag.Uint64("F", sampler.DefaultFrequency, "samples per second per CPU")
	dur := flag.Duration("d", 10*time.Second, "how long to sample")
	callGraph := flag.Bool("g", true, "record callchains")
	event := flag.String("e", "", "event (default: cycles where there is a PMU, else cpu-clock)")
	pages := flag.Int("m", 0, "data pages per CPU ring (0: default)")
	flag.Parse()
	if err := run(*event, *freq, *dur, *callGraph, *pages); err != nil {
		fmt.Fprintln(os.Stderr, "samplebench:", err)
		os.Exit(1)
	}
}

func run(spec string, freq uint64, dur time.Duration, callGraph bool, pages int) error {
	ev := sampler.DefaultEvent()
	if spec != "" {
		var err error
		if ev, err = sampler.ParseEvent(spec); err != nil {
			return err
		}
	}
	var before unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &before); err != nil {
		return err
	}
	r, err := sampler.Open(sampler.Options{Events: []sampler.Event{ev}, Frequency: freq, CallGraph: callGraph, RingPages: pages})
	if err != nil {
		return err
	}
	defer r.Close()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, dur)
	defer cancel()

	var kinds [16]uint64
	start := time.Now()
	err = r.Run(ctx, sampler.HandlerFunc(func(rec sampler.Record) {
		switch rec.(type) {
		case *sampler.Sample:
			kinds[0]++
		default:
			kinds[1]++
		}
	}))
	wall := time.Since(start)
	if err != nil {
		return err
	}
	var after unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &after); err != nil {
		return err
	}
	cpu := func(ru *unix.Rusage) time.Duration {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	st := r.Stats()
	fmt.Printf("event=%s freq=%d cpus=%d wall=%.2fs\n", ev, freq, len(r.CPUs()), wall.Seconds())
	fmt.Printf("records=%d samples=%d sideband=%d bytes=%d wakeups=%d\n", st.Records, st.Samples, kinds[1], st.Bytes, st.Wakeups)
	fmt.Printf("lost=%d lost_samples=%d throttles=%d unthrottles=%d decode_errors=%d unknown=%d\n",
		st.Lost, st.LostSamples, st.Throttles, st.Unthrottles, st.DecodeErrors, st.Unknown)
	fmt.Printf("cpu_user=%.3fs cpu_sys=%.3fs cpu_total=%.3fs\n",
		time.Duration(after.Utime.Nano()-before.Utime.Nano()).Seconds(),
		time.Duration(after.Stime.Nano()-before.Stime.Nano()).Seconds(),
		(cpu(&after) - cpu(&before)).Seconds())
	return nil
}
