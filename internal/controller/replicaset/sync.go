package replicaset

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// sync brings one workload's pods to spec.replicas and writes its status. It is idempotent:
// everything it decides comes from the caches and the expectations.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rs, orig, err := c.kind.get(namespace, name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		c.costs.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	// What this sync costs paces the syncs that status changes ask for.
	start := time.Now()
	defer func() { c.costs.record(key, time.Since(start)) }()
	needsSync := c.expectations.satisfied(key)
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		c.log.Error("invalid selector", "key", key, "err", err)
		return nil
	}
	// The pods it controls (those that no longer match must be seen to be released) and
	// the orphans it may adopt; pods of other controllers are none of its business.
	candidates, err := c.pods.candidates(namespace, rs.UID)
	if err != nil {
		return err
	}
	active, err := c.claimPods(ctx, rs, selector, filterActive(candidates))
	if err != nil {
		return err
	}
	var terminating []*corev1.Pod
	if c.kind.hasTerminatingField() {
		terminating = terminatingOwnedBy(candidates, rs.UID, selector)
	}

	var manageErr error
	if needsSync && rs.DeletionTimestamp == nil {
		manageErr = c.manageReplicas(ctx, key, active, rs, orig)
	}
	status := calculateStatus(rs, active, terminating, c.kind.hasTerminatingField(), manageErr, c.now())
	updated, err := c.updateStatus(ctx, rs, orig, status)
	if err != nil {
		return err
	}
	// Pods become available minReadySeconds after Ready without any event: look again then.
	if manageErr == nil && updated.Spec.MinReadySeconds > 0 &&
		updated.Status.ReadyReplicas == replicasOf(updated) && updated.Status.AvailableReplicas != replicasOf(updated) {
		c.queue.AddAfter(key, time.Duration(updated.Spec.MinReadySeconds)*time.Second)
	}
	return manageErr
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	claimer := &Claimer{
		Owner:    rs,
		OwnerGVK: c.kind.gvk(),
		Selector: selector,
		CanAdopt: RecheckOwner(rs.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.kind.getFresh(ctx, rs.Namespace, rs.Name)
		}),
		Patch: func(ctx context.Context, namespace, name string, patch []byte) error {
			_, err := c.client.CoreV1().Pods(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	return Claim(ctx, claimer, pods)
}

// manageReplicas creates or deletes pods so that active matches spec.replicas, at most
// burstReplicas per sync, recording expectations first so the informer events that follow
// are counted exactly once.
func (c *Controller) manageReplicas(ctx context.Context, key string, active []*corev1.Pod, rs *appsv1.ReplicaSet, orig runtime.Object) error {
	diff := len(active) - int(replicasOf(rs))
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		c.expectations.expectCreations(key, n)
		ref := ControllerRef(rs, c.kind.gvk())
		created, err := slowStartBatch(n, 1, func() error {
			err := c.createPod(ctx, rs, orig, ref)
			if err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // every create would fail; the namespace is going away anyway
			}
			return err
		})
		// Creations never attempted will not show up in the informer: stop expecting them.
		for range n - created {
			c.expectations.creationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		doomed := podsToDelete(active, c.relatedPods(rs), n, c.now())
		keys := make([]string, len(doomed))
		for i, p := range doomed {
			keys[i] = podKey(p)
		}
		c.expectations.expectDeletions(key, keys)
		errs := make([]error, len(doomed))
		var wg sync.WaitGroup
		for i, pod := range doomed {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.deletePodOf(ctx, orig, pod); err != nil {
					// The informer will not report this deletion.
					c.expectations.deletionObserved(key, podKey(pod))
					if !apierrors.IsNotFound(err) {
						errs[i] = err
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err // they are likely all the same; one is enough
			}
		}
	}
	return nil
}

func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet, orig runtime.Object, ref *metav1.OwnerReference) error {
	pod := podFromTemplate(&rs.Spec.Template, rs.Name, ref)
	if len(pod.Labels) == 0 {
		return errors.New("unable to create pods, no labels")
	}
	created, err := c.client.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(orig, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return err
	}
	c.recorder.Eventf(orig, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	return nil
}

func (c *Controller) deletePodOf(ctx context.Context, orig runtime.Object, pod *corev1.Pod) error {
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Eventf(orig, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("unable to delete pods: %w", err)
	}
	c.recorder.Eventf(orig, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
	return nil
}

// relatedPods are the active pods of rs and of the workloads controlled by the same owner
// (the other ReplicaSets of its Deployment); scale-down prefers pods on crowded nodes.
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet) []*corev1.Pod {
	owners := map[types.UID]bool{rs.UID: true}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		siblings, _ := c.kind.list(rs.Namespace)
		for _, s := range siblings {
			if sref := metav1.GetControllerOfNoCopy(s); sref != nil && sref.UID == ref.UID {
				owners[s.UID] = true
			}
		}
	}
	var out []*corev1.Pod
	for uid := range owners {
		pods, _ := c.pods.controlledBy(rs.Namespace, uid)
		out = append(out, filterActive(pods)...)
	}
	return out
}

// slowStartBatch calls fn count times in batches of 1, 2, 4, … (starting at initial), each
// batch in parallel, and stops after the first batch with an error. It returns how many
// calls succeeded; a persistent error (quota, admission) so costs a handful of requests.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}
