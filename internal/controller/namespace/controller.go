package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
)

const (
	workers = 5
	// Retries while content remains back off from retryBase to retryMax.
	retryBase = 20 * time.Millisecond
	retryMax  = 30 * time.Second
)

// namespaceWriter is what the controller writes to namespaces.
type namespaceWriter interface {
	UpdateStatus(ctx context.Context, ns *corev1.Namespace, opts metav1.UpdateOptions) (*corev1.Namespace, error)
	Finalize(ctx context.Context, ns *corev1.Namespace, opts metav1.UpdateOptions) (*corev1.Namespace, error)
}

// Controller empties and finalizes namespaces being deleted.
type Controller struct {
	namespaces namespaceWriter
	lister     corelisters.NamespaceLister
	synced     cache.InformerSynced
	content    *contentDeleter
	queue      workqueue.TypedRateLimitingInterface[string]
	log        *slog.Logger
	now        func() time.Time
}

// New builds the namespace controller from the shared controller context.
func New(cc *controller.Context) (controller.Runnable, error) {
	inf := cc.Informers.Core().V1().Namespaces()
	c := &Controller{
		namespaces: cc.Client.CoreV1().Namespaces(),
		lister:     inf.Lister(),
		synced:     inf.Informer().HasSynced,
		content:    newContentDeleter(cc.Client.Discovery(), cc.Metadata, time.Now),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBase, retryMax),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		log: cc.Log.With("controller", "namespace"),
		now: time.Now,
	}
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Name implements controller.Runnable.
func (c *Controller) Name() string { return "namespace" }

// Run processes terminating namespaces until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil
	}
	controller.RunWorkers(ctx, c.queue, workers, c.sync, func(name string, err error) {
		if !errors.Is(err, errContentRemaining) {
			c.log.Info("namespace deletion incomplete, retrying", "namespace", name, "err", err)
		}
	})
	return nil
}

// errContentRemaining asks for a retry with backoff: objects still wait for finalizers.
var errContentRemaining = errors.New("content remaining")

// sync does one pass over a terminating namespace: delete what is in it; if nothing is
// left, finalize it. Objects still waiting (graceful deletion, finalizers) make it fail
// with errContentRemaining, so the namespace is looked at again with backoff.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return nil
	}
	result := c.content.deleteAll(ctx, name)
	ns = ns.DeepCopy()
	if applyConditions(&ns.Status, result.failedConditions(), metav1.NewTime(c.now())) {
		if ns, err = c.namespaces.UpdateStatus(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return ignoreNotFound(err)
		}
	}
	if result.discoveryErr != nil || len(result.deleteErrs) > 0 {
		return errors.Join(append([]error{result.discoveryErr}, result.deleteErrs...)...)
	}
	if left := result.remainingObjects(); left > 0 {
		c.log.Debug("namespace content remaining", "namespace", name, "objects", left)
		return errContentRemaining
	}
	ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool { return f == corev1.FinalizerKubernetes })
	if _, err := c.namespaces.Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		return ignoreNotFound(fmt.Errorf("finalize: %w", err))
	}
	c.log.Info("namespace emptied and finalized", "namespace", name)
	return nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
