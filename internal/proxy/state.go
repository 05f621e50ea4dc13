package proxy

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/knftables"
)

var everything = labels.Everything()

// tableState is what the proxy knows it wrote to its table. Incremental syncs diff
// against it, so it must match the kernel: after a failed transaction (broken) the next
// sync rebuilds the table and the state from scratch.
type tableState struct {
	cfg        tableConfig
	programmed map[string]*serviceRules // by Service namespace/name
	// owners says which Service holds each traffic key (see elementKey.claim). Two
	// Services may claim one (the same external IP and port, say); the first keeps it
	// and the others wait in waiting until it is released.
	owners  map[string]string
	waiting map[string]map[string]struct{}
	// stale chains (of affinity Services) were flushed when no longer used and are
	// deleted after staleChainDelay.
	stale map[string]time.Time
	// sizeRefs are the class maps and chains in the table (see sizeName), with the
	// number of Services that have elements in them; one no Service uses since
	// unusedSince is deleted after staleChainDelay.
	sizeRefs    map[string]int
	unusedSince map[string]time.Time
	// hairpinRefs counts the Services that need each address in the hairpin set.
	hairpinRefs map[string]int
	broken      bool
	// bounds limit a rebuild's transactions (see planFull).
	bounds rebuildBounds
}

func newTableState(cfg tableConfig) *tableState {
	return &tableState{
		cfg:        cfg,
		programmed: map[string]*serviceRules{}, owners: map[string]string{},
		waiting: map[string]map[string]struct{}{}, stale: map[string]time.Time{},
		sizeRefs: map[string]int{}, unusedSince: map[string]time.Time{}, hairpinRefs: map[string]int{},
		bounds: rebuildBounds{maps: rebuildMaxMaps, operations: rebuildMaxOperations},
	}
}

// syncPlan is a sync's worth of changes, with what to do once they are in the table.
type syncPlan struct {
	services, changed, chains int
	// txs are the transactions to run, in order (one for an incremental sync).
	txs []*knftables.Transaction
	// requeue are Services waiting for a traffic key this sync released.
	requeue []string
	// conflicts are traffic keys a Service could not have, as "service: key".
	conflicts []string
	commit    func()
}

// The bounds of one transaction of a rebuild after its first. The kernel binds each
// anonymous map (the numgen vmap of an affinity Service with more than maxCascade
// endpoints) by walking the whole pending transaction, so a transaction holds few. The
// operations bound keeps a batch's netlink messages and the kernel's transaction to a
// few MB.
const (
	rebuildMaxMaps       = 256
	rebuildMaxOperations = 20000
)

// rebuildBounds are the most anonymous maps and operations one transaction of a
// rebuild after its first holds, unless a single Service needs more.
type rebuildBounds struct{ maps, operations int }

