package sampler

import (
	"sync"
	"sync/atomic"

	"github.com/bpfprof/bpfprof/internal/perfabi"
)

// ring reads one perf ring buffer: the control page and the data area of
// one mmap, or, in tests, a Go value laid out the same way and a byte slice.
//
// The kernel writes records at data_head and never overwrites the bytes
// between data_tail and data_head, so records are read in place and
// data_tail is advanced past each record once it has been delivered.
type ring struct {
	cpu  uint32
	page *perfabi.MmapPage
	data []byte // len is a power of two
	mask uint64

	head uint64 // data_head as loaded at the start of the round
	tail uint64 // where the next record starts

	// scratch holds a record that wraps around the end of data.
	scratch []byte

	// The record under the merge's cursor.
	cur     []byte
	curTime uint64
	// lastTime orders records that carry no time after their predecessor.
	lastTime uint64

	mem  []byte // the whole mapping, to unmap; nil for fakes
	errs uint64 // framing errors seen in this round
}

func newRing(cpu uint32, page *perfabi.MmapPage, data []byte) *ring {
	return &ring{
		cpu:  cpu,
		page: page,
		data: data,
		mask: uint64(len(data)) - 1,
		tail: atomic.LoadUint64(&page.DataTail),
	}
}

// load takes a snapshot of data_head. The atomic load is the acquire that
// perf_event.h asks for: record bytes written before the kernel published
// the head are visible after it.
func (r *ring) load() {
	r.head = atomic.LoadUint64(&r.page.DataHead)
	if r.head-r.tail > uint64(len(r.data)) {
		// A head that ran more than a buffer ahead of the tail (or behind
		// it) cannot come from the kernel; start over from the head.
		r.resync()
	}
}

// commit publishes the tail: the release store that lets the kernel reuse
// the space of every record read so far.
func (r *ring) commit() {
	atomic.StoreUint64(&r.page.DataTail, r.tail)
}

// next returns the next whole record, or nil when the round's data is used
// up. A record that cannot be framed (size smaller than its header, not a
// multiple of 8, larger than the data available or than the buffer) is
// counted in r.errs and the rest of the ring's data is dropped: after a bad
// size there is no telling where the next record starts.
func (r *ring) next() []byte {
	avail := r.head - r.tail
	if avail == 0 {
		return nil
	}
	off := r.tail & r.mask
	var hdr [perfabi.HeaderSize]byte
	if avail < perfabi.HeaderSize {
		r.resync()
		return nil
	}
	r.copyOut(hdr[:], off)
	size := uint64(ne.Uint16(hdr[6:]))
	if size < perfabi.HeaderSize || size%8 != 0 || size > avail || size > uint64(len(r.data)) {
		r.resync()
		return nil
	}
	r.tail += size
	if end := off + size; end <= uint64(len(r.data)) {
		return r.data[off:end:end]
	}
	if uint64(cap(r.scratch)) < size {
		r.scratch = make([]byte, 0, max(size, 1<<16)) // 1<<16: the largest size a u16 can say
	}
	raw := r.scratch[:size]
	r.copyOut(raw, off)
	return raw
}

// copyOut copies len(dst) bytes starting at data offset off, wrapping at the
// end of the buffer.
func (r *ring) copyOut(dst []byte, off uint64) {
	n := copy(dst, r.data[off:])
	copy(dst[n:], r.data)
}

func (r *ring) resync() {
	r.errs++
	r.tail = r.head
}

// merger delivers the records of several rings in time order, one round at
// a time: it loads every ring's head, then repeatedly hands the handler the
// oldest record among the rings' current ones (a k-way merge over a binary
// heap), committing each ring's tail past each record delivered.
type merger struct {
	rings []*ring
	dec   *Decoder
	heap  []int // indexes into rings, ordered by curTime
	stats *counters
	local Stats // counts of the current round, added to stats at its end
}

