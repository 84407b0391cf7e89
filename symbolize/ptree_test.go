package symbolize

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkTree walks n, checking the order of keys, the heap order of
// priorities and each summary (the sum of values below), and returns the
// keys in order.
func checkTree(t *testing.T, n *pnode[uint64, uint64], keys []pkey) ([]pkey, uint64) {
	t.Helper()
	if n == nil {
		return keys, 0
	}
	for _, c := range []*pnode[uint64, uint64]{n.left, n.right} {
		if c != nil && c.prio > n.prio {
			t.Fatalf("child %v above its parent %v by priority", c.key, n.key)
		}
	}
	keys, l := checkTree(t, n.left, keys)
	keys = append(keys, n.key)
	keys, r := checkTree(t, n.right, keys)
	if sum := l + n.val + r; n.sum != sum {
		t.Fatalf("%v: sum %d, want %d", n.key, n.sum, sum)
	}
	return keys, n.sum
}

// TestPTree checks random sets and deletes against a map, and that a root
// handed out earlier still holds what it held then.
func TestPTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	sum := func(n *pnode[uint64, uint64]) uint64 {
		s := n.val
		if n.left != nil {
			s += n.left.sum
		}
		if n.right != nil {
			s += n.right.sum
		}
		return s
	}
	tr := ptree[uint64, uint64]{sum: sum}
	want := map[pkey]uint64{}
	type snap struct {
		root *pnode[uint64, uint64]
		keys []pkey
		sum  uint64
	}
	var snaps []snap
	for i := range 4000 {
		k := pkey{uint64(rng.IntN(50)), uint64(rng.IntN(20))}
		if rng.IntN(3) == 0 {
			tr.delete(k)
			delete(want, k)
		} else {
			v := uint64(rng.IntN(1000))
			tr.set(k, v)
			want[k] = v
		}
		if tr.n != len(want) {
			t.Fatalf("step %d: %d nodes, want %d", i, tr.n, len(want))
		}
		if i%97 == 0 {
			keys, s := checkTree(t, tr.root, nil)
			var wantSum uint64
			wantKeys := make([]pkey, 0, len(want))
			for k, v := range want {
				wantKeys = append(wantKeys, k)
				wantSum += v
			}
			slices.SortFunc(wantKeys, pkey.cmp)
			if !slices.Equal(keys, wantKeys) || s != wantSum {
				t.Fatalf("step %d: keys %v sum %d, want %v sum %d", i, keys, s, wantKeys, wantSum)
			}
			snaps = append(snaps, snap{tr.root, keys, s})
		}
	}
	for i, sn := range snaps {
		if keys, s := checkTree(t, sn.root, nil); !slices.Equal(keys, sn.keys) || s != sn.sum {
			t.Fatalf("snapshot %d changed", i)
		}
	}
	var got []uint64
	descend(tr.root, pkey{30, 0}, func(v uint64) bool {
		got = append(got, v)
		return len(got) < 5
	})
	var wantVals []uint64
	keys, _ := checkTree(t, tr.root, nil)
	for i := len(keys) - 1; i >= 0 && len(wantVals) < 5; i-- {
		if keys[i].a < 30 {
			wantVals = append(wantVals, want[keys[i]])
		}
	}
	if !slices.Equal(got, wantVals) {
		t.Errorf("descend: %v, want %v", got, wantVals)
	}
}

// TestBPFIndexIncremental checks that the snapshots an index publishes
// after random changes answer as a table built afresh from its entries.
func TestBPFIndexIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	unit := timeSlack / 5
	x := newBPFIndex()
	var live []*bpfEntry
	var tab *bpfTable
	for step := range 3000 {
		switch op := rng.IntN(10); {
		case op < 4 || len(live) == 0:
			start := uint64(0x1000 + 0x40*rng.IntN(8))
			r := bpfRange{start: start, end: start + uint64(0x40*(1+rng.IntN(3))), from: unit * uint64(rng.IntN(1000)), until: openEnd, fn: &bpfFunc{}}
			if rng.IntN(3) == 0 {
				r.until = r.from + unit*uint64(rng.IntN(300))
			}
			live = append(live, x.add(r))
		case op < 6:
			e := live[rng.IntN(len(live))]
			x.setUntil(e, max(e.from, min(e.until, e.from+unit*uint64(rng.IntN(300)))))
		case op < 7:
			e := live[rng.IntN(len(live))]
			x.setFrom(e, e.from-min(e.from, unit*uint64(rng.IntN(10))))
		case op < 8:
			e := live[rng.IntN(len(live))]
			x.setEnd(e, e.start+uint64(0x40*(1+rng.IntN(3))))
		case op < 9:
			e := live[rng.IntN(len(live))]
			x.setFn(e, &bpfFunc{})
		default:
			i := rng.IntN(len(live))
			x.remove(live[i])
			live = slices.Delete(live, i, i+1)
		}
		if rng.IntN(5) > 0 {
			continue
		}
		tab = x.publish(tab)
		bySeq := slices.Clone(live)
		slices.SortFunc(bySeq, func(a, b *bpfEntry) int { return cmp.Compare(a.seq, b.seq) })
		ranges := make([]bpfRange, len(bySeq))
		for i, e := range bySeq {
			ranges[i] = e.bpfRange
		}
		fresh := newBPFTable(ranges)
		for range 50 {
			addr := uint64(0x1000 + rng.IntN(0x300))
			time := unit*uint64(rng.IntN(1400)) + uint64(rng.IntN(int(unit)))
			if rng.IntN(10) == 0 {
				time = 0
			}
			got, want := tab.lookup(addr, time), fresh.lookup(addr, time)
			switch {
			case got == nil && want == nil:
			case got == nil || want == nil || got.fn != want.fn || got.from != want.from || got.until != want.until || got.end != want.end:
				t.Fatalf("step %d: %#x at %d: got %+v, want %+v", step, addr, time, got, want)
			}
		}
	}
}
