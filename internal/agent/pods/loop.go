package pods

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/berth/berth/internal/agent/cri"
)

// Config wires the sync loop.
type Config struct {
	NodeName string
	Client   kubernetes.Interface
	Runtime  Runtime
	// RuntimeName prefixes container IDs in the status ("containerd").
	RuntimeName string
	// PodsDir holds one directory per pod (logs, volumes, termination messages).
	PodsDir string
	Cgroups *Cgroups
	DNS     DNS
	// HostIPs are the node's addresses; Allocatable its allocatable resources.
	HostIPs     func() []string
	Allocatable func() corev1.ResourceList
	// Services lists the cluster's Services for the containers' service environment
	// (APIEnv.Services); nil gives none.
	Services func() ([]*corev1.Service, error)
	// Seams (doc.go); nil means the simple built-in implementation.
	Volumes   VolumeManager
	NewProber func(Resync) Prober
	Hooks     Hooks
	Env       EnvResolver
	Recorder  record.EventRecorder
	// Workers is how many pods are synced at once at most; one pod is never synced
	// twice at once. Default: 8 per CPU, 16 to 64. Once the runtime is busy, more at
	// once does not start the last pod of a burst sooner (the node's CPUs are the limit)
	// but starts every other one later; measured on 2 CPUs with 30 pods at once
	// (bench/podstartup): p99 alike with 16 and 30, p50 3.0 s against 4.5 s.
	Workers int
	// RelistPeriod is how often the runtime is listed for changes (default 1 s);
	// ResyncPeriod how often every pod is synced regardless (default 1 min).
	RelistPeriod, ResyncPeriod time.Duration
	// CrashBackOff and PullBackOff are the first back-off delays (default 10 s), doubled
	// up to MaxBackOff (default 5 min).
	CrashBackOff, PullBackOff, MaxBackOff time.Duration
	Clock                                 clock.WithTicker
	Log                                   *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	if c.NodeName == "" || c.Client == nil || c.Runtime == nil || c.PodsDir == "" || c.Cgroups == nil {
		return c, errors.New("pods: NodeName, Client, Runtime, PodsDir and Cgroups are required")
	}
	if c.RuntimeName == "" {
		c.RuntimeName = "containerd"
	}
	c.DNS = c.DNS.withDefaults()
	if c.HostIPs == nil {
		c.HostIPs = func() []string { return nil }
	}
	if c.Volumes == nil {
		c.Volumes = EmptyDirVolumes{PodsDir: c.PodsDir}
	}
	if c.NewProber == nil {
		c.NewProber = func(Resync) Prober { return ReadyWhenRunning{} }
	}
	if c.Hooks == nil {
		c.Hooks = NoHooks{}
	}
	if c.Env == nil {
		c.Env = APIEnv{Client: c.Client, HostIPs: c.HostIPs, Allocatable: c.Allocatable, Services: c.Services}
	}
	if c.Recorder == nil {
		c.Recorder = &record.FakeRecorder{}
	}
	if c.Workers <= 0 {
		c.Workers = min(max(8*runtime.GOMAXPROCS(0), 16), 64)
	}
	if c.RelistPeriod <= 0 {
		c.RelistPeriod = time.Second
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = time.Minute
	}
	if c.CrashBackOff <= 0 {
		c.CrashBackOff = 10 * time.Second
	}
	if c.PullBackOff <= 0 {
		c.PullBackOff = 10 * time.Second
	}
	if c.MaxBackOff <= 0 {
		c.MaxBackOff = 5 * time.Minute
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Loop is the node's pod sync loop.
type Loop struct {
	cfg      Config
	log      *slog.Logger
	runtime  Runtime
	cgroups  *Cgroups
	volumes  VolumeManager
	prober   Prober
	hooks    Hooks
	env      EnvResolver
	recorder record.EventRecorder
	clock    clock.WithTicker

	informer cache.SharedIndexInformer
	queue    workqueue.TypedRateLimitingInterface[string]
	cache    *runtimeCache

	crashBackoff *flowcontrol.Backoff
	pullGate     *retryGate
	createGate   *retryGate

	mu         sync.Mutex
	records    map[string]*podRecord // by pod UID; only the pod's worker touches a record's fields
	relisted   map[string]string     // pod UID → fingerprint of its runtime objects at the last relist
	lastRelist time.Time
	relistErr  error
}

// podRecord is what the loop remembers of one pod between syncs.
type podRecord struct {
	lastPod *corev1.Pod
	waiting map[string]waitingInfo
	// sandboxFailed says the last RunPodSandbox failed.
	sandboxFailed bool
	// cleaned says the runtime objects, volumes and cgroups of a finished pod are gone.
	cleaned bool
}

const uidIndex = "uid"

// New builds the loop and its pod informer (pods bound to NodeName); Run starts them.
func New(cfg Config) (*Loop, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Loop{
		cfg: cfg, log: cfg.Log.With("component", "pods"), runtime: cfg.Runtime, cgroups: cfg.Cgroups,
		volumes: cfg.Volumes, hooks: cfg.Hooks, env: cfg.Env, recorder: cfg.Recorder, clock: cfg.Clock,
		cache:        newRuntimeCache(),
		crashBackoff: newBackoff(cfg.CrashBackOff, cfg.MaxBackOff, cfg.Clock),
		pullGate:     newRetryGate(cfg.PullBackOff, cfg.MaxBackOff, cfg.Clock),
		createGate:   newRetryGate(cfg.CrashBackOff, cfg.MaxBackOff, cfg.Clock),
		records:      map[string]*podRecord{},
		relisted:     map[string]string{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "pods", Clock: cfg.Clock}),
	}
	l.prober = cfg.NewProber(l.Resync)
	lw := cache.NewFilteredListWatchFromClient(cfg.Client.CoreV1().RESTClient(), "pods", "", func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	})
	l.informer = cache.NewSharedIndexInformer(lw, &corev1.Pod{}, cfg.ResyncPeriod, cache.Indexers{
		uidIndex: func(obj any) ([]string, error) { return []string{string(obj.(*corev1.Pod).UID)}, nil },
	})
	if err := l.informer.SetTransform(dropManagedFields); err != nil {
		return nil, err
	}
	_, err = l.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { l.enqueuePod(obj) },
		UpdateFunc: func(_, obj any) { l.enqueuePod(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			l.enqueuePod(obj)
		},
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// dropManagedFields is the pod informer's transform: the loop never reads a pod's
// managed fields (a quarter of a cached pod's memory), and a status update without them
// keeps the stored ones — the API server takes a subresource's managed fields from the
// live object, never from the request.
func dropManagedFields(obj any) (any, error) {
	if pod, ok := obj.(*corev1.Pod); ok {
		pod.ManagedFields = nil
	}
	return obj, nil
}

// newBackoff is the kubelet's back-off: doubling from initial to max, forgotten after
// 2×max without failures (so a container that ran 10 minutes starts over at 10 s).
func newBackoff(initial, maxDelay time.Duration, clk clock.Clock) *flowcontrol.Backoff {
	return flowcontrol.NewFakeBackOff(initial, maxDelay, clk)
}

func (l *Loop) enqueuePod(obj any) {
	if pod, ok := obj.(*corev1.Pod); ok {
		l.queue.Add(string(pod.UID))
	}
}

// Resync queues a sync of the pod (probers call it when a result changed).
func (l *Loop) Resync(uid types.UID) { l.queue.Add(string(uid)) }

// Run runs the informer, the relist and the workers until ctx ends, then waits for
// them. In-flight CRI calls finish (bounded by their own timeouts).
func (l *Loop) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer l.queue.ShutDown()
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.informer.Run(ctx.Done())
	}()
	if !cache.WaitForCacheSync(ctx.Done(), l.informer.HasSynced) {
		return ctx.Err()
	}
	// The first relist queues every pod the runtime has, including ones the API no
	// longer knows (deleted while the agent was down).
	l.relist(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := l.clock.NewTicker(l.cfg.RelistPeriod)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C():
				l.relist(ctx)
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.dispatch(ctx)
	}()
	<-ctx.Done()
	return nil
}

