package serviceaccount

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth/berth/internal/controller"
)

// TokensController is kube-controller-manager's tokens controller: it fills every Secret
// of type kubernetes.io/service-account-token with a long-lived token of the account its
// kubernetes.io/service-account.name annotation names (data token, ca.crt, namespace and
// the account's UID in kubernetes.io/service-account.uid), and deletes the Secrets whose
// account is gone or was recreated with another UID, which ends their tokens.
type TokensController struct {
	client   kubernetes.Interface
	accounts corelisters.ServiceAccountLister
	saSynced cache.InformerSynced
	// secrets is the controller's own informer of token Secrets alone (a field selector
	// on type), not the shared one: other loops asking for Secrets want them all.
	secrets  cache.SharedIndexInformer
	sign     func(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error)
	rootCA   []byte
	queue    workqueue.TypedRateLimitingInterface[string]
	log      *slog.Logger
	disabled bool
}

// NewTokens builds the tokens controller; it signs with cc.Options.LegacyTokenSigner
// (nil: the loop does nothing) and publishes cc.Options.RootCAPEM as ca.crt.
func NewTokens(cc *controller.Context) (controller.Runnable, error) {
	c := &TokensController{log: cc.Log.With("controller", "serviceaccount-token")}
	if cc.Options.LegacyTokenSigner == nil {
		c.disabled = true
		return c, nil
	}
	sa := cc.Informers.Core().V1().ServiceAccounts()
	c.client = cc.Client
	c.accounts, c.saSynced = sa.Lister(), sa.Informer().HasSynced
	c.sign, c.rootCA = cc.Options.LegacyTokenSigner, cc.Options.RootCAPEM
	c.secrets = coreinformers.NewFilteredSecretInformer(cc.Client, metav1.NamespaceAll, 0,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)).String()
		})
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount-token"})

	secretHandler := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := c.secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    secretHandler,
		UpdateFunc: func(_, obj any) { secretHandler(obj) },
		// A deleted Secret needs nothing.
	}); err != nil {
		return nil, fmt.Errorf("serviceaccount-token: %w", err)
	}
	// An account's change (created, recreated, deleted) re-checks the Secrets naming it.
	accountHandler := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		a, ok := obj.(*corev1.ServiceAccount)
		if !ok {
			return
		}
		for _, s := range c.secretsOf(a.Namespace, a.Name) {
			c.queue.Add(s.Namespace + "/" + s.Name)
		}
	}
	if _, err := sa.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    accountHandler,
		UpdateFunc: func(_, obj any) { accountHandler(obj) },
		DeleteFunc: accountHandler,
	}); err != nil {
		return nil, fmt.Errorf("serviceaccount-token: %w", err)
	}
	return c, nil
}

// secretsOf lists the cached token Secrets of namespace ns naming account name.
func (c *TokensController) secretsOf(ns, name string) []*corev1.Secret {
	objs, err := c.secrets.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	if err != nil {
		return nil
	}
	var out []*corev1.Secret
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok && s.Type == corev1.SecretTypeServiceAccountToken && s.Annotations[corev1.ServiceAccountNameKey] == name {
			out = append(out, s)
		}
	}
	return out
}

// Name implements controller.Runnable.
func (c *TokensController) Name() string { return "serviceaccount-token" }

// Run implements controller.Runnable.
func (c *TokensController) Run(ctx context.Context) error {
	if c.disabled {
		return nil
	}
	defer c.queue.ShutDown()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.secrets.Run(ctx.Done()) })
	if !cache.WaitForCacheSync(ctx.Done(), c.saSynced, c.secrets.HasSynced) {
		return ctx.Err()
	}
	controller.RunWorkers(ctx, c.queue, 1, c.sync, func(key string, err error) {
		c.log.Warn("sync service account token secret", "secret", key, "err", err)
	})
	return nil
}

// sync fills or deletes one token Secret (namespace/name) as its account requires.
func (c *TokensController) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	obj, exists, err := c.secrets.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	secret := obj.(*corev1.Secret)
	if secret.Type != corev1.SecretTypeServiceAccountToken || secret.DeletionTimestamp != nil {
		return nil
	}
	sa, err := c.account(ctx, secret)
	if err != nil {
		return err
	}
	if sa == nil {
		c.log.Info("deleting token secret of a missing service account", "secret", key,
			"serviceaccount", secret.Annotations[corev1.ServiceAccountNameKey], "uid", secret.Annotations[corev1.ServiceAccountUIDKey])
		err := c.client.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &secret.UID},
		})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone, or another Secret of that name now
		}
		return err
	}
	if c.filled(secret, sa) {
		return nil
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live, err := c.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if live.UID != secret.UID || live.DeletionTimestamp != nil || live.Type != corev1.SecretTypeServiceAccountToken ||
			live.Annotations[corev1.ServiceAccountNameKey] != sa.Name {
			return nil // another Secret, or changed: its own event syncs it
		}
		if uid := live.Annotations[corev1.ServiceAccountUIDKey]; uid != "" && uid != string(sa.UID) {
			return nil // the account was recreated: the next sync deletes the Secret
		}
		if c.filled(live, sa) {
			return nil
		}
		fill := live.DeepCopy()
		if fill.Data == nil {
			fill.Data = map[string][]byte{}
		}
		if len(fill.Data[corev1.ServiceAccountTokenKey]) == 0 {
			token, err := c.sign(sa, fill)
			if err != nil {
				return err
			}
			fill.Data[corev1.ServiceAccountTokenKey] = []byte(token)
		}
		if len(c.rootCA) > 0 {
			fill.Data[corev1.ServiceAccountRootCAKey] = c.rootCA
		}
		fill.Data[corev1.ServiceAccountNamespaceKey] = []byte(ns)
		if fill.Annotations == nil {
			fill.Annotations = map[string]string{}
		}
		fill.Annotations[corev1.ServiceAccountUIDKey] = string(sa.UID)
		_, err = c.client.CoreV1().Secrets(ns).Update(ctx, fill, metav1.UpdateOptions{})
		return err
	})
}

// account is the account secret belongs to, nil when it is gone or has another UID than
// the Secret names. A miss in the cache is confirmed with a live read (the cache may lag
// behind an account created just before its Secret).
func (c *TokensController) account(ctx context.Context, secret *corev1.Secret) (*corev1.ServiceAccount, error) {
	name := secret.Annotations[corev1.ServiceAccountNameKey]
	if name == "" {
		return nil, nil
	}
	uid := secret.Annotations[corev1.ServiceAccountUIDKey]
	matches := func(sa *corev1.ServiceAccount) bool {
		return sa.DeletionTimestamp == nil && (uid == "" || string(sa.UID) == uid)
	}
	if sa, err := c.accounts.ServiceAccounts(secret.Namespace).Get(name); err == nil && matches(sa) {
		return sa, nil
	}
	sa, err := c.client.CoreV1().ServiceAccounts(secret.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !matches(sa) {
		return nil, nil
	}
	return sa, nil
}

// filled says secret holds everything the controller writes for sa. An existing token is
// kept (a token already handed out stays valid); ca.crt follows the cluster CA.
func (c *TokensController) filled(secret *corev1.Secret, sa *corev1.ServiceAccount) bool {
	return secret.Annotations[corev1.ServiceAccountUIDKey] == string(sa.UID) &&
		len(secret.Data[corev1.ServiceAccountTokenKey]) > 0 &&
		(len(c.rootCA) == 0 || bytes.Equal(secret.Data[corev1.ServiceAccountRootCAKey], c.rootCA)) &&
		string(secret.Data[corev1.ServiceAccountNamespaceKey]) == secret.Namespace
}
