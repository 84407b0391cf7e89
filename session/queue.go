package session

import (
	"strings"
	"sync"

	"github.com/bpfprof/bpfprof/sampler"
)

// queue hands records from the goroutine that reads the rings to the one
// that symbolizes and counts them, in the same order. Records are copied,
// since a sampler.Reader reuses its own; samples are recycled.
type queue struct {
	ch      chan sampler.Record
	next    sampler.Handler
	samples sync.Pool // *sampler.Sample
	done    chan struct{}
}

// newQueue starts a goroutine that passes queued records to next until
// close.
func newQueue(size int, next sampler.Handler) *queue {
	q := &queue{ch: make(chan sampler.Record, size), next: next, done: make(chan struct{})}
	go q.run()
	return q
}

// HandleRecord queues a copy of r; it waits while the queue is full.
func (q *queue) HandleRecord(r sampler.Record) {
	if c := q.clone(r); c != nil {
		q.ch <- c
	}
}

func (q *queue) run() {
	defer close(q.done)
	for r := range q.ch {
		q.next.HandleRecord(r)
		if s, ok := r.(*sampler.Sample); ok {
			q.samples.Put(s)
		}
	}
}

// close waits until every queued record has been handled.
func (q *queue) close() {
	close(q.ch)
	<-q.done
}

// clone copies r with everything it refers to; nil for record types the
// queue does not know.
func (q *queue) clone(r sampler.Record) sampler.Record {
	switch r := r.(type) {
	case *sampler.Sample:
		c, _ := q.samples.Get().(*sampler.Sample)
		if c == nil {
			c = new(sampler.Sample)
		}
		kernel, user, counters := c.Kernel, c.User, c.Counters
		*c = *r
		c.Kernel = append(kernel[:0], r.Kernel...)
		c.User = append(user[:0], r.User...)
		c.Counters = nil
		if r.Counters != nil {
			c.Counters = append(counters[:0], r.Counters...)
		}
		return c
	case *sampler.Mmap2:
		c := *r
		c.BuildID = append([]byte(nil), r.BuildID...)
		c.Filename = strings.Clone(r.Filename)
		return &c
	case *sampler.Comm:
		c := *r
		c.Comm = strings.Clone(r.Comm)
		return &c
	case *sampler.KSymbol:
		c := *r
		c.Name = strings.Clone(r.Name)
		return &c
	case *sampler.Fork:
		c := *r
		return &c
	case *sampler.Exit:
		c := *r
		return &c
	case *sampler.Lost:
		c := *r
		return &c
	case *sampler.LostSamples:
		c := *r
		return &c
	case *sampler.Throttle:
		c := *r
		return &c
	case *sampler.BPFEvent:
		c := *r
		return &c
	}
	return nil
}
