package aggregate

import (
	"encoding/binary"

	"github.com/bpfprof/bpfprof/symbolize"
)

// maybeCompact drops, every half Window, what was not sampled for a
// Window. hmu and mu must be held, and the sample counted: the caches that
// gave the sample its location ids are renumbered with the locations.
func (a *Aggregator) maybeCompact() {
	switch {
	case a.window == 0:
	case a.compactAt == 0:
		a.compactAt = a.end + a.window/2
	case a.end >= a.compactAt:
		a.compactAt = a.end + a.window/2
		if a.end > a.window {
			a.compact(a.end - a.window)
		}
	}
}

// compact keeps the stacks sampled at or after cutoff and what they use:
// locations, programs, lines, addresses, process names, and the caches of
// the processes sampled since. Everything is
// renumbered into new slices, since Snapshots share the old ones; the
// caches and the Trackers' previous counts follow the new numbers. hmu and
// mu must be held.
func (a *Aggregator) compact(cutoff uint64) {
	kept := 0
	for i := range a.stacks {
		if a.stacks[i].last >= cutoff {
			kept++
		}
	}
	if kept == len(a.stacks) {
		return
	}
	a.counters.Expired += uint64(len(a.stacks) - kept)

	// Locations of the stacks kept, and through them the programs, lines
	// and addresses.
	locMap := make([]uint32, len(a.locs)+1) // old id → new id, 0 dropped
	progMap := make([]uint32, len(a.progs)+1)
	lineMap := make([]uint32, len(a.lines)+1)
	addrMap := make([]uint32, len(a.addrs)+1)
	for i := range a.stacks {
		if a.stacks[i].last < cutoff {
			continue
		}
		for _, id := range a.stacks[i].locs {
			locMap[id] = 1
			info := a.locInfo[id-1]
			progMap[info.prog], lineMap[info.line], addrMap[info.addr] = 1, 1, 1
		}
	}
	progMap[0], lineMap[0], addrMap[0] = 0, 0, 0
	progs := make([]progCount, 0, len(a.progs))
	for i, p := range a.progs {
		if progMap[i+1] != 0 {
			progs = append(progs, p)
			progMap[i+1] = uint32(len(progs))
		}
	}
	lines := make([]lineCount, 0, len(a.lines))
	for i, l := range a.lines {
		if lineMap[i+1] != 0 {
			lines = append(lines, l)
			lineMap[i+1] = uint32(len(lines))
		}
	}
	locs := make([]symbolize.Frame, 0, len(a.locs))
	locInfo := make([]locInfo, 0, len(a.locs))
	for i := range a.locs {
		if locMap[i+1] == 0 {
			continue
		}
		info := a.locInfo[i]
		info.prog, info.line = progMap[info.prog], lineMap[info.line]
		locs = append(locs, a.locs[i])
		locInfo = append(locInfo, info)
		locMap[i+1] = uint32(len(locs))
	}
	addrs := make([]addrCount, 0, len(a.addrs))
	for i, ac := range a.addrs {
		if addrMap[i+1] == 0 {
			continue
		}
		ac.loc, ac.prog = locMap[ac.loc], progMap[ac.prog]
		addrs = append(addrs, ac)
		addrMap[i+1] = uint32(len(addrs))
		locInfo[ac.loc-1].addr = uint32(len(addrs))
	}

	// The indexes, from their old keys where the keys hold no numbers.
	a.locIndex = remapIndex(a.locIndex, locMap)
	a.lineIndex = remapIndex(a.lineIndex, lineMap)
	a.progIndex = remapIndex(a.progIndex, progMap)
	for k, id := range a.kernelLocs {
		if n := locMap[id]; n != 0 {
			a.kernelLocs[k] = n
		} else {
			delete(a.kernelLocs, k)
		}
	}
	for pid, pc := range a.procs {
		if pc.last < cutoff {
			// Not sampled for a window: gone, its EXIT record lost,
			// or idle; read again if it is sampled again.
			delete(a.procs, pid)
			continue
		}
		for k, id := range pc.locs {
			if n := locMap[id]; n != 0 {
				pc.locs[k] = n
			} else {
				delete(pc.locs, k)
			}
		}
	}

	// The stacks, their names and keys, in a new arena.
	stackMap := make([]int32, len(a.stacks)) // old index → new, -1 dropped
	stacks := make([]stackCount, 0, kept)
	comms := []string{""}
	commIndex := map[string]uint32{"": 0}
	a.stackIndex = make(map[string]uint32, kept)
	a.arena = nil
	ids := make([]uint32, 0, 64)
	for i := range a.stacks {
		st := a.stacks[i]
		if st.last < cutoff {
			stackMap[i] = -1
			continue
		}
		ids = ids[:0]
		for _, id := range st.locs {
			ids = append(ids, locMap[id])
		}
		st.locs = a.alloc(ids)
		comm := a.comms[st.comm]
		c, ok := commIndex[comm]
		if !ok {
			c = uint32(len(comms))
			comms = append(comms, comm)
			commIndex[comm] = c
		}
		st.comm, st.prog, st.touched = c, progMap[st.prog], false
		stackMap[i] = int32(len(stacks))
		stacks = append(stacks, st)
		a.stackIndex[string(a.stackKey(&st))] = uint32(len(stacks) - 1)
	}

	for _, t := range a.trackers {
		t.stacks = remapPrev(t.stacks, len(stacks), func(i int) int { return int(stackMap[i]) })
		t.progs = remapPrev(t.progs, len(progs), func(i int) int { return int(progMap[i+1]) - 1 })
		t.lines = remapPrev(t.lines, len(lines), func(i int) int { return int(lineMap[i+1]) - 1 })
		t.addrs = remapPrev(t.addrs, len(addrs), func(i int) int { return int(addrMap[i+1]) - 1 })
	}

	a.locs, a.locInfo, a.progs, a.lines, a.addrs = locs, locInfo, progs, lines, addrs
	a.stacks, a.comms, a.commIndex = stacks, comms, commIndex
	a.lastStacks, a.touched = nil, a.touched[:0]
}

// stackKey encodes a stack's labels and locations as HandleRecord keys it.
func (a *Aggregator) stackKey(st *stackCount) []byte {
	a.keybuf = a.keybuf[:0]
	for _, v := range [...]uint32{st.pid, st.tid, st.cpu, st.comm, st.prog} {
		a.keybuf = binary.LittleEndian.AppendUint32(a.keybuf, v)
	}
	for _, id := range st.locs {
		a.keybuf = binary.LittleEndian.AppendUint32(a.keybuf, id)
	}
	return a.keybuf
}

// remapIndex renumbers the values of an index (ids from 1) through m,
// dropping those mapped to 0.
func remapIndex[K comparable](idx map[K]uint32, m []uint32) map[K]uint32 {
	out := make(map[K]uint32, len(idx))
	for k, id := range idx {
		if n := m[id]; n != 0 {
			out[k] = n
		}
	}
	return out
}

// remapPrev moves a Tracker's previous counts to their new indexes (to
// returns -1 for a dropped entry).
func remapPrev[T any](prev []T, n int, to func(int) int) []T {
	out := make([]T, n)
	for i := range prev {
		if j := to(i); j >= 0 {
			out[j] = prev[i]
		}
	}
	return out
}