// dispatch syncs each pod the queue hands out in a goroutine of its own, at most
// Workers at once. Idle pods cost no goroutine, and a burst of new pods starts together
// (as the runtime would start them for as many callers) instead of waiting for a fixed
// pool's slots behind one another's sandbox and container creation.
func (l *Loop) dispatch(ctx context.Context) {
	slots := make(chan struct{}, l.cfg.Workers)
	var syncs sync.WaitGroup
	defer syncs.Wait()
	for {
		slots <- struct{}{}
		uid, quit := l.queue.Get()
		if quit {
			return
		}
		syncs.Add(1)
		go func() {
			defer syncs.Done()
			defer func() { <-slots }()
			l.work(ctx, uid)
		}()
	}
}

func (l *Loop) work(ctx context.Context, uid string) {
	defer l.queue.Done(uid)
	after, err := l.sync(ctx, uid)
	switch {
	case err != nil && ctx.Err() == nil:
		l.log.Debug("sync pod", "uid", uid, "err", err)
		l.queue.AddRateLimited(uid)
	case after > 0:
		l.queue.Forget(uid)
		l.queue.AddAfter(uid, after)
	default:
		l.queue.Forget(uid)
	}
}

// relist lists every sandbox and container and queues the pods whose runtime objects
// changed since the last relist (containerd 1.6 sends no events).
func (l *Loop) relist(ctx context.Context) {
	sandboxes, err := l.runtime.ListPodSandboxSummaries(ctx, labelPodUID)
	var containers []cri.Summary
	if err == nil {
		containers, err = l.runtime.ListContainerSummaries(ctx, labelPodUID)
	}
	l.mu.Lock()
	l.relistErr = err
	if err == nil {
		l.lastRelist = l.clock.Now()
	}
	l.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			l.log.Debug("relist", "err", err)
		}
		return
	}
	parts := map[string][]string{}
	sandboxIDs, containerIDs := map[string]bool{}, map[string]bool{}
	for _, sb := range sandboxes {
		if sb.Label == "" {
			continue // not a berth pod's
		}
		sandboxIDs[sb.ID] = true
		parts[sb.Label] = append(parts[sb.Label], "s"+sb.ID+strconv.Itoa(int(sb.State)))
	}
	for _, c := range containers {
		if c.Label == "" {
			continue
		}
		containerIDs[c.ID] = true
		parts[c.Label] = append(parts[c.Label], "c"+c.ID+strconv.Itoa(int(c.State)))
	}
	l.cache.prune(sandboxIDs, containerIDs)
	now := make(map[string]string, len(parts))
	for uid, p := range parts {
		sort.Strings(p)
		now[uid] = strings.Join(p, ",")
	}
	l.mu.Lock()
	prev := l.relisted
	l.relisted = now
	l.mu.Unlock()
	for uid, fp := range now {
		if prev[uid] != fp {
			l.queue.Add(uid)
		}
	}
	for uid := range prev {
		if _, ok := now[uid]; !ok {
			l.queue.Add(uid)
		}
	}
}

