package symbolize

import (
	"slices"
	"sync/atomic"
	"time"
)

// bpfRetention is how long the image of an unloaded program is kept, past
// its unload and relative to the latest record or sample time seen, when
// no sample resolved into it: samples come in record order, give or take
// the 100ms records may wait in a per-CPU ring, so none can still come for
// its time. Images that samples did resolve into are kept until Close.
const bpfRetention = uint64(5 * time.Second)

// bpfEntry is the writer's record of one JIT image over time: the range
// that snapshots copy, and its place in the index.
type bpfEntry struct {
	bpfRange
	removed bool
	// id is unique among the entries of an index; seq orders the images
	// of a group by when they joined it.
	id, seq uint64
	// queued says a change waits for the next publish; pub, that the
	// entry is published in the group pubGroup under pubKey.
	queued   bool
	pub      bool
	pubGroup groupKey
	pubKey   pkey
}

// groupKey is the address range of a group of images.
type groupKey struct{ start, end uint64 }

// groupState is the images published for one address range.
type groupState struct {
	key    groupKey
	ranges ptree[bpfRange, lastEnded]
	queued bool
}

// bpfIndex holds every JIT image the Symbolizer keeps, indexed so that a
// record costs time in the number of images sharing its start address, and
// publishing a snapshot time in the changes since the last one (logarithmic
// in the images held), never in the number of programs loaded or seen.
type bpfIndex struct {
	byStart map[uint64][]*bpfEntry // in the order added
	// open is the images still loaded, by start and id; maxSize is the
	// largest size of any image ever open, which bounds the search for
	// the images overlapping a range.
	open    ptree[*bpfEntry, struct{}]
	maxSize uint64
	// symOnly is the images known by a bpf_prog_<tag> symbol only and
	// given to no program yet, by tag.
	symOnly map[[8]byte][]*bpfEntry
	// groups is the published groups, by address range, and top the tree
	// of them that snapshots share.
	groups map[groupKey]*groupState
	top    ptree[*bpfGroup, uint64]
	// queue is the entries changed since the last publish.
	queue []*bpfEntry
	// closed is the images that ended, in the order they ended: the
	// candidates for dropping.
	closed []*bpfEntry
	n      int
	nextID uint64
}

func newBPFIndex() *bpfIndex {
	return &bpfIndex{
		byStart: map[uint64][]*bpfEntry{},
		open:    ptree[*bpfEntry, struct{}]{sum: noSum[*bpfEntry]},
		symOnly: map[[8]byte][]*bpfEntry{},
		groups:  map[groupKey]*groupState{},
		top:     newGroupsTree(),
	}
}

// add indexes a new image.
func (x *bpfIndex) add(r bpfRange) *bpfEntry {
	x.nextID++
	e := &bpfEntry{bpfRange: r, id: x.nextID, seq: x.nextID}
	if e.hit == nil {
		e.hit = new(atomic.Bool)
	}
	x.byStart[e.start] = append(x.byStart[e.start], e)
	if e.until == openEnd {
		x.open.set(pkey{e.start, e.id}, e)
		x.maxSize = max(x.maxSize, e.end-e.start)
	} else {
		x.closed = append(x.closed, e)
	}
	x.indexSym(e)
	x.touch(e)
	x.n++
	return e
}

// remove drops an image that ended.
func (x *bpfIndex) remove(e *bpfEntry) {
	if l := deleteEntry(x.byStart[e.start], e); len(l) > 0 {
		x.byStart[e.start] = l
	} else {
		delete(x.byStart, e.start)
	}
	if e.until == openEnd {
		x.open.delete(pkey{e.start, e.id})
	}
	x.unindexSym(e)
	e.removed = true
	x.touch(e)
	x.n--
}

// touch queues e for the next publish after a change to it.
func (x *bpfIndex) touch(e *bpfEntry) {
	if !e.queued {
		e.queued = true
		x.queue = append(x.queue, e)
	}
}

// setUntil ends e at t.
func (x *bpfIndex) setUntil(e *bpfEntry, t uint64) {
	if e.until == t {
		return
	}
	if e.until == openEnd {
		x.open.delete(pkey{e.start, e.id})
		x.closed = append(x.closed, e)
	}
	e.until = t
	x.touch(e)
}

