package proxy

import (
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/knftables"
)

var everything = labels.Everything()

// tableState is what the proxy knows it wrote to its tables. Incremental syncs diff
// against it, so it must match the kernel: after a failed transaction (broken) the next
// sync rebuilds the tables and the state from scratch.
type tableState struct {
	// shards is how many shard tables the Services are spread over (by shardOf).
	shards     int
	programmed map[string]*serviceRules // by Service namespace/name
	// owners says which Service holds each verdict-map element. Two Services may
	// claim one (the same external IP and port, say); the first keeps it and the others
	// wait in waiting until it is released. Ownership is global: the elements of two
	// Services of different shards would land in different tables, where both would
	// match.
	owners  map[elementKey]string
	waiting map[elementKey]map[string]struct{}
	// stale chains were flushed when no longer used and are deleted after
	// staleChainDelay.
	stale map[chainRef]time.Time
	// hairpinRefs counts the Services that need each address in the hairpin set.
	hairpinRefs map[string]int
	broken      bool
	// bounds limit a rebuild's transactions (see planFull).
	bounds rebuildBounds
}

func newTableState(shards int) *tableState {
	return &tableState{
		shards:     max(shards, 1),
		programmed: map[string]*serviceRules{}, owners: map[elementKey]string{},
		waiting: map[elementKey]map[string]struct{}{}, stale: map[chainRef]time.Time{}, hairpinRefs: map[string]int{},
		bounds: rebuildBounds{maps: rebuildMaxMaps, operations: rebuildMaxOperations},
	}
}

// syncPlan is a sync's worth of changes, with what to do once they are in the table.
type syncPlan struct {
	services, changed, chains int
	// txs are the transactions to run, in order (one for an incremental sync).
	txs []*knftables.Transaction
	// requeue are Services waiting for an element this sync released.
	requeue []string
	// conflicts are elements a Service could not have, as "service: map key".
	conflicts []string
	commit    func()
}

// The bounds of one transaction of a rebuild after its first. The kernel binds each
// anonymous map (the numgen vmap of a Service with more than maxCascade endpoints) by
// walking the whole pending transaction: one transaction with a map per Service costs
// the square of the Services (≈24 s for 10 000 before the cascades). The operations
// bound (≈1 500 small Services) keeps a batch's netlink messages and the kernel's
// transaction to a few MB; each transaction costs a check of every table it wrote to
// at commit (nft_table_validate), and a walk of every chain of the namespace, so they
// are not smaller.
const (
	rebuildMaxMaps       = 256
	rebuildMaxOperations = 20000
)

// rebuildBounds are the most anonymous maps and operations one transaction of a
// rebuild after its first holds, unless a single Service needs more.
type rebuildBounds struct{ maps, operations int }