// planFull writes a fresh table with every Service: its first transaction replaces
// whatever proxy tables there were (leftovers of older versions too) by the fixed
// chains, sets and maps and the class maps and chains the Services need (it runs
// through nft); the Services follow, a whole Service to a transaction, in transactions
// bounded by rebuildMaxMaps and rebuildMaxOperations (which nftlink sends over
// netlink). Between two transactions the Services not written yet have no rules at
// all: their traffic passes untouched, as if the proxy did not know them (not
// rejected). commit replaces the state; until then, should a transaction fail, the
// state stays broken and the next sync rebuilds again.
func (s *tableState) planFull(newTx func() *knftables.Transaction, leftovers []string, svcs []*corev1.Service, desired func(string) *serviceRules) *syncPlan {
	fresh := newTableState(s.cfg)
	fresh.bounds = s.bounds
	keys := make([]string, 0, len(svcs))
	for _, svc := range svcs {
		keys = append(keys, svc.Namespace+"/"+svc.Name)
	}
	slices.Sort(keys)
	plan := &syncPlan{services: len(keys)}
	rules := make(map[string]*serviceRules, len(keys))
	for _, key := range keys {
		r := desired(key)
		plan.conflicts = append(plan.conflicts, fresh.claim(key, r, plan)...)
		if r.empty() {
			continue
		}
		rules[key] = r
		for name := range r.sizes() {
			fresh.sizeRefs[name]++
		}
	}
	skeleton := newTx()
	writeFreshTable(skeleton, s.cfg, leftovers, sortedKeys(fresh.sizeRefs))
	plan.txs = []*knftables.Transaction{skeleton}
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
		r := rules[key]
		if r == nil {
			continue
		}
		c := diff(nil, r)
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
// only asks for stale chains and unused class maps to be deleted). It updates the
// state as it goes: should the transaction fail, broken makes the next sync a full
// one.
//
// A Service's change is element additions and deletions in the shared sets and maps
// (plus its own chains with session affinity). When its endpoints move it to a class
// map of a number of endpoints no Service used, that map and its chain are created
// first (by nft: see addSize), in the same transaction.
func (s *tableState) planIncremental(tx *knftables.Transaction, keys []string, desired func(string) *serviceRules, now time.Time) *syncPlan {
	plan := &syncPlan{txs: []*knftables.Transaction{tx}, commit: func() {}}
	var changes []*change
	written := map[string]bool{}
	var created []string
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
		c := diff(old, r)
		s.hairpinChanges(c, old, r)
		was, is := old.sizes(), r.sizes()
		for _, name := range sortedKeys(is) {
			if was[name] {
				continue
			}
			if _, ok := s.sizeRefs[name]; !ok {
				created = append(created, name)
			}
			s.sizeRefs[name]++
			delete(s.unusedSince, name)
		}
		for _, name := range sortedKeys(was) {
			if !is[name] {
				if s.sizeRefs[name]--; s.sizeRefs[name] == 0 {
					s.unusedSince[name] = now
				}
			}
		}
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
		for _, name := range c.written {
			written[name] = true
			delete(s.stale, name)
		}
		for _, name := range c.removed {
			s.stale[name] = now
		}
	}
	var deleted []string
	for _, name := range sortedKeys(s.unusedSince) {
		if s.sizeRefs[name] == 0 && now.Sub(s.unusedSince[name]) >= staleChainDelay {
			deleted = append(deleted, name)
			delete(s.sizeRefs, name)
			delete(s.unusedSince, name)
		}
	}
	// New class chains before the jumps to them, the jumps before the elements that
	// lead there; the jumps to unused ones go before those are deleted.
	touched := map[string]bool{}
	for _, name := range append(slices.Clone(created), deleted...) {
		class, _, _ := parseSizeName(name)
		touched[class] = true
		if slices.Contains(created, name) {
			addSize(tx, name)
		}
	}
	for _, class := range classes {
		if touched[class] {
			writeClassChain(tx, class, sortedKeys(s.sizeRefs), false)
		}
	}
	writeChanges(tx, changes, false)
	for _, name := range deleted {
		deleteSize(tx, name)
	}
	for _, name := range sortedKeys(s.stale) {
		if !written[name] && now.Sub(s.stale[name]) >= staleChainDelay {
			tx.Delete(chainObj(name))
			delete(s.stale, name)
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

// claim filters out of r the elements of traffic keys another Service holds
// (returning them as conflicts), and moves ownership of key's traffic keys from its
// old rules to r.
func (s *tableState) claim(key string, r *serviceRules, plan *syncPlan) []string {
	held := map[string]string{} // traffic key → the other Service holding it
	for k := range r.elements {
		if owner, ok := s.owners[k.claim()]; ok && owner != key {
			held[k.claim()] = owner
		}
	}
	for k := range r.elements {
		if _, ok := held[k.claim()]; ok {
			delete(r.elements, k)
		}
	}
	var conflicts []string
	for _, claim := range sortedKeys(held) {
		if s.waiting[claim] == nil {
			s.waiting[claim] = map[string]struct{}{}
		}
		s.waiting[claim][key] = struct{}{}
		conflicts = append(conflicts, key+": "+claim+" is held by "+held[claim])
	}
	claims := map[string]bool{}
	for k := range r.elements {
		claims[k.claim()] = true
	}
	if old := s.programmed[key]; old != nil {
		for k := range old.elements {
			claim := k.claim()
			if claims[claim] || s.owners[claim] != key {
				continue
			}
			delete(s.owners, claim)
			for _, waiter := range sortedKeys(s.waiting[claim]) {
				plan.requeue = append(plan.requeue, waiter)
			}
			delete(s.waiting, claim)
		}
	}
	for claim := range claims {
		s.owners[claim] = key
	}
	return conflicts
}

// nextGC says how long until the oldest stale chain or unused class map may be deleted.
func (s *tableState) nextGC(now time.Time) (time.Duration, bool) {
	if len(s.stale)+len(s.unusedSince) == 0 {
		return 0, false
	}
	var first time.Time
	for _, t := range s.stale {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	for _, t := range s.unusedSince {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return max(first.Add(staleChainDelay).Sub(now), time.Millisecond), true
}
