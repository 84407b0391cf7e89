package agent

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
)

// Payload is one interval's profile, as every backend receives it.
type Payload struct {
	// Profile is the interval's profile; Gzipped the same, encoded as
	// pprof.Write encodes it. Neither may be modified.
	Profile *profile.Profile
	Gzipped []byte
	// Start and End are the interval, on the wall clock.
	Start, End time.Time
}

// Exporter sends profiles to one backend.
type Exporter interface {
	// Name names the backend in logs and metric labels: otlp, pyroscope,
	// dir.
	Name() string
	// Export sends p and returns the bytes it put on the wire (or on
	// disk). It must give up when ctx is done.
	Export(ctx context.Context, p *Payload) (int, error)
}

// SenderStats count what a sender did.
type SenderStats struct {
	// Sent profiles and their Bytes; Dropped were given up (the queue
	// was full, or every try failed); Failures count failed tries.
	Sent, Bytes, Dropped, Failures uint64
	// Queued is how many wait now.
	Queued int
}

// sender hands profiles to one Exporter on a goroutine of its own, so that
// a slow or dead backend never holds up sampling: at most queue profiles
// wait (the oldest is dropped for a new one), each is tried 1+retries times
// with exponential backoff, and a failure is counted, logged, and forgotten.
type sender struct {
	ex      Exporter
	q       chan *Payload
	retries int
	timeout time.Duration
	backoff time.Duration
	log     *slog.Logger

	// mu orders enqueue's drop of the oldest against another enqueue.
	mu                             sync.Mutex
	sent, bytes, dropped, failures atomic.Uint64
	ctx                            context.Context
	cancel                         context.CancelFunc
	done                           chan struct{}
	closeOnce                      sync.Once
}

func newSender(ex Exporter, queue, retries int, timeout time.Duration, log *slog.Logger) *sender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{
		ex:      ex,
		q:       make(chan *Payload, queue),
		retries: retries,
		timeout: timeout,
		backoff: 500 * time.Millisecond,
		log:     log.With("exporter", ex.Name()),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go s.run()
	return s
}

// enqueue queues p without blocking: when the queue is full the oldest
// profile waiting is dropped.
func (s *sender) enqueue(p *Payload) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		select {
		case s.q <- p:
			return
		default:
		}
		select {
		case <-s.q:
			s.dropped.Add(1)
			s.log.Warn("backend too slow: dropped the oldest queued profile")
		default:
		}
	}
}

func (s *sender) run() {
	defer close(s.done)
	for p := range s.q {
		s.send(p)
	}
}

// send tries p until it is sent, the tries are used up, or the sender is
// closed.
func (s *sender) send(p *Payload) {
	wait := s.backoff
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
		n, err := s.ex.Export(ctx, p)
		cancel()
		if err == nil {
			s.sent.Add(1)
			s.bytes.Add(uint64(n))
			return
		}
		s.failures.Add(1)
		if try >= s.retries || s.ctx.Err() != nil {
			s.dropped.Add(1)
			s.log.Error("profile dropped", "tries", try+1, "err", err)
			return
		}
		s.log.Warn("send failed, retrying", "try", try+1, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// close stops taking profiles and waits up to grace for the queued ones to
// be sent; then it gives up on them (counted as dropped).
func (s *sender) close(grace time.Duration) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.q)
		s.mu.Unlock()
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-s.done:
		case <-t.C:
			s.cancel()
			<-s.done
		}
		s.cancel()
	})
}

// stats returns the sender's counters.
func (s *sender) stats() SenderStats {
	return SenderStats{
		Sent:     s.sent.Load(),
		Bytes:    s.bytes.Load(),
		Dropped:  s.dropped.Load(),
		Failures: s.failures.Load(),
		Queued:   len(s.q),
	}
}
