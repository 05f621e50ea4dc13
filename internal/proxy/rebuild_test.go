package proxy

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// manyServices is n Services of every shape the rebuild must keep whole: a few
// endpoints (a numgen cascade), more than maxCascade (a numgen map), none (a reject
// element), NodePorts, affinity sets.
func manyServices(n int) *cluster {
	c := newCluster()
	for i := range n {
		name := fmt.Sprintf("svc-%03d", i)
		o := []func(*corev1.Service){clusterIP(fmt.Sprintf("10.43.%d.%d", i/200, i%200+1))}
		if i%5 == 1 {
			o = append(o, nodePort(int32(30000+i)))
		}
		if i%7 == 2 {
			o = append(o, affinity(60))
		}
		svc := service(name, o...)
		eps := (i % 4) * 3 // 0, 3, 6, 9
		if i%6 == 3 {
			eps = maxCascade + 2
		}
		var list []ep
		for e := range eps {
			list = append(list, ep{ip: fmt.Sprintf("10.42.%d.%d", i%200, e+2), node: []string{"node-a", "node-b"}[e%2]})
		}
		c.add(svc, slice(svc, name+"-1", 8080, list...))
	}
	return c
}

// A rebuild writes the fixed table first, then the Services in bounded transactions,
// each Service whole in one of them; after each, the table holds every Service written
// so far and nothing of the others, and nothing refers to a chain that is not there.
// The result equals a rebuild with the default bounds.
func TestRebuildInBoundedTransactions(t *testing.T) {
	rebuildInBoundedTransactions(t, nil)
}

// The same against the kernel, which must accept every transaction.
func TestRebuildInBoundedTransactionsInTheKernel(t *testing.T) {
	rebuildInBoundedTransactions(t, realTable(t))
}

func rebuildInBoundedTransactions(t *testing.T, real *kernelTables) {
	const n = 60
	c := manyServices(n)
	// What each Service adds to the table on its own.
	base := lineSet(fullDump(t, newCluster(), testParams))
	own := map[string][]string{}
	for key, svc := range c.services {
		one := newCluster()
		one.add(svc, c.slices[key]...)
		for l := range lineSet(fullDump(t, one, testParams)) {
			// The class maps and chains are in the first transaction.
			f := strings.Fields(l)
			_, _, class := parseSizeName(f[4])
			if f[1] != "element" && (class || slices.Contains(classes, f[4])) {
				continue
			}
			if !base[l] {
				own[key] = append(own[key], l)
			}
		}
	}

	tb := &table{t: t, nft: newFake(), real: real, state: newTableState(testConfig), c: c}
	bounds := rebuildBounds{maps: 3, operations: 150}
	tb.state.bounds = bounds
	plan := tb.state.planFull(tb.nft.NewTransaction, nil, c.list(), c.desired(testParams))
	t.Logf("%d Services in %d transactions", n, len(plan.txs))
	if len(plan.txs) < 5 {
		t.Fatalf("%d transactions, want the Services split over several", len(plan.txs))
	}
	written := map[string]int{} // Service → the transaction that wrote it
	for i, tx := range plan.txs {
		tb.run(tx, fmt.Sprintf("transaction %d", i+1))
		tb.checkReferences(fmt.Sprintf("after transaction %d", i+1))
		dump := lineSet(tb.nft.Dump())
		var now []string
		for key, lines := range own {
			in := 0
			for _, l := range lines {
				if dump[l] {
					in++
				}
			}
			switch {
			case in == len(lines) && written[key] == 0:
				written[key] = i + 1
				now = append(now, key)
			case in == len(lines):
			case in == 0 && written[key] == 0:
			default:
				t.Fatalf("after transaction %d, %d of %s's %d lines are in the table", i+1, in, key, len(lines))
			}
		}
		if i == 0 && len(now) > 0 {
			t.Fatalf("the first transaction wrote Services %v", now)
		}
		if maps, ops := strings.Count(tx.String(), " vmap { "), tx.NumOperations(); i > 0 && len(now) > 1 && (maps > bounds.maps || ops > bounds.operations) {
			t.Errorf("transaction %d: %d maps, %d operations for %d Services, bounds %+v", i+1, maps, ops, len(now), bounds)
		}
	}
	if len(written) != n {
		t.Fatalf("%d of %d Services written", len(written), n)
	}
	plan.commit()
	if tb.state.broken || len(tb.state.programmed) != n {
		t.Fatalf("state after the rebuild: broken %v, %d Services", tb.state.broken, len(tb.state.programmed))
	}
	tb.checkConsistent("after the rebuild")
}

func lineSet(dump string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(dump, "\n") {
		if l != "" {
			out[l] = true
		}
	}
	return out
}

// A Service that grows past maxCascade endpoints moves from a cascade to a numgen map,
// and back when it shrinks, incrementally.
func TestCascadeToMapAndBack(t *testing.T) {
	cascadeToMapAndBack(t, nil)
}

func TestCascadeToMapAndBackInTheKernel(t *testing.T) {
	cascadeToMapAndBack(t, realTable(t))
}

func cascadeToMapAndBack(t *testing.T, real *kernelTables) {
	c := newCluster()
	svc := service("web", affinity(30))
	endpoints := func(n int) {
		var list []ep
		for i := range n {
			list = append(list, ep{ip: fmt.Sprintf("10.42.0.%d", i+2), node: "node-a"})
		}
		c.add(svc, slice(svc, "web-1", 8080, list...))
	}
	endpoints(maxCascade)
	tb := newTableWith(t, c, real)
	tb.checkConsistent("start")
	for _, n := range []int{maxCascade + 1, maxCascade + 3, maxCascade, 1, maxCascade + 1} {
		endpoints(n)
		tx := tb.sync("default/web")
		if maps, want := strings.Count(tx.String(), " vmap { "), min(1, n/(maxCascade+1)); maps != want {
			t.Errorf("%d endpoints: %d numgen maps written", n, maps)
		}
		tb.gc()
		tb.checkConsistent(fmt.Sprintf("%d endpoints", n))
	}
}
