package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/knftables"
)

// Config is one node's service proxy.
type Config struct {
	// NodeName decides which endpoints are local (for the Local traffic policies).
	NodeName string
	// NodeIPs are the addresses NodePorts answer on (IPv4 ones are used); empty: every
	// local address except loopback.
	NodeIPs []string
	// ClusterCIDR is the pod network of the whole cluster (e.g. 10.42.0.0/16). Traffic
	// to a ClusterIP from outside it is masqueraded, and pods are not "external" clients
	// for externalTrafficPolicy: Local. Empty: neither.
	ClusterCIDR string
	// Informers is a shared factory to take the Service and EndpointSlice informers from
	// (Run starts it; starting is idempotent). Nil: the proxy makes its own from Client.
	Informers informers.SharedInformerFactory
	Client    kubernetes.Interface
	// NFT writes the proxy's table (family ip, TableName): an Interface with no
	// default table, as NewNFTables returns, or knftables.NewFake("", "") in tests.
	// Nil: NewNFTables(""). If it is an io.Closer, Run closes it when it returns; if it
	// can list the namespace's tables (a TableLister), the proxy also removes the
	// shard tables older versions wrote.
	NFT knftables.Interface
	// LocalServiceIPs are ClusterIPs the node answers itself (the cluster DNS, served
	// by the agent on a local address): Services with them get no rules at all.
	LocalServiceIPs []string
	// KeepRules leaves the table in place when Run returns (for an agent that stops
	// with its pods left running, for the next agent to adopt).
	KeepRules bool
	// MinSyncPeriod is the least time between two syncs, so that a burst of changes
	// coalesces into one transaction (default 100 ms).
	MinSyncPeriod time.Duration
	// OnSync, if set, is told about every sync that wrote to the table (or failed),
	// from the proxy's goroutine.
	OnSync func(SyncResult)
	Log    *slog.Logger
}

// SyncResult is what one sync did.
type SyncResult struct {
	// Full says the whole table was rebuilt (at start, or after a failed sync).
	Full bool
	// Services is how many Services were looked at, Changed how many of them got new
	// rules, Chains how many chains were written.
	Services, Changed, Chains int
	// Operations is the size of the nftables transactions, Transactions how many ran
	// (a rebuild writes the table in a few, see planFull).
	Operations, Transactions int
	// Duration covers computing the rules and running the transactions.
	Duration time.Duration
	Err      error
}

// Proxy keeps the node's nftables service rules in step with the API.
type Proxy struct {
	cfg         Config
	log         *slog.Logger
	params      ruleParams
	nodeIPs     []string
	ownFactory  bool
	factory     informers.SharedInformerFactory
	services    corelisters.ServiceLister
	slices      cache.Indexer
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	ready       chan struct{}
	minSyncWait time.Duration

	// Owned by Run's goroutine.
	state *tableState
}

// TableLister lists the names of the tables of the ip family (nftlink.Table does).
type TableLister interface {
	Tables(ctx context.Context) ([]string, error)
}

// gcKey asks for a sync that deletes chains gone stale (it is no namespace/name).
const gcKey = ""

// staleChainDelay is how long a chain no longer used waits before it is deleted.
const staleChainDelay = time.Second

const slicesByService = "proxy.berth.dev/byService"

