package proxy

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/proxy/nftlink"
)

// table is a fake table driven by a tableState, as Proxy.sync drives them; with real,
// every transaction also runs against a real nftables table.
type table struct {
	// classTxs counts the transactions that created class maps (nft writes them).
	classTxs int
	t        *testing.T
	nft      *knftables.Fake
	real     *kernelTables
	state    *tableState
	c        *cluster
	now      time.Time
}

func newTable(t *testing.T, c *cluster) *table {
	return newTableWith(t, c, nil)
}

func newTableWith(t *testing.T, c *cluster, real *kernelTables) *table {
	tb := &table{t: t, nft: newFake(), real: real, state: newTableState(testConfig), c: c, now: time.Unix(1000, 0)}
	plan := tb.state.planFull(tb.nft.NewTransaction, nil, c.list(), c.desired(testParams))
	for i, tx := range plan.txs {
		tb.run(tx, fmt.Sprintf("full sync, transaction %d", i+1))
	}
	plan.commit()
	return tb
}

func (tb *table) run(tx *knftables.Transaction, what string) {
	tb.t.Helper()
	if err := tb.nft.Run(context.Background(), tx); err != nil {
		tb.t.Fatalf("%s: %v\n%s", what, err, tx)
	}
	if strings.Contains(tx.String(), "add map ") {
		tb.classTxs++
	}
	if tb.real != nil {
		if err := tb.real.Run(context.Background(), tx); err != nil {
			tb.t.Fatalf("%s in the kernel: %v\n%s", what, err, tx)
		}
	}
}

// sync applies the changes of keys incrementally and returns the transaction.
func (tb *table) sync(keys ...string) *knftables.Transaction {
	tb.t.Helper()
	tx := tb.nft.NewTransaction()
	plan := tb.state.planIncremental(tx, keys, tb.c.desired(testParams), tb.now)
	if tx.NumOperations() > 0 {
		tb.run(tx, fmt.Sprintf("incremental sync of %v", keys))
	}
	plan.commit()
	return tx
}

// gc lets the stale-chain delay pass and deletes stale chains.
func (tb *table) gc() *knftables.Transaction {
	tb.now = tb.now.Add(2 * staleChainDelay)
	return tb.sync(gcKey)
}

var refRE = regexp.MustCompile(`(?:goto|jump) ([^ ,}]+)`)

// checkConsistent asserts the table equals a fresh full sync of the same cluster, and
// that every referenced chain exists.
func (tb *table) checkConsistent(step string) {
	tb.t.Helper()
	got := sortedLines(tb.nft.Dump())
	want := sortedLines(fullDump(tb.t, tb.c, testParams))
	if !slices.Equal(got, want) {
		tb.t.Fatalf("%s: incremental table differs from a full sync:\n%s", step, lineDiff(want, got))
	}
	tb.checkReferences(step)
	if tb.real != nil {
		tb.checkReal(step)
	}
}

// checkReferences asserts that every chain a rule or element refers to exists.
func (tb *table) checkReferences(step string) {
	tb.t.Helper()
	got := sortedLines(tb.nft.Dump())
	chains := map[string]bool{}
	for _, l := range got {
		if f := strings.Fields(l); len(f) >= 5 && f[1] == "chain" {
			chains[f[4]] = true
		}
	}
	for _, l := range got {
		for _, m := range refRE.FindAllStringSubmatch(l, -1) {
			if !chains[m[1]] {
				tb.t.Fatalf("%s: %q refers to missing chain %s", step, l, m[1])
			}
		}
	}
}

