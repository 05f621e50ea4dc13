package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/scheduler/framework"
	"github.com/berth/berth/internal/scheduler/plugins"
	"github.com/berth/berth/internal/scheduler/queue"
)

// Name is the scheduler's name: pods with this spec.schedulerName (or none) are ours, and
// events are reported by it.
const Name = corev1.DefaultSchedulerName

// maxInFlightWrites bounds concurrent API writes (bindings, status updates); the scheduling
// loop waits when they lag, so assumed pods cannot pile up without bound.
const maxInFlightWrites = 128

// Scheduler is the scheduling loop with its cache, queue and writers.
type Scheduler struct {
	log      *slog.Logger
	api      podWriter
	recorder record.EventRecorder
	queue    *queue.Queue
	cache    *cache
	algo     *framework.Algorithm
	clock    clock.Clock

	synced   []toolscache.InformerSynced
	services corelisters.ServiceLister
	rcs      corelisters.ReplicationControllerLister
	rss      appslisters.ReplicaSetLister
	pdbs     policylisters.PodDisruptionBudgetLister

	writes chan struct{}
	wg     sync.WaitGroup
	// observe, when set, is told of every decision (tests, benchmarks).
	observe func(Decision)
}

// Decision is what one scheduling attempt decided.
type Decision struct {
	Pod      *corev1.Pod
	Node     string // empty when unschedulable
	Err      error
	Duration time.Duration
}

// New builds the scheduler from the shared controller context.
func New(cc *controller.Context) (controller.Runnable, error) {
	core := cc.Informers.Core().V1()
	client, err := cc.OwnClient()
	if err != nil {
		return nil, err
	}
	s := newScheduler(cc.Log.With("controller", "scheduler"), clientWriter{client}, cc.Recorder(Name), clock.RealClock{})
	s.services = core.Services().Lister()
	s.rcs = core.ReplicationControllers().Lister()
	s.rss = cc.Informers.Apps().V1().ReplicaSets().Lister()
	s.pdbs = cc.Informers.Policy().V1().PodDisruptionBudgets().Lister()
	for _, inf := range []toolscache.SharedIndexInformer{
		core.Pods().Informer(), core.Nodes().Informer(), core.Namespaces().Informer(),
		core.Services().Informer(), core.ReplicationControllers().Informer(),
		cc.Informers.Apps().V1().ReplicaSets().Informer(),
		cc.Informers.Policy().V1().PodDisruptionBudgets().Informer(),
	} {
		s.synced = append(s.synced, inf.HasSynced)
	}
	if err := s.addHandlers(core.Pods().Informer(), core.Nodes().Informer(), core.Namespaces().Informer()); err != nil {
		return nil, err
	}
	return s, nil
}

func newScheduler(log *slog.Logger, api podWriter, recorder record.EventRecorder, clk clock.Clock) *Scheduler {
	return &Scheduler{
		log: log, api: api, recorder: recorder, clock: clk,
		queue:  queue.New(clk),
		cache:  newCache(),
		algo:   framework.NewAlgorithm(plugins.DefaultProfile()),
		writes: make(chan struct{}, maxInFlightWrites),
	}
}

// Name implements controller.Runnable.
func (s *Scheduler) Name() string { return "scheduler" }

// Run schedules until ctx ends, then waits for the writes it started.
func (s *Scheduler) Run(ctx context.Context) error {
	if !toolscache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return ctx.Err()
	}
	s.log.Info("scheduler started")
	var queueDone sync.WaitGroup
	queueDone.Go(func() { s.queue.Run(ctx) })
	defer queueDone.Wait()
	defer s.wg.Wait()
	for {
		qp, err := s.queue.Pop()
		if err != nil {
			return nil
		}
		s.scheduleOne(ctx, qp)
	}
}

// scheduleOne runs one scheduling cycle for qp and starts its binding.
func (s *Scheduler) scheduleOne(ctx context.Context, qp *queue.QueuedPod) {
	pod := qp.Pod
	if pod.DeletionTimestamp != nil || s.cache.placed(pod.UID) {
		s.queue.Done(pod.UID)
		return
	}
	start := s.clock.Now()
	pi := framework.NewPodInfo(pod)
	pi.DefaultSpreadSelector = s.defaultSelector(pod)

	s.cache.mu.Lock()
	res, err := s.algo.Schedule(s.cache.snap, pi)
	var pre preemption
	if err == nil {
		s.cache.assumeLocked(pi, res.NodeName)
	} else {
		pre = s.preemptLocked(pi, err)
	}
	s.cache.mu.Unlock()

	if s.observe != nil {
		s.observe(Decision{Pod: pod, Node: res.NodeName, Err: err, Duration: s.clock.Since(start)})
	}
	if err != nil {
		s.unschedulable(ctx, qp, err, pre)
		return
	}
	s.bind(ctx, qp, res.NodeName)
}

