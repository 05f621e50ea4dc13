package controller

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// Context is what controllers are built from. One Context serves every controller of a
// process; informers are shared.
type Context struct {
	Config    *rest.Config
	Client    kubernetes.Interface
	Metadata  metadata.Interface
	Informers informers.SharedInformerFactory
	Log       *slog.Logger
	// Recorder returns an event recorder reporting as component.
	Recorder func(component string) record.EventRecorder
	// Options holds the tunables controllers read.
	Options Options
}

// OwnClient returns a client of its own for a component that writes as much as the
// rest together (the scheduler: a binding for every pod the ReplicaSet controller
// creates). Client-side throttling is per client, and as kube-scheduler and
// kube-controller-manager each have their own, so does such a component here.
func (cc *Context) OwnClient() (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(cc.Config)
}

// Options tune the controllers (flags of `berth server`).
type Options struct {
	// NodeMonitorGracePeriod: a node whose Lease is older is NotReady (default 40 s).
	NodeMonitorGracePeriod time.Duration
	// ClusterCIDR is split into per-node pod CIDRs (default 10.42.0.0/16).
	ClusterCIDR string
	// NodeCIDRMaskSize is the prefix length of each node's pod CIDR (default 24).
	NodeCIDRMaskSize int
	// MaxEndpointsPerSlice caps the endpoints of one EndpointSlice (default 100, at most 1000).
	MaxEndpointsPerSlice int
	// EndpointUpdatesBatchPeriod delays the endpoint sync a pod change triggers, so the
	// changes of a burst coalesce into fewer writes (default 0: sync at once).
	EndpointUpdatesBatchPeriod time.Duration
	// RootCAPEM is the cluster CA published in every namespace as kube-root-ca.crt.
	RootCAPEM []byte
	// APIServerAddress is where pods reach the API server, published as the endpoint of
	// the kubernetes Service; the zero value: the address controllers reach it at, when
	// pods can use that one.
	APIServerAddress netip.AddrPort
	// WrapClients, when set, replaces the clients NewContext made (for watches and
	// creates that take a shorter way inside the server's process).
	WrapClients func(kubernetes.Interface, metadata.Interface) (kubernetes.Interface, metadata.Interface, error)
	// LegacyTokenSigner signs the long-lived token a kubernetes.io/service-account-token
	// Secret holds for its account; nil disables the tokens controller.
	LegacyTokenSigner func(sa *corev1.ServiceAccount, secret *corev1.Secret) (string, error)
}

// Runnable is one control loop; Run blocks until ctx ends.
type Runnable interface {
	Name() string
	Run(ctx context.Context) error
}

// NewContext builds clients and shared informers for cfg.
func NewContext(cfg *rest.Config, log *slog.Logger, opts Options) (*Context, error) {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 2000, 4000
	}
	var client kubernetes.Interface
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	var md metadata.Interface
	md, err = metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	if opts.WrapClients != nil {
		if client, md, err = opts.WrapClients(client, md); err != nil {
			return nil, err
		}
	}
	if opts.NodeMonitorGracePeriod == 0 {
		opts.NodeMonitorGracePeriod = 40 * time.Second
	}
	if opts.ClusterCIDR == "" {
		opts.ClusterCIDR = "10.42.0.0/16"
	}
	if opts.NodeCIDRMaskSize == 0 {
		opts.NodeCIDRMaskSize = 24
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	var mu sync.Mutex
	recorders := map[string]record.EventRecorder{}
	return &Context{
		Config: cfg, Client: client, Metadata: md,
		Informers: newInformerFactory(client),
		Log:       log,
		Options:   opts,
		Recorder: func(component string) record.EventRecorder {
			mu.Lock()
			defer mu.Unlock()
			if r, ok := recorders[component]; ok {
				return r
			}
			r := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component})
			recorders[component] = r
			return r
		},
	}, nil
}

// Builder constructs the loops of one leadership term. Controllers must ask for their
// informers in their constructors, so the factory starts them.
type Builder func(cc *Context) ([]Runnable, error)

// Leader election timing (kube-controller-manager's defaults): a Lease not renewed for
// LeaseDuration may be taken over; the leader gives up (and stops its loops) when it has
// not renewed within RenewDeadline; candidates and the leader retry every RetryPeriod.
const (
	LeaseDuration = 15 * time.Second
	RenewDeadline = 10 * time.Second
	RetryPeriod   = 2 * time.Second
)

// RunLeaderElected runs the loops while this process holds the Lease kube-system/<lock>.
// Each term gets fresh informers and controllers; losing the lease stops them, and the
// process campaigns again until ctx ends. When ctx ends it returns once the loops have
// stopped, and only then releases the lease, so a standby (which watches the lease)
// takes over at once without ever running alongside them.
func RunLeaderElected(ctx context.Context, cc *Context, lock, identity string, build Builder) error {
	for ctx.Err() == nil {
		if err := campaign(ctx, cc, lock, identity, build); err != nil {
			return err
		}
	}
	return nil
}