// advance moves ring i's cursor to its next record; false when it has none.
func (m *merger) advance(r *ring) bool {
	raw := r.next()
	if raw == nil {
		return false
	}
	r.cur = raw
	if t, ok := m.dec.Time(raw); ok && t >= r.lastTime {
		r.lastTime = t
	}
	r.curTime = r.lastTime
	return true
}

func (m *merger) less(a, b int) bool {
	ra, rb := m.rings[a], m.rings[b]
	if ra.curTime != rb.curTime {
		return ra.curTime < rb.curTime
	}
	return a < b
}

func (m *merger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			c = r
		}
		if !m.less(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// round delivers every record available in the rings now and returns how
// many it delivered.
func (m *merger) round(h Handler) int {
	m.heap = m.heap[:0]
	for i, r := range m.rings {
		r.load()
		if m.advance(r) {
			m.heap = append(m.heap, i)
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	n := 0
	for len(m.heap) > 0 {
		r := m.rings[m.heap[0]]
		m.deliver(r, h)
		n++
		// The record is handled: its space goes back to the kernel now,
		// not at the end of the round, so that a handler that blocks
		// (a queue full while an ELF file loads) does not keep every
		// ring full and make the kernel drop records.
		r.commit()
		if !m.advance(r) {
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		}
		m.down(0)
	}
	for _, r := range m.rings {
		r.cur = nil
		r.commit()
		m.local.DecodeErrors += r.errs
		r.errs = 0
	}
	m.stats.add(&m.local)
	m.local = Stats{}
	if rh, ok := h.(RoundHandler); ok {
		rh.EndRound()
	}
	return n
}

func (m *merger) deliver(r *ring, h Handler) {
	m.local.Bytes += uint64(len(r.cur))
	rec, err := m.dec.Decode(r.cpu, r.cur)
	switch {
	case err != nil:
		m.local.DecodeErrors++
		return
	case rec == nil:
		m.local.Unknown++
		return
	}
	m.local.Records++
	switch rec := rec.(type) {
	case *Sample:
		m.local.Samples++
	case *Lost:
		m.local.Lost += rec.Lost
	case *LostSamples:
		m.local.LostSamples += rec.Lost
	case *Throttle:
		if rec.Unthrottle {
			m.local.Unthrottles++
		} else {
			m.local.Throttles++
		}
	}
	h.HandleRecord(rec)
}

// counters are the running totals behind Stats: added to once per round,
// read concurrently.
type counters struct {
	mu    sync.Mutex
	total Stats
}

func (c *counters) add(s *Stats) {
	c.mu.Lock()
	c.total.add(s)
	c.mu.Unlock()
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// add adds the counts of o to s.
func (s *Stats) add(o *Stats) {
	s.Records += o.Records
	s.Samples += o.Samples
	s.Lost += o.Lost
	s.LostSamples += o.LostSamples
	s.Throttles += o.Throttles
	s.Unthrottles += o.Unthrottles
	s.DecodeErrors += o.DecodeErrors
	s.Unknown += o.Unknown
	s.Bytes += o.Bytes
	s.Wakeups += o.Wakeups
}

// Stats counts what a Reader has read so far.
type Stats struct {
	// Records counts decoded records delivered to the handler.
	Records uint64
	// Samples counts PERF_RECORD_SAMPLE records among them.
	Samples uint64
	// Lost adds up PERF_RECORD_LOST: records the kernel dropped because a
	// ring was full.
	Lost uint64
	// LostSamples adds up PERF_RECORD_LOST_SAMPLES: samples the kernel
	// dropped for other reasons.
	LostSamples uint64
	// Throttles and Unthrottles count PERF_RECORD_THROTTLE and UNTHROTTLE:
	// the kernel capped the sampling rate (kernel.perf_event_max_sample_rate).
	Throttles, Unthrottles uint64
	// DecodeErrors counts records that could not be framed or decoded.
	DecodeErrors uint64
	// Unknown counts records of types the decoder skips.
	Unknown uint64
	// Bytes counts the record bytes read from the rings.
	Bytes uint64
	// Wakeups counts the reader's wake-ups (watermark, or the poll timeout).
	Wakeups uint64
}
