package nodelifecycle

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinformers "k8s.io/client-go/informers/coordination/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth/berth/internal/controller"
)

const (
	nodeWorkers = 4
	podWorkers  = 8
	// podsByNodeIndex indexes the shared pod informer by spec.nodeName.
	podsByNodeIndex = "nodelifecycle/spec.nodeName"
	// defaultOrphanQuarantine: a pod bound to a node never seen is left alone this long
	// (the node may be registering), as Kubernetes' pod GC does.
	defaultOrphanQuarantine = 40 * time.Second
)

// API is what the controller writes through.
type API interface {
	UpdateNodeStatus(ctx context.Context, node *corev1.Node) (*corev1.Node, error)
	UpdateNode(ctx context.Context, node *corev1.Node) (*corev1.Node, error)
	// NodeExists asks the API server itself, not a cache.
	NodeExists(ctx context.Context, name string) (bool, error)
	UpdatePodStatus(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error)
	DeletePod(ctx context.Context, namespace, name string, opts metav1.DeleteOptions) error
}

// Config tunes the controller.
type Config struct {
	// Grace: a node not heard from for this long is Unknown (NodeMonitorGracePeriod).
	Grace time.Duration
	// OrphanQuarantine: how long a pod may point at a node never seen (default 40 s).
	OrphanQuarantine time.Duration
	Clock            clock.WithTicker
	Recorder         record.EventRecorder
	// EvictionRecorder records the NoExecute evictions (TaintManagerEviction), which
	// Kubernetes reports from its taint-eviction-controller; default Recorder.
	EvictionRecorder record.EventRecorder
	Log              *slog.Logger
}

// Controller is the node lifecycle controller.
type Controller struct {
	api      API
	nodes    corelisters.NodeLister
	leases   coordlisters.LeaseLister
	pods     corelisters.PodLister
	podIndex cache.Indexer
	synced   []cache.InformerSynced
	cfg      Config
	health   *healthStore

	nodeQueue workqueue.TypedRateLimitingInterface[string]
	podQueue  workqueue.TypedRateLimitingInterface[string]

	// missing remembers nodes that pods point at but that do not exist.
	missingMu sync.Mutex
	missing   map[string]missingNode
}

type missingNode struct {
	since   time.Time
	deleted bool // seen deleted, so its pods go at once
}

// New builds the controller from the shared controller context.
func New(cc *controller.Context) (controller.Runnable, error) {
	f := cc.Informers
	return NewController(clientAPI{cc.Client}, f.Core().V1().Nodes(), f.Coordination().V1().Leases(), f.Core().V1().Pods(), Config{
		Grace:            cc.Options.NodeMonitorGracePeriod,
		Recorder:         cc.Recorder("node-controller"),
		EvictionRecorder: cc.Recorder("taint-eviction-controller"),
		Log:              cc.Log.With("controller", "node-lifecycle"),
	})
}

// NewController wires the controller to its informers and API.
func NewController(api API, nodes coreinformers.NodeInformer, leases coordinformers.LeaseInformer, pods coreinformers.PodInformer, cfg Config) (*Controller, error) {
	if cfg.Grace <= 0 {
		cfg.Grace = 40 * time.Second
	}
	if cfg.OrphanQuarantine <= 0 {
		cfg.OrphanQuarantine = defaultOrphanQuarantine
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Recorder == nil {
		cfg.Recorder = &record.FakeRecorder{}
	}
	if cfg.EvictionRecorder == nil {
		cfg.EvictionRecorder = cfg.Recorder
	}
	podInformer := pods.Informer()
	if err := podInformer.AddIndexers(cache.Indexers{podsByNodeIndex: podNodeName}); err != nil {
		return nil, fmt.Errorf("node lifecycle: index pods by node: %w", err)
	}
	newQueue := func(name string) workqueue.TypedRateLimitingInterface[string] {
		return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: name, Clock: cfg.Clock})
	}
	c := &Controller{
		api: api, nodes: nodes.Lister(), leases: leases.Lister(), pods: pods.Lister(), podIndex: podInformer.GetIndexer(),
		synced: []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced, podInformer.HasSynced},
		cfg:    cfg, health: newHealthStore(),
		nodeQueue: newQueue("node-lifecycle-nodes"), podQueue: newQueue("node-lifecycle-pods"),
		missing: map[string]missingNode{},
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.nodeAdded,
		UpdateFunc: c.nodeUpdated,
		DeleteFunc: c.nodeDeleted,
	})
	_, _ = leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.leaseSeen,
		UpdateFunc: func(_, obj any) { c.leaseSeen(obj) },
	})
	_, _ = podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podSeen,
		UpdateFunc: func(_, obj any) { c.podSeen(obj) },
	})
	return c, nil
}

