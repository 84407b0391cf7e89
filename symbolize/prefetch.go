package symbolize

import (
	"sync"

	"github.com/bpfprof/bpfprof/sampler"
)

// maxPrefetched bounds the infos read ahead and not yet taken (their
// PROG_LOAD records lost, or a Symbolizer that does not get them).
const maxPrefetched = 1024

// prefetcher reads BPF program info ahead of HandleRecord, on a
// goroutine of its own, so that neither the ring reader nor the lock that
// every sample takes waits for the kernel.
type prefetcher struct {
	start sync.Once
	ids   chan uint32
	stop  chan struct{}
	done  chan struct{}

	mu    sync.Mutex
	read  map[uint32]prefetched
	ended bool
}

// prefetched is what reading a program's info gave.
type prefetched struct {
	info *progInfo
	err  error
}

// Prefetch starts reading the info of the program a PROG_LOAD record
// announces, at once and on a goroutine of its own, for the HandleRecord
// of that record to take: a caller that queues records before handling them
// (the ring reader) calls it as each arrives, since a program that lives a
// few milliseconds is gone when its record is handled. Other records are
// ignored. Prefetch never blocks: when too far behind, HandleRecord reads
// the info itself.
func (s *Symbolizer) Prefetch(r sampler.Record) {
	e, ok := r.(*sampler.BPFEvent)
	if !ok || e.Type != sampler.BPFEventProgLoad || s.opts.NoBPF || s.opts.Offline != nil {
		return
	}
	pf := &s.pf
	pf.start.Do(func() {
		pf.ids = make(chan uint32, 256)
		pf.stop = make(chan struct{})
		pf.done = make(chan struct{})
		pf.read = map[uint32]prefetched{}
		go pf.run(s.src)
	})
	pf.mu.Lock()
	ended := pf.ended
	pf.mu.Unlock()
	if ended {
		return
	}
	select {
	case pf.ids <- e.ProgID:
	default:
	}
}

func (pf *prefetcher) run(src progSource) {
	defer close(pf.done)
	for {
		select {
		case <-pf.stop:
			return
		case id := <-pf.ids:
			info, err := src.info(id)
			pf.mu.Lock()
			if len(pf.read) >= maxPrefetched {
				clear(pf.read)
			}
			pf.read[id] = prefetched{info, err}
			pf.mu.Unlock()
		}
	}
}

// take returns the info read ahead for program id, ok false if none.
func (pf *prefetcher) take(id uint32) (prefetched, bool) {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	p, ok := pf.read[id]
	if ok {
		delete(pf.read, id)
	}
	return p, ok
}

// close stops the goroutine, if started, and waits for it.
func (pf *prefetcher) close() {
	pf.mu.Lock()
	pf.ended = true
	pf.mu.Unlock()
	pf.start.Do(func() {}) // never start after this
	if pf.stop != nil {
		close(pf.stop)
		<-pf.done
		pf.stop = nil
	}
}