// checkReal compares the kernel's chains, sets and map elements with the fake's, table
// by table.
func (tb *table) checkReal(step string) {
	tb.t.Helper()
	ctx := context.Background()
	for _, name := range []string{TableName} {
		real := tb.real.table(tb.t, name)
		fake := tb.nft.Tables[knftables.IPv4Family][name]
		if fake == nil {
			tb.t.Fatalf("%s: no table %s in the fake", step, name)
		}
		for kind, want := range map[string][]string{
			"chain": slices.Sorted(maps.Keys(fake.Chains)), "set": slices.Sorted(maps.Keys(fake.Sets)), "map": slices.Sorted(maps.Keys(fake.Maps)),
		} {
			got, err := real.List(ctx, kind)
			if err != nil {
				tb.t.Fatalf("%s: list %ss of %s: %v", step, kind, name, err)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				tb.t.Fatalf("%s: kernel %ss of %s differ:\n%s", step, kind, name, lineDiff(want, got))
			}
		}
		render := func(els []*knftables.Element) []string {
			var out []string
			for _, e := range els {
				out = append(out, strings.Join(e.Key, " . ")+" : "+strings.Join(e.Value, " "))
			}
			slices.Sort(out)
			return out
		}
		compare := func(kind, m string, want []*knftables.Element) {
			els, err := real.ListElements(ctx, kind, m)
			if err != nil {
				tb.t.Fatalf("%s: list %s of %s: %v", step, m, name, err)
			}
			if got, want := render(els), render(want); !slices.Equal(got, want) {
				tb.t.Fatalf("%s: kernel %s %s of %s differs:\n%s", step, kind, m, name, lineDiff(want, got))
			}
		}
		for m, fm := range fake.Maps {
			compare("map", m, fm.Elements)
		}
		for s, fs := range fake.Sets {
			if !strings.HasPrefix(s, affinitySetPrefix) { // packets fill those
				compare("set", s, fs.Elements)
			}
		}
	}
}

func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	slices.Sort(lines)
	return lines
}

func lineDiff(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}

func threeServices() *cluster {
	c := newCluster()
	for i, name := range []string{"api", "db", "web"} {
		svc := service(name, clusterIP(fmt.Sprintf("10.43.0.%d", 10+i)))
		c.add(svc, slice(svc, name+"-1", 8080, ep{ip: fmt.Sprintf("10.42.%d.5", i)}, ep{ip: fmt.Sprintf("10.42.%d.6", i)}))
	}
	return c
}

// A change to one Service writes only that Service's elements (and a class map and
// chain for a number of endpoints no Service had): counted operation by operation.
func TestIncrementalTouchesOnlyTheChangedService(t *testing.T) {
	c := threeServices()
	tb := newTable(t, c)
	api := c.services["default/api"]

	onlyAPI := func(tx *knftables.Transaction) {
		t.Helper()
		if tx.NumOperations() == 0 {
			return
		}
		for _, l := range strings.Split(strings.TrimSpace(tx.String()), "\n") {
			f := strings.Fields(l)
			if len(f) < 5 || f[3] != TableName {
				t.Errorf("transaction writes to another table: %q", l)
				continue
			}
			_, _, size := parseSizeName(f[4])
			if !strings.Contains(l, "{ 10.43.0.10 . ") && f[4] != hairpinSet && !size && !slices.Contains(classes, f[4]) {
				t.Errorf("transaction touches something not api's: %q", l)
			}
		}
	}
	steps := []struct {
		name   string
		change func()
		// ops: an element per endpoint, a hairpin element per endpoint added or
		// removed; a new class map (map, chain, rule) with its class chain rewritten
		// (add, flush, a jump per map).
		ops int
	}{
		{"add an endpoint", func() {
			c.slices["default/api"] = []*discoveryv1.EndpointSlice{slice(api, "api-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.6"}, ep{ip: "10.42.0.7"})}
		}, 3 + 4 + 2 + 3 + 1},
		{"remove an endpoint", func() {
			c.slices["default/api"] = []*discoveryv1.EndpointSlice{slice(api, "api-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.7"})}
		}, 3 + 2 + 1},
		{"no change", func() {}, 0},
		{"endpoint becomes terminating (it is dropped)", func() {
			c.slices["default/api"] = []*discoveryv1.EndpointSlice{slice(api, "api-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.7", terminating: true})}
		}, 3 + 4 + 2 + 1 + 1},
		{"no endpoints left: reject", func() {
			c.slices["default/api"] = nil
		}, 1 /* endpoint */ + 1 /* masquerade-outside */ + 1 /* reject element */ + 1 /* hairpin */},
		{"service deleted", func() {
			delete(c.services, "default/api")
		}, 1},
	}
	for _, step := range steps {
		step.change()
		tx := tb.sync("default/api")
		onlyAPI(tx)
		if got := tx.NumOperations(); got != step.ops {
			t.Errorf("%s: %d operations, want %d:\n%s", step.name, got, step.ops, tx)
		}
		tb.gc()
		tb.checkConsistent(step.name)
	}
}