// Name implements controller.Runnable.
func (c *Controller) Name() string { return "node-lifecycle" }

// Run runs the workers until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.nodeQueue.ShutDown()
	defer c.podQueue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return ctx.Err()
	}
	failed := func(key string, err error) { c.cfg.Log.Warn("sync", "key", key, "err", err) }
	var wg sync.WaitGroup
	wg.Go(func() { controller.RunWorkers(ctx, c.nodeQueue, nodeWorkers, c.syncNode, failed) })
	wg.Go(func() { controller.RunWorkers(ctx, c.podQueue, podWorkers, c.syncPod, failed) })
	wg.Wait()
	return nil
}

func (c *Controller) nodeAdded(obj any) {
	node := obj.(*corev1.Node)
	c.missingMu.Lock()
	delete(c.missing, node.Name)
	c.missingMu.Unlock()
	c.nodeQueue.Add(node.Name)
	if len(noExecuteTaints(node)) > 0 || readyStatus(node) == corev1.ConditionUnknown {
		c.enqueuePodsOf(node.Name)
	}
}

func (c *Controller) nodeUpdated(oldObj, newObj any) {
	old, node := oldObj.(*corev1.Node), newObj.(*corev1.Node)
	c.nodeQueue.Add(node.Name)
	oldReady, ready := readyStatus(old), readyStatus(node)
	switch {
	case oldReady == corev1.ConditionTrue && ready != corev1.ConditionTrue:
		c.cfg.Recorder.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	case (oldReady == corev1.ConditionFalse || oldReady == corev1.ConditionUnknown) && ready == corev1.ConditionTrue:
		// A recovery; a node registering Ready is not news (thousands at once would
		// flood the events).
		c.cfg.Recorder.Eventf(node, corev1.EventTypeNormal, "NodeReady", "Node %s status is now: NodeReady", node.Name)
	}
	if oldReady != ready || !sameTaints(noExecuteTaints(old), noExecuteTaints(node)) {
		c.enqueuePodsOf(node.Name)
	}
}

func (c *Controller) nodeDeleted(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c.health.forget(node.Name)
	c.missingMu.Lock()
	c.missing[node.Name] = missingNode{since: c.cfg.Clock.Now(), deleted: true}
	c.missingMu.Unlock()
	c.enqueuePodsOf(node.Name)
}

func (c *Controller) leaseSeen(obj any) {
	lease, ok := obj.(*coordinationv1.Lease)
	if !ok || lease.Namespace != corev1.NamespaceNodeLease || lease.Spec.RenewTime == nil {
		return
	}
	c.health.observe(lease.Name, lease.Spec.RenewTime.Time, time.Time{}, c.cfg.Clock.Now())
}

// podSeen queues a pod when its node might make it go: the node is tainted NoExecute,
// unreachable or gone.
func (c *Controller) podSeen(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName == "" {
		return
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if err != nil || len(noExecuteTaints(node)) > 0 || readyStatus(node) == corev1.ConditionUnknown {
		c.podQueue.Add(pod.Namespace + "/" + pod.Name)
	}
}

func (c *Controller) enqueuePodsOf(node string) {
	keys, _ := c.podIndex.IndexKeys(podsByNodeIndex, node)
	for _, k := range keys {
		c.podQueue.Add(k)
	}
}

func podNodeName(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return nil, nil
	}
	return []string{pod.Spec.NodeName}, nil
}

func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].MatchTaint(&b[i]) || a[i].Value != b[i].Value || !a[i].TimeAdded.Equal(b[i].TimeAdded) {
			return false
		}
	}
	return true
}

// clientAPI adapts a clientset to API.
type clientAPI struct{ client kubernetes.Interface }

func (a clientAPI) UpdateNodeStatus(ctx context.Context, n *corev1.Node) (*corev1.Node, error) {
	return a.client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
}

func (a clientAPI) UpdateNode(ctx context.Context, n *corev1.Node) (*corev1.Node, error) {
	return a.client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
}

func (a clientAPI) NodeExists(ctx context.Context, name string) (bool, error) {
	_, err := a.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (a clientAPI) UpdatePodStatus(ctx context.Context, p *corev1.Pod) (*corev1.Pod, error) {
	return a.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
}

func (a clientAPI) DeletePod(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
	return a.client.CoreV1().Pods(ns).Delete(ctx, name, opts)
}