// New checks cfg and registers the informers; Run does the work.
func New(cfg Config) (*Proxy, error) {
	if cfg.Informers == nil && cfg.Client == nil {
		return nil, errors.New("proxy: neither Informers nor Client given")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.MinSyncPeriod <= 0 {
		cfg.MinSyncPeriod = 100 * time.Millisecond
	}
	p := &Proxy{
		cfg: cfg, log: cfg.Log.With("component", "proxy"), ready: make(chan struct{}),
		params:      ruleParams{nodeName: cfg.NodeName},
		minSyncWait: cfg.MinSyncPeriod,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "proxy"}),
	}
	if cfg.ClusterCIDR != "" {
		prefix, err := netip.ParsePrefix(cfg.ClusterCIDR)
		if err != nil || !prefix.Addr().Is4() {
			return nil, fmt.Errorf("proxy: cluster CIDR %q is not an IPv4 CIDR", cfg.ClusterCIDR)
		}
		p.params.clusterCIDR = prefix.Masked().String()
	}
	for _, ip := range cfg.NodeIPs {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return nil, fmt.Errorf("proxy: node IP %q: %w", ip, err)
		}
		if addr.Is4() && !addr.IsLoopback() {
			p.nodeIPs = append(p.nodeIPs, addr.String())
		}
	}
	p.state = newTableState(tableConfig{nodeIPs: p.nodeIPs, clusterCIDR: p.params.clusterCIDR})
	if p.cfg.NFT == nil {
		nft, err := NewNFTables("")
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		p.cfg.NFT = nft
	}
	p.factory = cfg.Informers
	if p.factory == nil {
		p.factory, p.ownFactory = informers.NewSharedInformerFactory(cfg.Client, 0), true
	}
	svcInf := p.factory.Core().V1().Services()
	sliceInf := p.factory.Discovery().V1().EndpointSlices()
	if err := sliceInf.Informer().AddIndexers(cache.Indexers{slicesByService: sliceServiceKeys}); err != nil {
		return nil, fmt.Errorf("proxy: endpointslice indexer: %w", err)
	}
	if _, err := svcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: p.enqueueService,
		UpdateFunc: func(old, obj any) {
			if o, n := old.(*corev1.Service), obj.(*corev1.Service); o.ResourceVersion != n.ResourceVersion {
				p.enqueueService(obj)
			}
		},
		DeleteFunc: p.enqueueService,
	}); err != nil {
		return nil, err
	}
	if _, err := sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    p.enqueueSlice,
		UpdateFunc: func(_, obj any) { p.enqueueSlice(obj) },
		DeleteFunc: p.enqueueSlice,
	}); err != nil {
		return nil, err
	}
	p.services = svcInf.Lister()
	p.slices = sliceInf.Informer().GetIndexer()
	p.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced}
	return p, nil
}

// Ready is closed once the first full sync has written the table.
func (p *Proxy) Ready() <-chan struct{} { return p.ready }

