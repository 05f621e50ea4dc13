// Package serviceaccount keeps what every namespace is expected to hold: the "default"
// ServiceAccount that pods run as unless told otherwise, and the kube-root-ca.crt
// ConfigMap with the cluster CA that in-cluster clients verify the API server with.
// It creates and repairs them; it never deletes them (namespace deletion removes them).
// The package's tokens controller (tokens.go) fills long-lived token Secrets
// (kubernetes.io/service-account-token) and deletes those whose account is gone.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
)

// Names Kubernetes gives these objects.
const (
	DefaultServiceAccount = "default"
	RootCAConfigMap       = "kube-root-ca.crt"
	rootCAKey             = "ca.crt"
)

// Controller ensures the per-namespace defaults.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	configMaps corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	rootCA     string
	queue      workqueue.TypedRateLimitingInterface[string]
	log        *slog.Logger
}

// New builds the controller; the CA published is cc.Options.RootCAPEM.
func New(cc *controller.Context) (controller.Runnable, error) {
	ns := cc.Informers.Core().V1().Namespaces()
	sa := cc.Informers.Core().V1().ServiceAccounts()
	cm := cc.Informers.Core().V1().ConfigMaps()
	c := &Controller{
		client:     cc.Client,
		namespaces: ns.Lister(), accounts: sa.Lister(), configMaps: cm.Lister(),
		synced: []cache.InformerSynced{ns.Informer().HasSynced, sa.Informer().HasSynced, cm.Informer().HasSynced},
		rootCA: string(cc.Options.RootCAPEM),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
		log: cc.Log.With("controller", "serviceaccount"),
	}
	byNamespace := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if m, ok := obj.(metav1.Object); ok {
			ns := m.GetNamespace()
			if ns == "" {
				ns = m.GetName() // the namespace itself
			}
			c.queue.Add(ns)
		}
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    byNamespace,
		UpdateFunc: func(_, obj any) { byNamespace(obj) },
		DeleteFunc: byNamespace,
	}
	for _, inf := range []cache.SharedIndexInformer{ns.Informer(), sa.Informer(), cm.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return nil, fmt.Errorf("serviceaccount: %w", err)
		}
	}
	return c, nil
}

// Name implements controller.Runnable.
func (c *Controller) Name() string { return "serviceaccount" }

// Run implements controller.Runnable.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return ctx.Err()
	}
	controller.RunWorkers(ctx, c.queue, 1, c.sync, func(ns string, err error) {
		c.log.Warn("sync namespace defaults", "namespace", ns, "err", err)
	})
	return nil
}

// sync makes sure an active namespace holds its default account and root CA.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return nil
	}
	if _, err := c.accounts.ServiceAccounts(name).Get(DefaultServiceAccount); apierrors.IsNotFound(err) {
		_, err := c.client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: DefaultServiceAccount},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if c.rootCA == "" {
		return nil
	}
	cm, err := c.configMaps.ConfigMaps(name).Get(RootCAConfigMap)
	switch {
	case apierrors.IsNotFound(err):
		_, err := c.client.CoreV1().ConfigMaps(name).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: RootCAConfigMap, Annotations: map[string]string{
				"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.",
			}},
			Data: map[string]string{rootCAKey: c.rootCA},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	case err != nil:
		return err
	case cm.Data[rootCAKey] != c.rootCA:
		fixed := cm.DeepCopy()
		if fixed.Data == nil {
			fixed.Data = map[string]string{}
		}
		fixed.Data[rootCAKey] = c.rootCA
		if _, err := c.client.CoreV1().ConfigMaps(name).Update(ctx, fixed, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	return nil
}
