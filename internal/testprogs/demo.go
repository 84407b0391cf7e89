package testprogs

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Rates at which Demo drives its programs, in runs per second. They differ so
// the programs are told apart at a glance in 'bpfprof list' and 'top', and
// together keep well under one CPU busy.
const (
	demoHotRate     = 100000
	demoSubprogRate = 50000
	demoMapsRate    = 200000
)

// DemoOptions change how Demo drives the programs.
type DemoOptions struct {
	// Varying makes each program's rate swing between a tenth and all of
	// its rate, each on its own period of half a minute or so, so that a
	// live view has something to show.
	Varying bool
}

// demoPeriods are the periods of the varying rates, one per driven program.
var demoPeriods = []time.Duration{23 * time.Second, 37 * time.Second, 53 * time.Second}

// Demo is DemoWith without options: constant rates.
func Demo(ctx context.Context) (stop func() error, err error) {
	return DemoWith(ctx, DemoOptions{})
}

// DemoWith loads all four bundled objects, attaches Tracepoint, and drives Hot,
// Subprog and Maps at modest, different rates in background goroutines until
// ctx is done or stop is called. stop ends the goroutines, waits for them,
// unloads everything and returns the first error any of them met; calling it
// again does nothing. The programs stay loaded until stop, even once ctx is
// done. Requires the privileges of Load and Attach.
func DemoWith(ctx context.Context, opts DemoOptions) (stop func() error, err error) {
	var objs []*Object
	defer func() {
		if err != nil {
			for _, o := range objs {
				o.Close()
			}
		}
	}()
	load := func(name string) (*Object, error) {
		o, err := Load(name)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		objs = append(objs, o)
		return o, nil
	}

	driven := []struct {
		name string
		rate int
	}{{Hot, demoHotRate}, {Subprog, demoSubprogRate}, {Maps, demoMapsRate}}
	for _, d := range driven {
		if _, err := load(d.name); err != nil {
			return nil, err
		}
	}
	tp, err := load(Tracepoint)
	if err != nil {
		return nil, err
	}
	if err := tp.Attach(); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	ctx, cancel := context.WithCancel(ctx)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for i, d := range driven {
		prog := objs[i].Program()
		rate := func(time.Duration) int { return d.rate }
		if opts.Varying {
			period := demoPeriods[i%len(demoPeriods)]
			rate = func(t time.Duration) int {
				phase := 2 * math.Pi * float64(t) / float64(period)
				return int(float64(d.rate) * (0.55 + 0.45*math.Sin(phase)))
			}
		}
		wg.Go(func() {
			if _, err := DriveVarying(ctx, prog, rate); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("demo: %s: %w", d.name, err)
				}
				mu.Unlock()
			}
		})
	}

	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			wg.Wait()
			all := []error{first}
			for _, o := range objs {
				all = append(all, o.Close())
			}
			stopErr = errors.Join(all...)
		})
		return stopErr
	}
	return stop, nil
}