// A class map no Service uses any more is deleted with its chain after
// staleChainDelay, unless a Service needs it again before.
func TestUnusedClassMapsDeletedLater(t *testing.T) {
	c := threeServices()
	tb := newTable(t, c)
	api := c.services["default/api"]
	three := slice(api, "api-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.6"}, ep{ip: "10.42.0.7"})
	c.slices["default/api"] = []*discoveryv1.EndpointSlice{three}
	if tx := tb.sync("default/api"); !strings.Contains(tx.String(), "add map ip berth-proxy svc-ip-3 ") {
		t.Fatalf("no map for 3 endpoints:\n%s", tx)
	}
	c.slices["default/api"] = []*discoveryv1.EndpointSlice{slice(api, "api-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.6"})}
	tb.sync("default/api")
	if wait, ok := tb.state.nextGC(tb.now); !ok || wait != staleChainDelay {
		t.Fatalf("nextGC = %v, %v; want %v", wait, ok, staleChainDelay)
	}
	// Needed again in time: kept.
	tb.now = tb.now.Add(staleChainDelay / 2)
	c.slices["default/api"] = []*discoveryv1.EndpointSlice{three}
	if tx := tb.sync("default/api"); strings.Contains(tx.String(), "map ") || strings.Contains(tx.String(), "chain") {
		t.Fatalf("map for 3 endpoints written again:\n%s", tx)
	}
	tb.now = tb.now.Add(staleChainDelay)
	if tx := tb.sync(gcKey); tx.NumOperations() != 0 {
		t.Fatalf("gc of a map in use:\n%s", tx)
	}
	c.slices["default/api"] = []*discoveryv1.EndpointSlice{slice(api, "api-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.6"})}
	tb.sync("default/api")
	tx := tb.gc()
	if s := tx.String(); !strings.Contains(s, "delete map ip berth-proxy svc-ip-3") || !strings.Contains(s, "delete chain ip berth-proxy svc-ip-3") ||
		strings.Contains(s, "jump svc-ip-3") {
		t.Fatalf("gc transaction:\n%s", s)
	}
	if _, ok := tb.state.nextGC(tb.now); ok {
		t.Fatal("unused maps left after gc")
	}
	tb.checkConsistent("after gc")
}

// Stale chains are flushed at once but deleted only after staleChainDelay (kernels
// before 6.2 free map-element references to a chain lazily).
func TestStaleChainsDeletedLater(t *testing.T) {
	c := threeServices()
	// With affinity, api has a chain per endpoint.
	api := service("api", clusterIP("10.43.0.10"), affinity(60))
	c.add(api, slice(api, "api-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.6"}))
	tb := newTable(t, c)
	c.slices["default/api"] = []*discoveryv1.EndpointSlice{slice(api, "api-1", 8080, ep{ip: "10.42.0.5"})}
	tb.sync("default/api")
	if wait, ok := tb.state.nextGC(tb.now); !ok || wait != staleChainDelay {
		t.Fatalf("nextGC = %v, %v; want %v", wait, ok, staleChainDelay)
	}
	if tx := tb.sync(gcKey); tx.NumOperations() != 0 {
		t.Fatalf("deleted a stale chain too early:\n%s", tx)
	}
	tx := tb.gc()
	if s := tx.String(); tx.NumOperations() != 1 || !strings.Contains(s, "delete chain") || !strings.Contains(s, "10.42.0.6") {
		t.Fatalf("gc transaction:\n%s", s)
	}
	if _, ok := tb.state.nextGC(tb.now); ok {
		t.Fatal("stale chains left after gc")
	}
	tb.checkConsistent("after gc")
}

// Two Services claiming one external IP and port: the first keeps it, the second gets
// it when the first lets go.
func TestConflictingElements(t *testing.T) {
	c := newCluster()
	shared := func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"192.0.2.10"} }
	a := service("a", clusterIP("10.43.0.10"), shared)
	b := service("b", clusterIP("10.43.0.11"), shared)
	c.add(a, slice(a, "a-1", 8080, ep{ip: "10.42.0.5"}))
	c.add(b, slice(b, "b-1", 8080, ep{ip: "10.42.0.6"}))
	tb := newTable(t, c)
	if owner := tb.state.owners["192.0.2.10 . tcp . 80"]; owner != "default/a" {
		t.Fatalf("owner = %q, want default/a", owner)
	}
	delete(c.services, "default/a")
	tx := tb.nft.NewTransaction()
	plan := tb.state.planIncremental(tx, []string{"default/a"}, c.desired(testParams), tb.now)
	if err := tb.nft.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plan.requeue, []string{"default/b"}) {
		t.Fatalf("requeue = %v, want [default/b]", plan.requeue)
	}
	tb.sync("default/b")
	if owner := tb.state.owners["192.0.2.10 . tcp . 80"]; owner != "default/b" {
		t.Fatalf("owner = %q, want default/b", owner)
	}
	tb.gc()
	tb.checkConsistent("after the owner left")
}

