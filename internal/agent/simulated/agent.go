package simulated

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

const podsByNodeIndex = "spec.nodeName"

// Agent is a running set of simulated nodes. It stops when the context given to Run
// ends; Done is closed once every goroutine has returned.
type Agent struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger
	names  []string       // node names by index
	index  map[string]int // node name → index
	bootID string

	nodes    corelisters.NodeLister
	pods     corelisters.PodLister
	podIndex cache.Indexer

	nodeQueue, podQueue, leaseQueue workqueue.TypedRateLimitingInterface[string]
	ips                             *podIPs
	deletions                       *deletionClock

	mu      sync.Mutex
	stopped map[string]bool
	uids    map[string]types.UID
	leases  map[string]*coordinationv1.Lease

	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
}

// Run registers the nodes and starts simulating them; it returns once every node is
// registered with its status and first Lease, or with the first registration error.
func Run(ctx context.Context, cfg Config) (*Agent, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	a, err := start(ctx, cfg)
	if err != nil {
		cancel()
		if a != nil {
			<-a.done
		}
		return nil, err
	}
	a.cancel = cancel
	return a, nil
}

// start builds the agent, starts its informers and goroutines and registers the nodes;
// on error the caller cancels ctx and waits for done (when the agent was built).
func start(ctx context.Context, cfg Config) (*Agent, error) {
	rc := rest.CopyConfig(cfg.RestConfig)
	if rc.QPS == 0 {
		// Thousands of nodes renew leases and report pods: the client must not throttle.
		rc.QPS, rc.Burst = 5000, 10000
	}
	if rc.UserAgent == "" {
		rc.UserAgent = "berth-simulated-agent"
	}
	if rc.ContentType == "" {
		// As a kubelet: protobuf is a fraction of JSON's cost on both sides.
		rc.ContentType = runtime.ContentTypeProtobuf
		rc.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("simulated: %w", err)
	}
	newQueue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
	}
	a := &Agent{
		cfg: cfg, client: client, log: cfg.Log, index: make(map[string]int, cfg.Nodes), bootID: string(uuid.NewUUID()),
		nodeQueue: newQueue("sim-nodes"), podQueue: newQueue("sim-pods"), leaseQueue: newQueue("sim-leases"),
		ips: newPodIPs(), deletions: &deletionClock{seen: map[string]deletionSeen{}}, stopped: map[string]bool{}, uids: map[string]types.UID{}, leases: map[string]*coordinationv1.Lease{},
		done: make(chan struct{}),
	}
	for i := range cfg.Nodes {
		name := cfg.nodeName(i)
		a.names = append(a.names, name)
		a.index[name] = i
	}

	// One pod informer for every bound pod (the agent picks its own by node name) and
	// one node informer; managed fields are dropped to keep thousands of objects small.
	podFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "spec.nodeName!="
	}))
	nodeFactory := informers.NewSharedInformerFactory(client, 0)
	podInformer := podFactory.Core().V1().Pods().Informer()
	nodeInformer := nodeFactory.Core().V1().Nodes().Informer()
	for _, inf := range []cache.SharedIndexInformer{podInformer, nodeInformer} {
		if err := inf.SetTransform(stripManagedFields); err != nil {
			return nil, fmt.Errorf("simulated: %w", err)
		}
	}
	if err := podInformer.AddIndexers(cache.Indexers{podsByNodeIndex: podNodeName}); err != nil {
		return nil, err
	}
	a.pods, a.podIndex = podFactory.Core().V1().Pods().Lister(), podInformer.GetIndexer()
	a.nodes = nodeFactory.Core().V1().Nodes().Lister()
	podHandler, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    a.podSeen,
		UpdateFunc: func(_, obj any) { a.podSeen(obj) },
		DeleteFunc: a.podGone,
	})
	if err != nil {
		return nil, err
	}
	nodeHandler, err := nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.nodeSeen(nil, obj.(*corev1.Node)) },
		UpdateFunc: func(old, obj any) { a.nodeSeen(old.(*corev1.Node), obj.(*corev1.Node)) },
		DeleteFunc: a.nodeGone,
	})
	if err != nil {
		return nil, err
	}

	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		<-ctx.Done()
		a.stopAll()
		a.nodeQueue.ShutDown()
		a.podQueue.ShutDown()
		a.leaseQueue.ShutDown()
	}()
	go func() {
		a.wg.Wait()
		podFactory.Shutdown()
		nodeFactory.Shutdown()
		close(a.done)
	}()
	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	// Pods' existing IPs are reserved by the handler before any worker assigns new ones.
	if !cache.WaitForCacheSync(ctx.Done(), podHandler.HasSynced, nodeHandler.HasSynced) {
		return a, fmt.Errorf("simulated: caches did not sync: %w", ctx.Err())
	}
	// Heartbeats start before registration ends: with thousands of nodes, the first
	// ones would otherwise go stale while the last ones register.
	a.start(ctx, a.podQueue, cfg.PodWorkers, a.syncPod)
	a.start(ctx, a.nodeQueue, cfg.NodeWorkers, a.syncNode)
	a.start(ctx, a.leaseQueue, cfg.LeaseWorkers, a.renewLease)
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.runHeartbeats(ctx)
	}()
	if err := a.registerAll(ctx); err != nil {
		return a, err
	}
	a.log.Info("simulated nodes registered", "nodes", cfg.Nodes, "prefix", cfg.NamePrefix)
	return a, nil
}

