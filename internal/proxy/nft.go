package proxy

import (
	"maps"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/knftables"
)

// change is what one Service's update does to the tables, split in the phases a
// transaction must follow: references go before what they reference is removed, and
// what a rule or element references exists before it is added. Only Services with
// session affinity have chains and sets of their own.
type change struct {
	flush       []*knftables.Chain   // chains to empty: rewritten ones (added first) and removed ones
	delElements []*knftables.Element // removed or changed elements
	delSets     []*knftables.Set     // removed or changed affinity sets
	addSets     []*knftables.Set
	rules       []*knftables.Rule // the rewritten chains' rules
	addElements []*knftables.Element
	// removed are the chains no longer used: flushed now, deleted by a later sync (a
	// kernel before 6.2 frees a chain's references from map elements lazily).
	removed []string
	// written are the chains (re)written.
	written []string
}

// diff computes the change from old to desired (either may be empty) of a Service.
// Chains whose rules did not change are not touched; a changed
// affinity timeout rewrites every chain of the service, since a set cannot be replaced
// while rules refer to it.
func diff(old, desired *serviceRules) *change {
	if old == nil {
		old = newServiceRules()
	}
	if desired == nil {
		desired = newServiceRules()
	}
	c := &change{}
	setsChanged := false
	for _, name := range sortedKeys(old.sets) {
		if timeout, ok := desired.sets[name]; !ok || timeout != old.sets[name] {
			c.delSets = append(c.delSets, &knftables.Set{Family: knftables.IPv4Family, Table: TableName, Name: name})
			setsChanged = setsChanged || ok
		}
	}
	for _, name := range sortedKeys(desired.sets) {
		if timeout, ok := old.sets[name]; !ok || timeout != desired.sets[name] {
			c.addSets = append(c.addSets, affinitySet(name, desired.sets[name]))
		}
	}
	for _, name := range sortedKeys(desired.chains) {
		if sum, ok := old.sums[name]; ok && !setsChanged && sum == desired.sums[name] {
			continue
		}
		c.flush = append(c.flush, chainObj(name))
		c.written = append(c.written, name)
		for _, rule := range desired.chains[name] {
			c.rules = append(c.rules, ruleObj(name, rule))
		}
	}
	for _, name := range sortedKeys(old.sums) {
		if _, ok := desired.sums[name]; !ok {
			c.flush = append(c.flush, chainObj(name))
			c.removed = append(c.removed, name)
		}
	}
	for _, k := range sortedElementKeys(old.elements) {
		if v, ok := desired.elements[k]; !ok || v != old.elements[k] {
			c.delElements = append(c.delElements, element(k, old.elements[k], false))
		}
	}
	for _, k := range sortedElementKeys(desired.elements) {
		if v, ok := old.elements[k]; !ok || v != desired.elements[k] {
			c.addElements = append(c.addElements, element(k, desired.elements[k], true))
		}
	}
	return c
}

func (c *change) empty() bool {
	return len(c.flush)+len(c.delElements)+len(c.delSets)+len(c.addSets)+len(c.rules)+len(c.addElements) == 0
}

// size is how many anonymous maps and operations writeChanges writes for c (fresh: into
// a table that has none of its chains yet).
func (c *change) size(fresh bool) (maps, ops int) {
	for _, r := range c.rules {
		if strings.Contains(r.Rule, " vmap { ") {
			maps++
		}
	}
	ops = len(c.flush) + len(c.delElements) + len(c.delSets) + len(c.addSets) + len(c.rules) + len(c.addElements)
	if !fresh {
		ops += len(c.flush)
	}
	return maps, ops
}

// writeChanges appends changes to tx phase by phase. In a fresh table (fresh) the
// chains are only added: there is nothing to flush.
func writeChanges(tx *knftables.Transaction, changes []*change, fresh bool) {
	for _, c := range changes {
		for _, ch := range c.flush {
			tx.Add(ch)
			if !fresh {
				tx.Flush(ch)
			}
		}
	}
	for _, c := range changes {
		for _, e := range c.delElements {
			tx.Delete(e)
		}
	}
	for _, c := range changes {
		for _, s := range c.delSets {
			tx.Delete(s)
		}
	}
	for _, c := range changes {
		for _, s := range c.addSets {
			tx.Add(s)
		}
	}
	for _, c := range changes {
		for _, r := range c.rules {
			tx.Add(r)
		}
	}
	for _, c := range changes {
		for _, e := range c.addElements {
			tx.Add(e)
		}
	}
}

func affinitySet(name string, timeout time.Duration) *knftables.Set {
	return &knftables.Set{
		Family: knftables.IPv4Family, Table: TableName, Name: name, Type: "ipv4_addr",
		// "dynamic" too: the kernel adds it to sets updated from the packet path, and a
		// later add of the same set without it would look like a conflicting change.
		Flags:   []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
		Timeout: knftables.PtrTo(timeout),
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sortedElementKeys(m map[elementKey]string) []elementKey {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b elementKey) int {
		if c := strings.Compare(a.set, b.set); c != 0 {
			return c
		}
		return strings.Compare(a.key, b.key)
	})
	return keys
}
