package proxy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/knftables"
)

type running struct {
	proxy   *Proxy
	nft     *recordingNFT
	client  *fake.Clientset
	results chan SyncResult
	cancel  context.CancelFunc
	done    chan error
}

func startProxy(t *testing.T, nft *recordingNFT, objects ...any) *running {
	t.Helper()
	// NewSimpleClientset, not NewClientset: the latter builds a managed-fields type
	// converter from the whole OpenAPI schema, seconds under -race, for nothing here.
	client := fake.NewSimpleClientset() //nolint:staticcheck
	ctx := context.Background()
	var setups []func(*Proxy)
	for _, obj := range objects {
		var err error
		switch o := obj.(type) {
		case func(*Proxy): // changes the proxy before it runs
			setups = append(setups, o)
		case *discoveryv1.EndpointSlice:
			_, err = client.DiscoveryV1().EndpointSlices(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Service:
			_, err = client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected object %T", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r := &running{nft: nft, client: client, results: make(chan SyncResult, 100), done: make(chan error, 1)}
	p, err := New(Config{
		NodeName: testParams.nodeName, NodeIPs: testNodeIPs, ClusterCIDR: testParams.clusterCIDR,
		Client: client, NFT: nft, MinSyncPeriod: 10 * time.Millisecond,
		OnSync: func(res SyncResult) { r.results <- res },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, setup := range setups {
		setup(p)
	}
	r.proxy = p
	runCtx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- p.Run(runCtx) }()
	t.Cleanup(func() { r.stop(t) })
	waitFor(t, p.Ready(), "first sync")
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := waitFor(t, r.done, "Run to return"); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// next returns the next sync result that matches.
func (r *running) next(t *testing.T, what string, match func(SyncResult) bool) SyncResult {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case res := <-r.results:
			if match(res) {
				return res
			}
		case <-deadline:
			t.Fatalf("timed out waiting for a sync: %s", what)
		}
	}
}

// The proxy writes its tables from scratch at start, applies an endpoint change to the
// one Service it concerns, rebuilds after a failed transaction, and deletes the tables
// when it stops.
func TestRunIncrementalAndCleanup(t *testing.T) {
	webSvc := service("web", clusterIP("10.43.0.10"))
	apiSvc := service("api", clusterIP("10.43.0.11"))
	nft := newRecordingNFT()
	// Tables left by an earlier run (killed, say) of an older version with shard
	// tables, and one that is not the proxy's: the first sync replaces the proxy's,
	// deletes the shards and leaves the other alone.
	tx := nft.NewTransaction()
	for _, table := range []string{TableName, TableName + "-1", TableName + "-35", "berth-proxy-other"} {
		tx.Add(tableObj(table))
		tx.Add(&knftables.Chain{Family: knftables.IPv4Family, Table: table, Name: "endpoint-leftover"})
	}
	if err := nft.Fake.Run(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	r := startProxy(t, nft, webSvc, apiSvc,
		slice(webSvc, "web-1", 8080, ep{ip: "10.42.0.5"}),
		slice(apiSvc, "api-1", 8080, ep{ip: "10.42.0.9"}))

	first := r.next(t, "the full sync", func(res SyncResult) bool { return res.Full })
	if first.Err != nil || first.Services != 2 || first.Changed != 2 {
		t.Fatalf("first sync = %+v", first)
	}
	dump := strings.ReplaceAll(nft.Dump(), "ip berth-proxy-other endpoint-leftover", "")
	if strings.Contains(dump, "leftover") || strings.Contains(dump, TableName+"-35") ||
		!strings.Contains(dump, "add element ip berth-proxy svc-ip-1 { 10.43.0.10 . tcp . 80 . 0 : 10.42.0.5 . 8080 }") {
		t.Fatalf("tables after the first sync:\n%s", dump)
	}
	want := []string{TableName, "berth-proxy-other"}
	if got, _ := nft.Tables(context.Background()); !slices.Equal(got, want) {
		t.Fatalf("tables after the first sync: %q, want %q", got, want)
	}
	drain(nft.txs)

	// One more endpoint for web: only web's elements are written, and the map and
	// chain for two endpoints, which no Service needed so far.
	updated := slice(webSvc, "web-1", 8080, ep{ip: "10.42.0.5"}, ep{ip: "10.42.0.6"})
	if _, err := r.client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), updated, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := r.next(t, "web's endpoint change", func(res SyncResult) bool { return res.Changed > 0 })
	// svc-ip-2 (map, chain, rule), the class chain svc-ip (add, flush, 2 jumps), web's
	// elements (1 deleted, 2 added) and a hairpin element.
	// Only web was looked at.
	if res.Full || res.Err != nil || res.Services != 1 || res.Changed != 1 || res.Chains != 0 || res.Operations != 3+4+3+1 {
		t.Fatalf("incremental sync = %+v", res)
	}
	written := waitFor(t, nft.txs, "the transaction")
	if strings.Contains(written, "10.43.0.11") || !strings.Contains(written, "add element ip berth-proxy svc-ip-2 { 10.43.0.10 . tcp . 80 . 1 : 10.42.0.6 . 8080 }") {
		t.Fatalf("web's update:\n%s", written)
	}

	// A failed transaction: the next sync rebuilds everything.
	nft.failNext <- struct{}{}
	if err := r.client.DiscoveryV1().EndpointSlices("default").Delete(context.Background(), "api-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res := r.next(t, "a failed sync", func(res SyncResult) bool { return res.Err != nil }); res.Full {
		t.Fatalf("failed sync = %+v", res)
	}
	if res := r.next(t, "the rebuild", func(res SyncResult) bool { return res.Full }); res.Err != nil || res.Services != 2 {
		t.Fatalf("rebuild = %+v", res)
	}
	if dump := nft.Dump(); !strings.Contains(dump, "add element ip berth-proxy reject-services { 10.43.0.11 . tcp . 80 }") {
		t.Fatalf("api has no endpoints but no reject:\n%s", dump)
	}

	r.stop(t)
	if got, _ := nft.Tables(context.Background()); !slices.Equal(got, []string{"berth-proxy-other"}) {
		t.Fatalf("tables left after stop: %q, want only the one that is not the proxy's\n%s", got, nft.Dump())
	}
}

func drain[T any](ch chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// A rebuild that fails part-way (its first transactions in the table, the rest not)
// leaves the state broken: the next sync rebuilds the whole table again.
func TestRebuildFailsPartWay(t *testing.T) {
	c := newCluster()
	var objects []any
	for i := range 6 {
		svc := service(fmt.Sprintf("svc-%d", i), clusterIP(fmt.Sprintf("10.43.0.%d", 10+i)))
		s := slice(svc, svc.Name+"-1", 8080, ep{ip: fmt.Sprintf("10.42.0.%d", 10+2*i)}, ep{ip: fmt.Sprintf("10.42.0.%d", 11+2*i)})
		c.add(svc, s)
		objects = append(objects, svc, s)
	}
	nft := newRecordingNFT()
	// The fixed table and two Services a transaction (5 operations each): 4
	// transactions, the third fails.
	nft.failRuns = map[int]bool{3: true}
	objects = append(objects, func(p *Proxy) { p.state.bounds = rebuildBounds{maps: rebuildMaxMaps, operations: 10} })
	r := startProxy(t, nft, objects...)

	failed := r.next(t, "the failed rebuild", func(res SyncResult) bool { return res.Full })
	if failed.Err == nil || failed.Transactions != 2 || !strings.Contains(failed.Err.Error(), "transaction 3 of 4") {
		t.Fatalf("first rebuild = %+v, want it to fail at its third transaction of 4", failed)
	}
	res := r.next(t, "the second rebuild", func(res SyncResult) bool { return res.Full })
	if res.Err != nil || res.Transactions != 4 || res.Services != 6 || res.Changed != 6 {
		t.Fatalf("second rebuild = %+v", res)
	}
	if got, want := sortedLines(nft.Dump()), sortedLines(fullDump(t, c, testParams)); !slices.Equal(got, want) {
		t.Fatalf("table after the rebuild differs from a full sync:\n%s", lineDiff(want, got))
	}
}
