package session

import (
	"strings"

	"github.com/bpfprof/bpfprof/sampler"
)

// maxBatch bounds the records of one batch: a long round is handed over
// in parts, so that the symbolizer starts on it early and a batch's memory
// stays small.
const maxBatch = 1024

// batch is records handed over together, copies the queue owns. Its
// samples are recycled with it.
type batch struct {
	recs    []sampler.Record
	samples []*sampler.Sample // the first used are in recs
	used    int
}

// queue hands records from the goroutine that reads the rings to the one
// that symbolizes and counts them, in the same order. Records are copied,
// since a sampler.Reader reuses its own. They go over in batches, one
// channel operation per round of reading (sampler.RoundHandler) or per
// maxBatch records, not per record; batches and their samples are
// recycled.
type queue struct {
	ch   chan *batch
	free chan *batch
	cur  *batch // being filled, on the reader's goroutine
	next sampler.Handler
	done chan struct{}
	// early, if set, sees each BPF_EVENT as it is queued, on the
	// reader's goroutine: the symbolizer's Prefetch.
	early func(sampler.Record)
}

// newQueue starts a goroutine that passes queued records to next until
// close; about size records may wait.
func newQueue(size int, next sampler.Handler) *queue {
	n := max(2, size/maxBatch)
	q := &queue{ch: make(chan *batch, n), free: make(chan *batch, n+2), next: next, done: make(chan struct{})}
	go q.run()
	return q
}

// HandleRecord queues a copy of r; it waits while the queue is full.
func (q *queue) HandleRecord(r sampler.Record) {
	if _, ok := r.(*sampler.BPFEvent); ok && q.early != nil {
		q.early(r)
	}
	if q.cur == nil {
		select {
		case q.cur = <-q.free:
		default:
			q.cur = &batch{}
		}
	}
	if c := q.cur.clone(r); c != nil {
		q.cur.recs = append(q.cur.recs, c)
	}
	if len(q.cur.recs) >= maxBatch {
		q.EndRound()
	}
}

// EndRound hands the records queued so far over.
func (q *queue) EndRound() {
	if q.cur != nil && len(q.cur.recs) > 0 {
		q.ch <- q.cur
		q.cur = nil
	}
}

func (q *queue) run() {
	defer close(q.done)
	for b := range q.ch {
		for i, r := range b.recs {
			q.next.HandleRecord(r)
			b.recs[i] = nil
		}
		b.recs, b.used = b.recs[:0], 0
		select {
		case q.free <- b:
		default:
		}
	}
}

// close hands over what is left and waits until every queued record has
// been handled.
func (q *queue) close() {
	q.EndRound()
	close(q.ch)
	<-q.done
}

// clone copies r with everything it refers to; nil for record types the
// queue does not know.
func (b *batch) clone(r sampler.Record) sampler.Record {
	switch r := r.(type) {
	case *sampler.Sample:
		if b.used == len(b.samples) {
			b.samples = append(b.samples, new(sampler.Sample))
		}
		c := b.samples[b.used]
		b.used++
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