// unschedulable parks the pod until an event may help, and tells the user why. After a
// preemption it also nominates the node and evicts the victims.
func (s *Scheduler) unschedulable(ctx context.Context, qp *queue.QueuedPod, err error, pre preemption) {
	requeueOn := framework.EventNodeAdd
	var fe *framework.FitError
	if errors.As(err, &fe) && fe.RequeueOn != 0 {
		requeueOn = fe.RequeueOn
	}
	if pre.Node != "" {
		requeueOn |= framework.EventPodDelete // the victims leaving
	}
	pod := qp.Pod
	s.queue.Requeue(qp, requeueOn)
	msg := err.Error()
	s.log.Debug("pod unschedulable", "pod", pod.Namespace+"/"+pod.Name, "reason", msg)
	s.write(ctx, func(ctx context.Context) {
		s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
		if pre.Node != "" {
			s.preempt(ctx, pod, pre)
		}
		if err := s.setUnschedulableCondition(ctx, pod, corev1.PodReasonUnschedulable, msg, pre.Node); err != nil {
			s.log.Info("update pod condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	})
}

// bind writes the decision through pods/binding, off the scheduling loop.
func (s *Scheduler) bind(ctx context.Context, qp *queue.QueuedPod, node string) {
	pod := qp.Pod
	s.write(ctx, func(ctx context.Context) {
		err := s.api.Bind(ctx, &corev1.Binding{
			ObjectMeta: metaOf(pod),
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		})
		if err == nil {
			s.queue.Done(pod.UID)
			s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
			return
		}
		// The assumption was wrong: free what it held, for this pod and for others.
		if s.cache.forget(pod.UID) {
			s.queue.MoveOnEvent(framework.EventPodDelete)
		}
		if isGone(err) {
			s.queue.Delete(pod.UID)
			return
		}
		s.log.Info("binding failed", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
		s.queue.Requeue(qp, 0)
		msg := fmt.Sprintf("Binding rejected: %v", err)
		s.recorder.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
		if err := s.setUnschedulableCondition(ctx, pod, corev1.PodReasonSchedulerError, msg, ""); err != nil {
			s.log.Info("update pod condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		}
	})
}

// write runs an API write in its own goroutine, at most maxInFlightWrites at once.
func (s *Scheduler) write(ctx context.Context, f func(context.Context)) {
	select {
	case s.writes <- struct{}{}:
	case <-ctx.Done():
		return
	}
	s.wg.Go(func() {
		defer func() { <-s.writes }()
		f(ctx)
	})
}

// defaultSelector selects the pods that belong with pod — same services, same ReplicaSet
// or ReplicationController — for system default spreading; nil when there are none.
func (s *Scheduler) defaultSelector(pod *corev1.Pod) labels.Selector {
	set := labels.Set{}
	if s.services != nil {
		if svcs, err := s.services.Services(pod.Namespace).List(labels.Everything()); err == nil {
			for _, svc := range svcs {
				if len(svc.Spec.Selector) > 0 && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)) {
					set = labels.Merge(set, svc.Spec.Selector)
				}
			}
		}
	}
	selector := labels.SelectorFromSet(set)
	ref := controllerOf(pod)
	switch {
	case ref == nil:
	case ref.Kind == "ReplicationController" && ref.APIVersion == "v1" && s.rcs != nil:
		if rc, err := s.rcs.ReplicationControllers(pod.Namespace).Get(ref.Name); err == nil {
			selector = labels.SelectorFromSet(labels.Merge(set, rc.Spec.Selector))
		}
	case ref.Kind == "ReplicaSet" && ref.APIVersion == "apps/v1" && s.rss != nil:
		if rs, err := s.rss.ReplicaSets(pod.Namespace).Get(ref.Name); err == nil {
			if other, err := labelSelector(rs.Spec.Selector); err == nil {
				if reqs, ok := other.Requirements(); ok {
					selector = selector.Add(reqs...)
				}
			}
		}
	}
	if selector.Empty() {
		return nil
	}
	return selector
}
