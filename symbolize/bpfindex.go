package symbolize

import (
	"cmp"
	"slices"
	"sort"
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
}

// groupKey is the address range of a group of images.
type groupKey struct{ start, end uint64 }

func (k groupKey) cmp(o groupKey) int {
	return cmp.Or(cmp.Compare(k.start, o.start), cmp.Compare(k.end, o.end))
}

// groupState is the images that held one address range, and the group
// last published for it.
type groupState struct {
	key     groupKey
	entries []*bpfEntry // in the order added
	pub     *bpfGroup
}

// bpfIndex holds every JIT image the Symbolizer keeps, indexed so that a
// record costs time in the number of images live or sharing its start
// address, and publishing a snapshot time in the number of address ranges
// held, never in the number of images seen since the start.
type bpfIndex struct {
	byStart map[uint64][]*bpfEntry // in the order added
	// open is the images still loaded, sorted by start; maxSize is the
	// largest size of any image ever open, which bounds the search for
	// the images overlapping a range.
	open    []*bpfEntry
	maxSize uint64
	// symOnly is the images known by a bpf_prog_<tag> symbol only and
	// given to no program yet, by tag.
	symOnly map[[8]byte][]*bpfEntry
	groups  map[groupKey]*groupState
	sorted  []*groupState // by key
	dirty   map[groupKey]bool
	// closed is the images that ended, in the order they ended: the
	// candidates for dropping.
	closed []*bpfEntry
	n      int
}

func newBPFIndex() *bpfIndex {
	return &bpfIndex{
		byStart: map[uint64][]*bpfEntry{},
		symOnly: map[[8]byte][]*bpfEntry{},
		groups:  map[groupKey]*groupState{},
		dirty:   map[groupKey]bool{},
	}
}

// add indexes a new image.
func (x *bpfIndex) add(r bpfRange) *bpfEntry {
	e := &bpfEntry{bpfRange: r}
	if e.hit == nil {
		e.hit = new(atomic.Bool)
	}
	x.byStart[e.start] = append(x.byStart[e.start], e)
	x.addGroup(e)
	if e.until == openEnd {
		x.insertOpen(e)
	} else {
		x.closed = append(x.closed, e)
	}
	x.indexSym(e)
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
	x.removeGroup(e)
	if e.until == openEnd {
		x.removeOpen(e)
	}
	x.unindexSym(e)
	e.removed = true
	x.n--
}

// touch marks e's group for publishing after a change to e.
func (x *bpfIndex) touch(e *bpfEntry) { x.dirty[groupKey{e.start, e.end}] = true }

// setUntil ends e at t.
func (x *bpfIndex) setUntil(e *bpfEntry, t uint64) {
	if e.until == t {
		return
	}
	if e.until == openEnd {
		x.removeOpen(e)
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

// setEnd moves e's end, and so e to another group.
func (x *bpfIndex) setEnd(e *bpfEntry, end uint64) {
	if e.end == end {
		return
	}
	x.removeGroup(e)
	e.end = end
	x.addGroup(e)
	if e.until == openEnd {
		x.maxSize = max(x.maxSize, e.end-e.start)
	}
}

// overlappingOpen returns the open images overlapping [start, end).
func (x *bpfIndex) overlappingOpen(start, end uint64) []*bpfEntry {
	hi, _ := slices.BinarySearchFunc(x.open, end, func(e *bpfEntry, a uint64) int { return cmp.Compare(e.start, a) })
	var out []*bpfEntry
	for j := hi - 1; j >= 0; j-- {
		e := x.open[j]
		if e.start < start && start-e.start >= x.maxSize {
			break
		}
		if e.end > start {
			out = append(out, e)
		}
	}
	return out
}

func (x *bpfIndex) insertOpen(e *bpfEntry) {
	i := sort.Search(len(x.open), func(i int) bool { return x.open[i].start > e.start })
	x.open = slices.Insert(x.open, i, e)
	x.maxSize = max(x.maxSize, e.end-e.start)
}

func (x *bpfIndex) removeOpen(e *bpfEntry) {
	i, _ := slices.BinarySearchFunc(x.open, e.start, func(o *bpfEntry, a uint64) int { return cmp.Compare(o.start, a) })
	for ; i < len(x.open) && x.open[i].start == e.start; i++ {
		if x.open[i] == e {
			x.open = slices.Delete(x.open, i, i+1)
			return
		}
	}
}

func (x *bpfIndex) addGroup(e *bpfEntry) {
	k := groupKey{e.start, e.end}
	g := x.groups[k]
	if g == nil {
		g = &groupState{key: k}
		x.groups[k] = g
		i, _ := slices.BinarySearchFunc(x.sorted, k, func(g *groupState, k groupKey) int { return g.key.cmp(k) })
		x.sorted = slices.Insert(x.sorted, i, g)
	}
	g.entries = append(g.entries, e)
	x.dirty[k] = true
}

// removeGroup takes e out of its group; an empty group goes at the next
// publish.
func (x *bpfIndex) removeGroup(e *bpfEntry) {
	k := groupKey{e.start, e.end}
	if g := x.groups[k]; g != nil {
		g.entries = deleteEntry(g.entries, e)
	}
	x.dirty[k] = true
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
func (x *bpfIndex) publish(prev *bpfTable) *bpfTable {
	if len(x.dirty) == 0 && prev != nil {
		return prev
	}
	for k := range x.dirty {
		g := x.groups[k]
		if g == nil {
			continue
		}
		if len(g.entries) == 0 {
			delete(x.groups, k)
			i, _ := slices.BinarySearchFunc(x.sorted, k, func(g *groupState, k groupKey) int { return g.key.cmp(k) })
			x.sorted = slices.Delete(x.sorted, i, i+1)
			continue
		}
		ranges := make([]bpfRange, len(g.entries))
		for i, e := range g.entries {
			ranges[i] = e.bpfRange
		}
		g.pub = newBPFGroup(ranges)
	}
	clear(x.dirty)
	t := &bpfTable{groups: make([]*bpfGroup, len(x.sorted)), maxEnd: make([]uint64, len(x.sorted))}
	var m uint64
	for i, g := range x.sorted {
		t.groups[i] = g.pub
		m = max(m, g.key.end)
		t.maxEnd[i] = m
	}
	return t
}

// deleteEntry removes e from l, keeping the order.
func deleteEntry(l []*bpfEntry, e *bpfEntry) []*bpfEntry {
	if i := slices.Index(l, e); i >= 0 {
		return slices.Delete(l, i, i+1)
	}
	return l
}