// planFull writes fresh tables with every Service: its first transaction replaces
// whatever proxy tables there were (leftovers too: tables of an earlier run with
// another number of shards) by the fixed chains, sets and maps (it runs through nft);
// the Services follow, a whole Service to a transaction, shard by shard, in
// transactions bounded by rebuildMaxMaps and rebuildMaxOperations (which nftlink sends
// over netlink). Between two transactions the Services not written yet have no rules
// at all: their traffic passes untouched, as if the proxy did not know them (not
// rejected), and no element jumps to a chain not written yet. commit replaces the
// state; until then, should a transaction fail, the state stays broken and the next
// sync rebuilds again.
func (s *tableState) planFull(newTx func() *knftables.Transaction, nodeIPs []string, leftovers []string, svcs []*corev1.Service, desired func(string) *serviceRules) *syncPlan {
	fresh := newTableState(s.shards)
	fresh.bounds = s.bounds
	skeleton := newTx()
	writeFreshTables(skeleton, nodeIPs, s.shards, leftovers)
	keys := make([]string, 0, len(svcs))
	shardOfKey := make(map[string]int, len(svcs))
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		keys = append(keys, key)
		shardOfKey[key] = shardOf(key, s.shards)
	}
	// Shard by shard, so that a transaction's commit checks few tables.
	slices.SortFunc(keys, func(a, b string) int {
		if c := shardOfKey[a] - shardOfKey[b]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	plan := &syncPlan{services: len(keys), txs: []*knftables.Transaction{skeleton}}
	var changes []*change
	maps, ops := 0, 0
	flush := func() {
		if len(changes) > 0 {
			tx := newTx()
			writeChanges(tx, changes, true)
			plan.txs = append(plan.txs, tx)
		}
		changes, maps, ops = nil, 0, 0
	}
	for _, key := range keys {
		r := desired(key)
		plan.conflicts = append(plan.conflicts, fresh.claim(key, r, plan)...)
		if r.empty() {
			continue
		}
		c := diff(nil, r, ShardTable(shardOfKey[key]))
		fresh.hairpinChanges(c, nil, r)
		m, o := c.size(true)
		if len(changes) > 0 && (maps+m > s.bounds.maps || ops+o > s.bounds.operations) {
			flush()
		}
		changes = append(changes, c)
		maps, ops = maps+m, ops+o
		fresh.programmed[key] = r.written()
		plan.changed++
		plan.chains += len(c.written)
	}
	flush()
	plan.requeue = nil // a fresh state has released nothing
	plan.commit = func() { *s = *fresh }
	return plan
}

// planIncremental writes the changes of the Services at keys into tx (gcKey among them
// only asks for stale chains to be deleted). It updates the state as it goes: should the
// transaction fail, broken makes the next sync a full one.
func (s *tableState) planIncremental(tx *knftables.Transaction, keys []string, desired func(string) *serviceRules, now time.Time) *syncPlan {
	plan := &syncPlan{txs: []*knftables.Transaction{tx}, commit: func() {}}
	var changes []*change
	written := map[chainRef]bool{}
	for _, key := range keys {
		if key == gcKey {
			continue
		}
		plan.services++
		r := desired(key)
		plan.conflicts = append(plan.conflicts, s.claim(key, r, plan)...)
		old := s.programmed[key]
		if old.equal(r) {
			continue
		}
		c := diff(old, r, s.shardTable(key))
		s.hairpinChanges(c, old, r)
		if r.empty() {
			delete(s.programmed, key)
		} else {
			s.programmed[key] = r.written()
		}
		if c.empty() {
			continue
		}
		changes = append(changes, c)
		plan.changed++
		plan.chains += len(c.written)
		for _, ref := range c.written {
			written[ref] = true
			delete(s.stale, ref)
		}
		for _, ref := range c.removed {
			s.stale[ref] = now
		}
	}
	writeChanges(tx, changes, false)
	refs := slices.SortedFunc(maps.Keys(s.stale), func(a, b chainRef) int {
		if c := strings.Compare(a.table, b.table); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for _, ref := range refs {
		if !written[ref] && now.Sub(s.stale[ref]) >= staleChainDelay {
			tx.Delete(chainObj(ref.table, ref.name))
			delete(s.stale, ref)
		}
	}
	return plan
}

// hairpinChanges adds to c the elements of the hairpin set that going from old to r
// adds or removes: an address is in the set while a Service needs it.
func (s *tableState) hairpinChanges(c *change, old, r *serviceRules) {
	var was, is map[string]bool
	if old != nil {
		was = old.hairpin
	}
	if r != nil {
		is = r.hairpin
	}
	for _, ip := range sortedKeys(was) {
		if !is[ip] {
			if s.hairpinRefs[ip]--; s.hairpinRefs[ip] <= 0 {
				delete(s.hairpinRefs, ip)
				c.delElements = append(c.delElements, hairpinElement(ip))
			}
		}
	}
	for _, ip := range sortedKeys(is) {
		if !was[ip] {
			if s.hairpinRefs[ip]++; s.hairpinRefs[ip] == 1 {
				c.addElements = append(c.addElements, hairpinElement(ip))
			}
		}
	}
}

// shardTable is the table of the Service at key.
func (s *tableState) shardTable(key string) string {
	return ShardTable(shardOf(key, s.shards))
}

// claim filters out of r the elements another Service holds (returning them as
// conflicts), and moves ownership of key's elements from its old rules to r.
func (s *tableState) claim(key string, r *serviceRules, plan *syncPlan) []string {
	var conflicts []string
	for k := range r.elements {
		if owner, held := s.owners[k]; held && owner != key {
			delete(r.elements, k)
			if s.waiting[k] == nil {
				s.waiting[k] = map[string]struct{}{}
			}
			s.waiting[k][key] = struct{}{}
			conflicts = append(conflicts, key+": "+k.mapName+" "+k.key+" is held by "+owner)
		}
	}
	if old := s.programmed[key]; old != nil {
		for k := range old.elements {
			if _, kept := r.elements[k]; kept {
				continue
			}
			delete(s.owners, k)
			for waiter := range s.waiting[k] {
				plan.requeue = append(plan.requeue, waiter)
			}
			delete(s.waiting, k)
		}
	}
	for k := range r.elements {
		s.owners[k] = key
	}
	return conflicts
}

// nextGC says how long until the oldest stale chain may be deleted.
func (s *tableState) nextGC(now time.Time) (time.Duration, bool) {
	if len(s.stale) == 0 {
		return 0, false
	}
	var first time.Time
	for _, t := range s.stale {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return max(first.Add(staleChainDelay).Sub(now), time.Millisecond), true
}