// campaign waits to lead, runs one term until the lease is lost or ctx ends, and returns
// when every loop of the term has stopped, releasing the lease if this process still
// holds it.
func campaign(ctx context.Context, cc *Context, lock, identity string, build Builder) error {
	rl := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: lock},
		Client:     cc.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
	}
	// client-go starts OnStartedLeading in a goroutine of its own and does not wait for
	// it; term tracks it, and once closed is set no new term starts.
	var (
		mu     sync.Mutex
		closed bool
		led    bool
		term   sync.WaitGroup
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          rl,
		LeaseDuration: LeaseDuration,
		RenewDeadline: RenewDeadline,
		RetryPeriod:   RetryPeriod,
		// client-go would release as soon as ctx ends, while the loops are still
		// stopping; release (below) waits for them.
		ReleaseOnCancel: false,
		Name:            lock,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				mu.Lock()
				if closed {
					mu.Unlock()
					return
				}
				term.Add(1)
				led = true
				mu.Unlock()
				defer term.Done()
				cc.Log.Info("leading", "lock", lock, "identity", identity)
				t := *cc
				t.Informers = newInformerFactory(cc.Client)
				loops, err := build(&t)
				if err != nil {
					cc.Log.Error("build controllers", "err", err)
					return
				}
				runAll(ctx, &t, loops)
			},
			OnStoppedLeading: func() {
				mu.Lock()
				defer mu.Unlock()
				if led { // client-go calls this on a standby's return too
					cc.Log.Info("stopped leading", "lock", lock, "identity", identity)
				}
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	electCtx, retry := context.WithCancel(ctx)
	defer retry()
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		retryOnRelease(electCtx, cc.Client, lock, le, retry)
	}()
	// Run returns when ctx ends, the lease is lost or a standby retries on a release; the
	// term's ctx is then done.
	le.Run(electCtx)
	retry()
	watcher.Wait()
	mu.Lock()
	closed = true
	mu.Unlock()
	term.Wait()
	if ctx.Err() != nil {
		release(context.WithoutCancel(ctx), cc.Log, rl, identity)
	}
	return nil
}

// retryOnRelease watches the lease and calls retry when its leader releases it while le
// stands by: the campaign then starts over and tries at once, rather than at its next
// retry (up to 2.2 RetryPeriods later). It returns when ctx ends.
func retryOnRelease(ctx context.Context, client kubernetes.Interface, lock string, le *leaderelection.LeaderElector, retry context.CancelFunc) {
	leases := client.CoordinationV1().Leases(metav1.NamespaceSystem)
	byName := fields.OneTermEqualSelector("metadata.name", lock).String()
	// (The wrapper lets a fake clientset, which cannot stream initial events, list.)
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			return leases.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return leases.Watch(ctx, o)
		},
	}, client), &coordinationv1.Lease{}, 0, cache.Indexers{})
	holder := func(obj any) (string, bool) {
		l, ok := obj.(*coordinationv1.Lease)
		if !ok || l.Name != lock {
			return "", false
		}
		return ptr.Deref(l.Spec.HolderIdentity, ""), true
	}
	// Only a change from held to released counts: a lease found released is what the
	// campaign's first try (immediate) takes anyway.
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{UpdateFunc: func(old, cur any) {
		was, ok1 := holder(old)
		now, ok2 := holder(cur)
		if ok1 && ok2 && was != "" && now == "" && !le.IsLeader() {
			retry()
		}
	}})
	inf.Run(ctx.Done())
}

// release gives up the lease if identity still holds it, as client-go's ReleaseOnCancel
// does: holder cleared, valid for 1 s. Standbys see the release (retryOnRelease) and
// take the lease at once.
func release(ctx context.Context, log *slog.Logger, rl *resourcelock.LeaseLock, identity string) {
	ctx, cancel := context.WithTimeout(ctx, RenewDeadline)
	defer cancel()
	for ctx.Err() == nil {
		rec, _, err := rl.Get(ctx)
		if err != nil {
			log.Warn("release lease: get", "lock", rl.Describe(), "err", err)
			return
		}
		if rec.HolderIdentity != identity {
			return
		}
		now := metav1.NewTime(time.Now())
		err = rl.Update(ctx, resourcelock.LeaderElectionRecord{
			LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
		})
		if err == nil {
			log.Info("released lease", "lock", rl.Describe(), "identity", identity)
			return
		}
		if !apierrors.IsConflict(err) {
			log.Warn("release lease", "lock", rl.Describe(), "err", err)
			return
		}
	}
}

// runAll starts the shared informers and every loop, and waits for all of them.
func runAll(ctx context.Context, cc *Context, loops []Runnable) {
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Run(ctx); err != nil && ctx.Err() == nil {
				cc.Log.Error("controller stopped", "controller", l.Name(), "err", err)
			}
		}()
	}
	cc.Informers.Start(ctx.Done())
	wg.Wait()
	cc.Informers.Shutdown()
}

// newInformerFactory returns the controllers' shared informers. Their objects carry no
// managedFields, as kube-controller-manager's and kube-scheduler's informers: no loop
// reads them, they are a good part of every cached pod, and an update of an object
// without them keeps the stored ones.
func newInformerFactory(client kubernetes.Interface) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(dropManagedFields))
}

// dropManagedFields is the informers' transform.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok && m.GetManagedFields() != nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