// Run writes the table from scratch once the informers have synced, then applies
// changes as they come until ctx ends; then it deletes the table.
func (p *Proxy) Run(ctx context.Context) (err error) {
	stop := context.AfterFunc(ctx, p.queue.ShutDown)
	defer stop()
	defer p.queue.ShutDown()
	p.factory.Start(ctx.Done())
	if p.ownFactory {
		defer p.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), p.synced...) {
		return nil
	}
	defer func() {
		if !p.cfg.KeepRules {
			err = errors.Join(err, p.deleteTables())
		}
		// NewNFTables' table keeps a netlink socket open between syncs.
		if c, ok := p.cfg.NFT.(io.Closer); ok {
			err = errors.Join(err, c.Close())
		}
	}()

	// The informers queued every Service while they listed them; the full sync reads
	// the listers after this, so those keys would only make the first incremental
	// sync recompute every Service.
	p.drainQueue()
	backoff := 100 * time.Millisecond
	for {
		res := p.sync(ctx, nil, true)
		if res.Err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		p.log.Error("full sync failed, retrying", "err", res.Err, "after", backoff)
		if !p.wait(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	close(p.ready)

	for {
		keys, quit := p.nextBatch()
		if quit || ctx.Err() != nil {
			return nil
		}
		started := time.Now()
		res := p.sync(ctx, keys, p.state.broken)
		for _, key := range keys {
			// After a failure every key comes back (gcKey too, so that even a failed
			// gc-only sync leads to the rebuild).
			if res.Err != nil {
				p.queue.AddRateLimited(key)
			} else {
				p.queue.Forget(key)
			}
			p.queue.Done(key)
		}
		if res.Err != nil && ctx.Err() == nil {
			p.log.Error("sync failed; the table is rebuilt at the next sync", "err", res.Err, "services", len(keys))
		}
		if !p.wait(ctx, p.minSyncWait-time.Since(started)) {
			return nil
		}
	}
}

// drainQueue forgets every key queued so far (a full sync follows).
func (p *Proxy) drainQueue() {
	for p.queue.Len() > 0 {
		key, quit := p.queue.Get()
		if quit {
			return
		}
		p.queue.Forget(key)
		p.queue.Done(key)
	}
}

// nextBatch waits for a key, then takes every other key already queued.
func (p *Proxy) nextBatch() ([]string, bool) {
	key, quit := p.queue.Get()
	if quit {
		return nil, true
	}
	keys := []string{key}
	for p.queue.Len() > 0 {
		key, quit := p.queue.Get()
		if quit {
			break
		}
		keys = append(keys, key)
	}
	return keys, false
}

func (p *Proxy) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sync brings the table in line with the informers' view of keys (every Service when
// full): in one transaction, or for a rebuild in a few (see planFull).
func (p *Proxy) sync(ctx context.Context, keys []string, full bool) SyncResult {
	started := time.Now()
	res := SyncResult{Full: full}
	var plan *syncPlan
	if full {
		svcs, err := p.services.List(everything)
		if err != nil {
			res.Err = err
			return p.report(res, started)
		}
		plan = p.state.planFull(p.cfg.NFT.NewTransaction, p.leftoverTables(ctx), svcs, p.desired)
	} else {
		plan = p.state.planIncremental(p.cfg.NFT.NewTransaction(), keys, p.desired, started)
	}
	res.Services, res.Changed, res.Chains = plan.services, plan.changed, plan.chains
	for _, c := range plan.conflicts {
		p.log.Warn("two services claim one address and port; the first keeps it", "conflict", c)
	}
	for _, tx := range plan.txs {
		res.Operations += tx.NumOperations()
	}
	if res.Operations == 0 {
		plan.commit()
		return res // nothing to write: not worth a report
	}
	for i, tx := range plan.txs {
		if tx.NumOperations() == 0 {
			continue
		}
		if err := p.cfg.NFT.Run(ctx, tx); err != nil {
			// A rebuild's transactions already run stay in the table; the next sync
			// rebuilds it again.
			p.state.broken = true
			res.Err = fmt.Errorf("nftables transaction %d of %d (%d operations): %w", i+1, len(plan.txs), tx.NumOperations(), err)
			return p.report(res, started)
		}
		res.Transactions++
	}
	plan.commit()
	for _, key := range plan.requeue {
		p.queue.Add(key)
	}
	if wait, ok := p.state.nextGC(time.Now()); ok {
		p.queue.AddAfter(gcKey, wait)
	}
	return p.report(res, started)
}

func (p *Proxy) report(res SyncResult, started time.Time) SyncResult {
	res.Duration = time.Since(started)
	p.log.Debug("synced", "full", res.Full, "services", res.Services, "changed", res.Changed,
		"chains", res.Chains, "operations", res.Operations, "transactions", res.Transactions, "took", res.Duration, "err", res.Err)
	if p.cfg.OnSync != nil {
		p.cfg.OnSync(res)
	}
	return res
}

// desired computes the rules of the Service at key from the informers' caches.
func (p *Proxy) desired(key string) *serviceRules {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := p.services.Services(ns).Get(name)
	if err != nil || slices.Contains(p.cfg.LocalServiceIPs, svc.Spec.ClusterIP) {
		svc = nil // deleted (or never there), or answered locally: no rules
	}
	objs, _ := p.slices.ByIndex(slicesByService, key)
	eps := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, obj := range objs {
		if s, ok := obj.(*discoveryv1.EndpointSlice); ok {
			eps = append(eps, s)
		}
	}
	return desiredRules(svc, eps, p.params)
}

// deleteTables removes every rule of the proxy (after Run's context ended): its
// table, and any table of an older version.
func (p *Proxy) deleteTables() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	names := append([]string{TableName}, p.leftoverTables(ctx)...)
	tx := p.cfg.NFT.NewTransaction()
	deleteTables(tx, names)
	if err := p.cfg.NFT.Run(ctx, tx); err != nil {
		return fmt.Errorf("proxy: delete tables %s…: %w", TableName, err)
	}
	p.log.Info("service rules removed", "tables", len(names))
	return nil
}

// leftoverTables lists the tables of older versions of the proxy in the namespace (the
// shard tables), if NFT can list tables. A failure to list only leaves them in place.
func (p *Proxy) leftoverTables(ctx context.Context) []string {
	lister, ok := p.cfg.NFT.(TableLister)
	if !ok {
		return nil
	}
	names, err := lister.Tables(ctx)
	if err != nil {
		p.log.Warn("cannot list nftables tables; tables of an earlier run may be left", "err", err)
		return nil
	}
	var out []string
	for _, name := range names {
		if IsProxyTable(name) && name != TableName {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (p *Proxy) enqueueService(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		p.queue.Add(key)
	}
}

func (p *Proxy) enqueueSlice(obj any) {
	keys, _ := sliceServiceKeys(obj)
	for _, key := range keys {
		p.queue.Add(key)
	}
}

// sliceServiceKeys is the namespace/name of the Service a slice belongs to.
func sliceServiceKeys(obj any) ([]string, error) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}
