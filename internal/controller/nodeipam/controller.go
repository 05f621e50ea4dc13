package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
)

// workers: CIDR patches are latency-bound; thousands of nodes register at once.
const workers = 16

var everything = labels.Everything()

// NodePatcher is the API the controller writes through.
type NodePatcher interface {
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*corev1.Node, error)
}

// Controller assigns pod CIDRs to nodes.
type Controller struct {
	nodes    NodePatcher
	lister   corelisters.NodeLister
	synced   cache.InformerSynced
	alloc    *Allocator
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	log      *slog.Logger
}

// New builds the controller from the shared controller context.
func New(cc *controller.Context) (controller.Runnable, error) {
	alloc, err := NewAllocator(cc.Options.ClusterCIDR, cc.Options.NodeCIDRMaskSize)
	if err != nil {
		return nil, fmt.Errorf("node IPAM: %w", err)
	}
	return NewController(cc.Client.CoreV1().Nodes(), cc.Informers.Core().V1().Nodes(), alloc,
		cc.Recorder("node-ipam-controller"), cc.Log.With("controller", "node-ipam")), nil
}

// NewController wires the controller to its dependencies.
func NewController(nodes NodePatcher, informer coreinformers.NodeInformer, alloc *Allocator, recorder record.EventRecorder, log *slog.Logger) *Controller {
	c := &Controller{
		nodes: nodes, lister: informer.Lister(), synced: informer.Informer().HasSynced, alloc: alloc,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node-ipam"}),
		recorder: recorder, log: log,
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	_, _ = informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*corev1.Node), newObj.(*corev1.Node)
			if o.Spec.PodCIDR != n.Spec.PodCIDR || len(o.Spec.PodCIDRs) != len(n.Spec.PodCIDRs) || n.Spec.PodCIDR == "" {
				enqueue(newObj)
			}
		},
		DeleteFunc: enqueue,
	})
	return c
}

// Name implements controller.Runnable.
func (c *Controller) Name() string { return "node-ipam" }

// Run rebuilds the allocation table from the nodes, then assigns CIDRs until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return ctx.Err()
	}
	if err := c.rebuild(); err != nil {
		return err
	}
	controller.RunWorkers(ctx, c.queue, workers, c.sync, func(key string, err error) {
		c.log.Warn("sync node pod CIDR", "node", key, "err", err)
	})
	return nil
}

// rebuild occupies every CIDR the nodes already carry, before anything new is handed out.
func (c *Controller) rebuild() error {
	nodes, err := c.lister.List(everything)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if cidrs := nodeCIDRs(n); len(cidrs) > 0 {
			res, err := c.alloc.Occupy(n.Name, cidrs)
			if err != nil {
				c.log.Warn("node pod CIDR not usable", "node", n.Name, "err", err)
			} else if res.Conflict != "" {
				c.recorder.Eventf(n, corev1.EventTypeWarning, "CIDRNotAvailable", "Pod CIDR %v is also assigned to node %s", cidrs, res.Conflict)
			}
		}
	}
	c.log.Info("pod CIDR table rebuilt", "nodes", len(nodes), "inUse", c.alloc.InUse())
	return nil
}

// sync makes sure the node has a pod CIDR, or frees the CIDR of a deleted node.
func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		c.alloc.Release(name)
		return nil
	}
	if err != nil {
		return err
	}
	if cidrs := nodeCIDRs(node); len(cidrs) > 0 {
		res, err := c.alloc.Occupy(name, cidrs)
		if err != nil {
			c.log.Debug("node pod CIDR outside the cluster CIDR", "node", name, "err", err)
			return nil
		}
		if res.Conflict != "" {
			c.recorder.Eventf(node, corev1.EventTypeWarning, "CIDRNotAvailable", "Pod CIDR %v is also assigned to node %s", cidrs, res.Conflict)
		}
		return nil
	}
	prefixes, err := c.alloc.Allocate(name)
	if err != nil {
		if errors.Is(err, ErrFull) {
			c.recorder.Eventf(node, corev1.EventTypeWarning, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", name)
		}
		return err
	}
	cidrs := make([]string, len(prefixes))
	for i, p := range prefixes {
		cidrs[i] = p.String()
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": cidrs[0], "podCIDRs": cidrs}})
	if _, err := c.nodes.Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			c.alloc.Release(name)
			return nil
		}
		c.recorder.Eventf(node, corev1.EventTypeWarning, "CIDRAssignmentFailed", "Node %s: failed to assign pod CIDR %v: %v", name, cidrs, err)
		return fmt.Errorf("patch node %s pod CIDR: %w", name, err)
	}
	c.log.Debug("assigned pod CIDR", "node", name, "cidrs", cidrs)
	return nil
}

func nodeCIDRs(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}
