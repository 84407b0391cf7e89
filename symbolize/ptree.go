package symbolize

import "cmp"

// pkey orders the nodes of a ptree: by a, then b.
type pkey struct{ a, b uint64 }

func (k pkey) cmp(o pkey) int { return cmp.Or(cmp.Compare(k.a, o.a), cmp.Compare(k.b, o.b)) }

// pnode is a node of a ptree. A node reachable from a root that was ever
// handed out is never changed again: a change copies the path to it, so
// that readers on other goroutines may walk an old root without a lock
// while the writer goes on.
type pnode[V, A any] struct {
	key         pkey
	prio        uint64
	val         V
	sum         A // of the subtree, by ptree.sum
	left, right *pnode[V, A]
}

// ptree is a persistent treap: a binary search tree by key, balanced in
// expectation by random priorities, whose set and delete copy the O(log n)
// nodes on the path they change and share the rest with earlier roots.
// Each node carries a summary of its subtree (sum), which lets searches
// skip subtrees, as an interval tree does with the largest end below a
// node. A ptree is not safe for concurrent writers; its roots are.
type ptree[V, A any] struct {
	root *pnode[V, A]
	// sum makes a node's summary from its own key and value and its
	// children's summaries.
	sum func(n *pnode[V, A]) A
	// rng is the state of the priorities' generator (splitmix64).
	rng uint64
	n   int
}

// set adds val under key, or replaces the value under key.
func (t *ptree[V, A]) set(key pkey, val V) {
	t.rng += 0x9e3779b97f4a7c15
	z := t.rng
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	t.root = t.insert(t.root, key, val, z^z>>31)
}

// insert returns a copy of n with val under key; every node it returns
// and every node on its path is new, so rotations may change them.
func (t *ptree[V, A]) insert(n *pnode[V, A], key pkey, val V, prio uint64) *pnode[V, A] {
	if n == nil {
		t.n++
		m := &pnode[V, A]{key: key, prio: prio, val: val}
		m.sum = t.sum(m)
		return m
	}
	m := new(pnode[V, A])
	*m = *n
	switch c := key.cmp(n.key); {
	case c == 0:
		m.val = val
	case c < 0:
		m.left = t.insert(n.left, key, val, prio)
		if l := m.left; l.prio > m.prio {
			m.left = l.right
			m.sum = t.sum(m)
			l.right = m
			l.sum = t.sum(l)
			return l
		}
	default:
		m.right = t.insert(n.right, key, val, prio)
		if r := m.right; r.prio > m.prio {
			m.right = r.left
			m.sum = t.sum(m)
			r.left = m
			r.sum = t.sum(r)
			return r
		}
	}
	m.sum = t.sum(m)
	return m
}

// delete removes key, if present.
func (t *ptree[V, A]) delete(key pkey) {
	t.root = t.remove(t.root, key)
}

func (t *ptree[V, A]) remove(n *pnode[V, A], key pkey) *pnode[V, A] {
	if n == nil {
		return nil
	}
	c := key.cmp(n.key)
	if c == 0 {
		t.n--
		return t.merge(n.left, n.right)
	}
	m := new(pnode[V, A])
	*m = *n
	if c < 0 {
		if m.left = t.remove(n.left, key); m.left == n.left {
			return n
		}
	} else if m.right = t.remove(n.right, key); m.right == n.right {
		return n
	}
	m.sum = t.sum(m)
	return m
}

// merge joins two trees whose keys are all below (a) and above (b) each
// other.
func (t *ptree[V, A]) merge(a, b *pnode[V, A]) *pnode[V, A] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	m := new(pnode[V, A])
	if a.prio > b.prio {
		*m = *a
		m.right = t.merge(a.right, b)
	} else {
		*m = *b
		m.left = t.merge(a, b.left)
	}
	m.sum = t.sum(m)
	return m
}

// descend calls f with the values of the keys below bound, from the
// largest down, until f returns false.
func descend[V, A any](n *pnode[V, A], bound pkey, f func(V) bool) bool {
	for n != nil {
		if n.key.cmp(bound) >= 0 {
			n = n.left
			continue
		}
		if !descend(n.right, bound, f) || !f(n.val) {
			return false
		}
		n = n.left
	}
	return true
}

// noSum is the summary of a ptree that needs none.
func noSum[V any](*pnode[V, struct{}]) struct{} { return struct{}{} }