// registerAll registers the nodes through a bounded pool of goroutines.
func (a *Agent) registerAll(ctx context.Context) error {
	indexes := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(32, max(a.cfg.Nodes, 1)) {
		wg.Go(func() {
			for i := range indexes {
				if err := a.register(ctx, i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
feed:
	for i := range a.cfg.Nodes {
		select {
		case indexes <- i:
		case err := <-errs:
			errs <- err
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(indexes)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

// start runs workers on a queue until it shuts down.
func (a *Agent) start(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], workers int, sync func(context.Context, string) error) {
	for range workers {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			wait.UntilWithContext(ctx, func(ctx context.Context) {
				for {
					key, quit := q.Get()
					if quit {
						return
					}
					err := sync(ctx, key)
					switch {
					case err == nil:
						q.Forget(key)
					case ctx.Err() != nil:
					default:
						a.log.Debug("simulated sync", "key", key, "err", err)
						q.AddRateLimited(key)
					}
					q.Done(key)
				}
			}, 0)
		}()
	}
}

// stopAll marks every node stopped, so no write starts while the agent shuts down.
func (a *Agent) stopAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, name := range a.names {
		a.stopped[name] = true
	}
}

// Stop stops every node and waits until the agent's goroutines have returned, as
// killing the process would (Leases simply stop being renewed).
func (a *Agent) Stop() {
	a.cancel()
	<-a.done
}

// Done is closed when the agent has stopped.
func (a *Agent) Done() <-chan struct{} { return a.done }

// Nodes returns the simulated node names.
func (a *Agent) Nodes() []string { return append([]string(nil), a.names...) }

// StopNode makes one node fall silent, as if its machine died: no more Lease renewals,
// status reports or pod handling. It returns false for a node this agent does not run.
func (a *Agent) StopNode(name string) bool {
	if _, ok := a.index[name]; !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopped[name] = true
	return true
}

// ResumeNode brings a stopped node back: it renews its Lease, reports Ready and picks
// up its pods again.
func (a *Agent) ResumeNode(name string) bool {
	if _, ok := a.index[name]; !ok {
		return false
	}
	a.mu.Lock()
	delete(a.stopped, name)
	a.mu.Unlock()
	a.leaseQueue.Add(name)
	a.nodeQueue.Add(name)
	a.enqueuePodsOf(name)
	return true
}

// StopNextNode stops the first running node and returns its name ("" when all are
// stopped); the CLI maps SIGUSR1 to it.
func (a *Agent) StopNextNode() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, name := range a.names {
		if !a.stopped[name] {
			a.stopped[name] = true
			return name
		}
	}
	return ""
}

// ResumeAll resumes every stopped node and returns their names.
func (a *Agent) ResumeAll() []string {
	a.mu.Lock()
	var names []string
	for name := range a.stopped {
		names = append(names, name)
	}
	a.mu.Unlock()
	for _, name := range names {
		a.ResumeNode(name)
	}
	return names
}

func (a *Agent) isStopped(name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopped[name]
}

func (a *Agent) podSeen(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if _, ours := a.index[pod.Spec.NodeName]; !ours {
		return
	}
	key := pod.Namespace + "/" + pod.Name
	if pod.Status.PodIP != "" && !pod.Spec.HostNetwork {
		a.ips.reserve(pod.Spec.NodeName, key, pod.Status.PodIP)
	}
	if pod.DeletionTimestamp != nil || !runningAndReady(pod) {
		a.podQueue.Add(key)
	}
}

func (a *Agent) podGone(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		a.ips.release(key)
	}
}

func (a *Agent) nodeSeen(old, node *corev1.Node) {
	if _, ours := a.index[node.Name]; !ours {
		return
	}
	if nodeStatusStale(node) {
		a.nodeQueue.Add(node.Name)
	}
	if node.Spec.PodCIDR != "" && (old == nil || old.Spec.PodCIDR != node.Spec.PodCIDR) {
		a.enqueuePodsOf(node.Name)
	}
}

// nodeGone: a deleted node's kubelet has nothing left to report; its heartbeats stop
// (renewing would recreate a Lease the garbage collector removes).
func (a *Agent) nodeGone(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	if node, ok := obj.(*corev1.Node); ok && a.StopNode(node.Name) {
		a.log.Info("simulated node deleted; it stops", "node", node.Name)
	}
}

func (a *Agent) enqueuePodsOf(node string) {
	keys, _ := a.podIndex.IndexKeys(podsByNodeIndex, node)
	for _, k := range keys {
		a.podQueue.Add(k)
	}
}

func podNodeName(obj any) ([]string, error) {
	if pod, ok := obj.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
		return []string{pod.Spec.NodeName}, nil
	}
	return nil, nil
}

// stripManagedFields drops what the agent never reads from cached objects.
func stripManagedFields(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.ManagedFields = nil
	case *corev1.Node:
		o.ManagedFields = nil
		o.Status.Images = nil
	}
	return obj, nil
}