// Whatever sequence of changes arrives, the incrementally updated table equals a table
// written from scratch.
func TestIncrementalEqualsFull(t *testing.T) {
	randomChanges(t, nil, 200)
}

// The same against the kernel: every transaction must be accepted, and the kernel's
// table must hold what the fake holds.
func TestIncrementalInTheKernel(t *testing.T) {
	randomChanges(t, realTable(t), 100)
}

func randomChanges(t *testing.T, real *kernelTables, steps int) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newCluster()
	names := []string{"a", "b", "c", "d", "e"}
	type shape struct {
		nodePort, affinity, iLocal, eLocal, udp, deleted bool
		timeout                                          int32
		eps                                              []ep
	}
	shapes := map[string]*shape{}
	for _, n := range names {
		shapes[n] = &shape{timeout: 60}
	}
	render := func(i int, n string) {
		s := shapes[n]
		key := "default/" + n
		if s.deleted {
			delete(c.services, key)
			delete(c.slices, key)
			return
		}
		var o []func(*corev1.Service)
		o = append(o, clusterIP(fmt.Sprintf("10.43.1.%d", i+1)))
		if s.udp {
			o = append(o, func(sv *corev1.Service) { sv.Spec.Ports[0].Protocol = corev1.ProtocolUDP })
		}
		if s.nodePort {
			o = append(o, nodePort(int32(30000+i)))
			if s.eLocal {
				o = append(o, externalLocal)
			}
		}
		if s.iLocal {
			o = append(o, internalLocal)
		}
		if s.affinity {
			o = append(o, affinity(s.timeout))
		}
		svc := service(n, o...)
		var eps []*discoveryv1.EndpointSlice
		if len(s.eps) > 0 {
			// Two slices, as the controller makes past 100 endpoints.
			half := len(s.eps) / 2
			eps = append(eps, slice(svc, n+"-1", 8080, s.eps[:half]...), slice(svc, n+"-2", 8080, s.eps[half:]...))
		}
		c.add(svc, eps...)
	}
	for i, n := range names {
		render(i, n)
	}
	tb := newTableWith(t, c, real)
	tb.checkConsistent("start")
	for step := range steps {
		i := rng.IntN(len(names))
		n := names[i]
		s := shapes[n]
		var what string
		switch rng.IntN(9) {
		case 0, 1, 2:
			what = "add endpoint"
			s.eps = append(s.eps, ep{ip: fmt.Sprintf("10.42.%d.%d", rng.IntN(2), 2+rng.IntN(30)),
				node: []string{"node-a", "node-b"}[rng.IntN(2)], terminating: rng.IntN(4) == 0, notServing: rng.IntN(6) == 0})
		case 3, 4:
			what = "remove endpoint"
			if len(s.eps) > 0 {
				j := rng.IntN(len(s.eps))
				s.eps = append(s.eps[:j], s.eps[j+1:]...)
			}
		case 5:
			what = "toggle NodePort / external Local"
			s.nodePort, s.eLocal = rng.IntN(2) == 0, rng.IntN(2) == 0
		case 6:
			what = "toggle affinity / timeout"
			s.affinity, s.timeout = rng.IntN(2) == 0, int32(30+rng.IntN(3)*30)
		case 7:
			what = "toggle internal Local / protocol"
			s.iLocal, s.udp = rng.IntN(2) == 0, rng.IntN(5) == 0
		case 8:
			what = "delete / recreate"
			s.deleted = !s.deleted
		}
		render(i, n)
		tb.sync("default/" + n)
		// Compare only now and then, so that chains also come back while stale.
		if rng.IntN(3) != 0 {
			tb.now = tb.now.Add(100 * time.Millisecond)
			continue
		}
		tb.gc()
		tb.checkConsistent(fmt.Sprintf("step %d (%s %s)", step, what, n))
	}
	tb.gc()
	tb.checkConsistent("end")
	// Only the full sync and the transactions that create class maps need nft; every
	// other one went over netlink.
	if real == nil {
		return
	}
	if nl, ok := real.Interface.(*nftlink.Table); ok {
		if st := nl.Stats(); st.Exec != tb.classTxs || st.Netlink == 0 {
			t.Fatalf("transactions: %+v, want %d through nft (the full sync, and those that created class maps) and the rest over netlink", st, tb.classTxs)
		}
	}
}