// Healthy reports whether the runtime was listed recently (the kubelet's PLEG check).
func (l *Loop) Healthy() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.relistErr != nil {
		return fmt.Errorf("runtime relist failed: %w", l.relistErr)
	}
	if !l.lastRelist.IsZero() && l.clock.Since(l.lastRelist) > 3*time.Minute {
		return fmt.Errorf("runtime not relisted for %v", l.clock.Since(l.lastRelist).Round(time.Second))
	}
	return nil
}

// podByUID is the informer's pod with that UID (nil if the API has none).
func (l *Loop) podByUID(uid string) *corev1.Pod {
	objs, err := l.informer.GetIndexer().ByIndex(uidIndex, uid)
	if err != nil || len(objs) == 0 {
		return nil
	}
	return objs[0].(*corev1.Pod)
}

func (l *Loop) record(uid string) *podRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, ok := l.records[uid]
	if !ok {
		r = &podRecord{waiting: map[string]waitingInfo{}}
		l.records[uid] = r
	}
	return r
}

func (l *Loop) forget(uid string) {
	l.mu.Lock()
	delete(l.records, uid)
	l.mu.Unlock()
	l.pullGate.forgetPrefix(uid + "/")
	l.createGate.forgetPrefix(uid + "/")
	l.prober.Forget(types.UID(uid))
}

func (l *Loop) event(pod *corev1.Pod, eventType, reason, message string) {
	if pod != nil {
		l.recorder.Event(pod, eventType, reason, message)
	}
}

func isNotFound(err error) bool { return cri.IsNotFound(err) }
