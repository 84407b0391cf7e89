package testprogs

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Rates at which Demo drives its programs, in runs per second. They differ so
// the programs are told apart at a glance in 'bpfprof list' and 'top', and
// together keep well under one CPU busy.
const (
	demoHotRate     = 100000
	demoSubprogRate = 50000
	demoMapsRate    = 200000
)

// Demo loads all four bundled objects, attaches Tracepoint, and drives Hot,
// Subprog and Maps at modest, different rates in background goroutines until
// ctx is done or stop is called. stop ends the goroutines, waits for them,
// unloads everything and returns the first error any of them met; calling it
// again does nothing. The programs stay loaded until stop, even once ctx is
// done. Requires the privileges of Load and Attach.
func Demo(ctx context.Context) (stop func() error, err error) {
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
		wg.Go(func() {
			if _, err := Drive(ctx, prog, d.rate); err != nil {
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