// setFrom moves e's start in time back to t.
func (x *bpfIndex) setFrom(e *bpfEntry, t uint64) {
	if t < e.from {
		e.from = t
		x.touch(e)
	}
}

// setFn gives e another function.
func (x *bpfIndex) setFn(e *bpfEntry, fn *bpfFunc) {
	x.unindexSym(e)
	e.fn = fn
	x.indexSym(e)
	x.touch(e)
}

// setEnd moves e's end, and so e to another group, where it joins last.
func (x *bpfIndex) setEnd(e *bpfEntry, end uint64) {
	if e.end == end {
		return
	}
	e.end = end
	x.nextID++
	e.seq = x.nextID
	if e.until == openEnd {
		x.maxSize = max(x.maxSize, e.end-e.start)
	}
	x.touch(e)
}

// overlappingOpen returns the open images overlapping [start, end).
func (x *bpfIndex) overlappingOpen(start, end uint64) []*bpfEntry {
	var out []*bpfEntry
	descend(x.open.root, pkey{end, 0}, func(e *bpfEntry) bool {
		if e.start < start && start-e.start >= x.maxSize {
			return false
		}
		if e.end > start {
			out = append(out, e)
		}
		return true
	})
	return out
}

// symOnlyTag returns the tag under which e belongs in symOnly.
func symOnlyTag(e *bpfEntry) ([8]byte, bool) {
	if e.fn.prog != nil || e.img != nil || !e.fn.hasTag {
		return [8]byte{}, false
	}
	return e.fn.tag, true
}

func (x *bpfIndex) indexSym(e *bpfEntry) {
	if tag, ok := symOnlyTag(e); ok {
		x.symOnly[tag] = append(x.symOnly[tag], e)
	}
}

func (x *bpfIndex) unindexSym(e *bpfEntry) {
	tag, ok := symOnlyTag(e)
	if !ok {
		return
	}
	if l := deleteEntry(x.symOnly[tag], e); len(l) > 0 {
		x.symOnly[tag] = l
	} else {
		delete(x.symOnly, tag)
	}
}

// prune drops the images that ended at or before t, unless keep says
// otherwise (then they stay for good), and calls dropped for each.
func (x *bpfIndex) prune(t uint64, keep, dropped func(*bpfEntry) bool) {
	i := 0
	for ; i < len(x.closed); i++ {
		e := x.closed[i]
		if e.until > t {
			break
		}
		x.closed[i] = nil
		if e.removed || keep(e) {
			continue
		}
		x.remove(e)
		dropped(e)
	}
	x.closed = x.closed[i:]
}

// publish returns a snapshot of the images held: prev if nothing changed.
// Each image changed since the last publish moves in its group's tree, and
// each group changed in the tree of groups, in time logarithmic in the
// images held; the rest is shared with prev.
func (x *bpfIndex) publish(prev *bpfTable) *bpfTable {
	if len(x.queue) == 0 && prev != nil {
		return prev
	}
	var changed []*groupState
	note := func(g *groupState) {
		if !g.queued {
			g.queued = true
			changed = append(changed, g)
		}
	}
	for _, e := range x.queue {
		e.queued = false
		if e.pub {
			g := x.groups[e.pubGroup]
			g.ranges.delete(e.pubKey)
			e.pub = false
			note(g)
		}
		if e.removed {
			continue
		}
		k := groupKey{e.start, e.end}
		g := x.groups[k]
		if g == nil {
			g = &groupState{key: k, ranges: newRangesTree()}
			x.groups[k] = g
		}
		e.pub, e.pubGroup, e.pubKey = true, k, pkey{e.from, e.seq}
		g.ranges.set(e.pubKey, e.bpfRange)
		note(g)
	}
	clear(x.queue)
	x.queue = x.queue[:0]
	for _, g := range changed {
		g.queued = false
		k := pkey{g.key.start, g.key.end}
		if g.ranges.root == nil {
			delete(x.groups, g.key)
			x.top.delete(k)
			continue
		}
		x.top.set(k, &bpfGroup{start: g.key.start, end: g.key.end, ranges: g.ranges.root})
	}
	return &bpfTable{groups: x.top.root}
}

// deleteEntry removes e from l, keeping the order.
func deleteEntry(l []*bpfEntry, e *bpfEntry) []*bpfEntry {
	if i := slices.Index(l, e); i >= 0 {
		return slices.Delete(l, i, i+1)
	}
	return l
}
