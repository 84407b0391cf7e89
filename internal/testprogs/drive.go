package testprogs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Sizing of one BPF_PROG_TEST_RUN call. Drive doubles the repeat count while
// a call takes less than chunkTarget and halves it above 4*chunkTarget. The
// target is long because XDP test runs with a repeat count above one cost
// tens of milliseconds on their own (the kernel swaps the program in and out
// of its XDP dispatcher around each call): calls must be long for most of
// the time to be spent in the program. A shorter call would make
// cancellation more prompt and a call restarted after a signal (cilium/ebpf
// retries EINTR from the start) cheaper.
const (
	firstChunk  = 64
	maxChunk    = 1 << 24
	chunkTarget = 100 * time.Millisecond
	// paceTick is how often paced driving tops up the runs due.
	paceTick = 10 * time.Millisecond
)

// Drive runs prog with BPF_PROG_TEST_RUN (Program.Run with Repeat) on a
// 64-byte Ethernet+IPv4+UDP frame until ctx is done. prog must be of a type
// the kernel can test-run with packet data: socket filter, XDP, tc.
//
// With runsPerSecond <= 0 it runs as fast as it can, keeping about one CPU
// inside the program (a socket filter ~90% of the time; XDP less, as each
// call also waits on the kernel's XDP dispatcher); otherwise it paces runs in batches every 10ms or
// more, and simply runs flat out if the program cannot keep up. It returns
// within about 200ms of the end of ctx.
//
// Drive returns the number of runs it asked for and the kernel completed;
// the kernel may run the program more often, because a call interrupted by a
// signal starts over. The end of ctx is not an error.
func Drive(ctx context.Context, prog *ebpf.Program, runsPerSecond int) (uint64, error) {
	if prog == nil {
		return 0, errors.New("drive: nil program")
	}
	r := runner{prog: prog, opts: ebpf.RunOptions{Data: packet()}, chunk: firstChunk}
	if runsPerSecond <= 0 {
		return r.flatOut(ctx)
	}
	return r.paced(ctx, func(time.Duration) uint64 { return uint64(runsPerSecond) })
}

// DriveVarying runs prog as Drive does, at rate(elapsed) runs per second,
// a rate that may change over time (it is asked again every 10ms). A rate
// of 0 pauses the program.
func DriveVarying(ctx context.Context, prog *ebpf.Program, rate func(elapsed time.Duration) int) (uint64, error) {
	if prog == nil {
		return 0, errors.New("drive: nil program")
	}
	r := runner{prog: prog, opts: ebpf.RunOptions{Data: packet()}, chunk: firstChunk}
	return r.paced(ctx, func(d time.Duration) uint64 { return uint64(max(rate(d), 0)) })
}

// runner makes the BPF_PROG_TEST_RUN calls of one Drive and sizes them.
type runner struct {
	prog  *ebpf.Program
	opts  ebpf.RunOptions
	chunk uint64
	done  uint64
}

// run runs the program n (at most r.chunk) times in one call, then resizes
// the chunk from how long a full chunk took.
func (r *runner) run(n uint64) error {
	r.opts.Repeat = uint32(n)
	start := time.Now()
	if _, err := r.prog.Run(&r.opts); err != nil {
		return fmt.Errorf("drive %s: %w", r.prog, classify(err))
	}
	took := time.Since(start)
	r.done += n
	if n == r.chunk {
		switch {
		case took < chunkTarget && r.chunk < maxChunk:
			r.chunk *= 2
		case took > 4*chunkTarget && r.chunk > 1:
			r.chunk /= 2
		}
	}
	return nil
}

func (r *runner) flatOut(ctx context.Context) (uint64, error) {
	for ctx.Err() == nil {
		if err := r.run(r.chunk); err != nil {
			return r.done, err
		}
	}
	return r.done, nil
}

// paced keeps the runs done at rate per second, plus one so the first
// batch goes at once. Falling more than a second behind forgets the backlog
// instead of catching up in a burst.
func (r *runner) paced(ctx context.Context, rateAt func(time.Duration) uint64) (uint64, error) {
	tick := time.NewTicker(paceTick)
	defer tick.Stop()
	begin := time.Now()
	due, last := r.done+1, begin
	for {
		now := time.Now()
		rate := rateAt(now.Sub(begin))
		due += uint64(now.Sub(last).Seconds() * float64(rate))
		last = now
		if due > r.done+rate+1 {
			due = r.done + 1
		}
		for r.done < due {
			if ctx.Err() != nil {
				return r.done, nil
			}
			if err := r.run(min(due-r.done, r.chunk)); err != nil {
				return r.done, err
			}
		}
		select {
		case <-ctx.Done():
			return r.done, nil
		case <-tick.C:
		}
	}
}

// packet returns a 64-byte Ethernet II frame holding an IPv4 UDP datagram
// from 10.0.0.1:12345 to 10.0.0.2:53 (valid IPv4 checksum, no UDP
// checksum), so every packet program type accepts it as a real packet.
func packet() []byte {
	p := []byte{
		// Ethernet: destination, source, EtherType IPv4.
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
		0x08, 0x00,
		// IPv4: version 4 + IHL 5, TOS, total length 50, id, DF, TTL 64,
		// UDP, checksum, source, destination.
		0x45, 0x00, 0x00, 0x32,
		0x00, 0x00, 0x40, 0x00,
		0x40, 0x11, 0x26, 0xb9,
		10, 0, 0, 1,
		10, 0, 0, 2,
		// UDP: source port, destination port, length 30, no checksum.
		0x30, 0x39, 0x00, 0x35,
		0x00, 0x1e, 0x00, 0x00,
	}
	// 22 bytes of zero payload.
	return append(p, make([]byte, 64-len(p))...)
}

// DriveUntilRan runs prog flat out, as Drive does, until the kernel has
// counted want of CPU time inside it (BPF_ENABLE_STATS, which it turns on
// meanwhile), so that a busy machine makes a test take longer rather than
// see less. It fails if ctx ends first. Needs CAP_SYS_ADMIN (or CAP_BPF)
// for the statistics; Linux 5.8.
func DriveUntilRan(ctx context.Context, prog *ebpf.Program, want time.Duration) error {
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return fmt.Errorf("enable BPF run-time statistics: %w", err)
	}
	defer stats.Close()
	base, err := prog.Stats()
	if err != nil {
		return fmt.Errorf("statistics: %w", err)
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	driven := make(chan error, 1)
	go func() {
		_, err := Drive(dctx, prog, 0)
		driven <- err
	}()
	defer func() { cancel(); <-driven }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := prog.Stats()
		if err != nil {
			return fmt.Errorf("statistics: %w", err)
		}
		if st.Runtime-base.Runtime >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ran %v of %v before the end: %w", st.Runtime-base.Runtime, want, ctx.Err())
		case err := <-driven:
			driven <- err // for the deferred wait
			return fmt.Errorf("drive ended early: %v", err)
		case <-tick.C:
		}
	}
}
