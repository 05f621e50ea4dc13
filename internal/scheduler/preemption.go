package scheduler

import (
	"context"
	"encoding/json"
	"errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/berth/berth/internal/scheduler/framework"
)

// preemption is what one failed attempt decided to preempt: the node the pod is
// nominated to, the pods to evict there, and the pods of lower priority nominated to the
// same node, which lose their nomination.
type preemption struct {
	framework.Preemption
	displaced []*corev1.Pod
}

// preemptLocked runs preemption for a pod that fits nowhere (kube-scheduler's
// DefaultPreemption PostFilter). On success it nominates the node in the snapshot at once,
// so that the next pods do not take the room being freed. Otherwise it adds Kubernetes'
// "preemption: …" explanation to the error. Caller holds the cache lock.
func (s *Scheduler) preemptLocked(pi *framework.PodInfo, err error) preemption {
	var fe *framework.FitError
	if !errors.As(err, &fe) || fe.PreFilterMsg != "" {
		return preemption{}
	}
	pod := pi.Pod
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		fe.PostFilterMsg = framework.NotEligibleMessage("preemptionPolicy=Never")
		return preemption{}
	}
	snap := s.cache.snap
	// Victims it already caused are still terminating on its nominated node: wait for
	// them instead of preempting more.
	if ni := snap.Get(snap.NominatedNode(pod.UID)); ni != nil {
		prio := framework.Priority(pod)
		for _, p := range ni.Pods {
			if p.Terminating() && framework.Priority(p.Pod) < prio {
				fe.PostFilterMsg = framework.NotEligibleMessage("a terminating pod on the nominated node")
				return preemption{}
			}
		}
	}
	pre, noCandidate := s.algo.Preempt(snap, pi, s.disruptionBudgets())
	if noCandidate != nil {
		fe.PostFilterMsg = framework.PreemptionMessage(noCandidate)
		return preemption{}
	}
	out := preemption{Preemption: pre}
	prio := framework.Priority(pod)
	for _, other := range snap.NominatedPods(pre.Node) {
		if other.Pod.UID != pod.UID && framework.Priority(other.Pod) < prio {
			out.displaced = append(out.displaced, other.Pod)
		}
	}
	for _, p := range out.displaced {
		snap.Unnominate(p.UID)
	}
	snap.Nominate(pi, pre.Node)
	return out
}

// preempt evicts the victims as kube-scheduler does — a DisruptionTarget condition, then a
// graceful delete, and a Preempted event — and takes the nomination from the displaced
// pods.
func (s *Scheduler) preempt(ctx context.Context, pod *corev1.Pod, pre preemption) {
	s.log.Info("preempting", "pod", pod.Namespace+"/"+pod.Name, "node", pre.Node, "victims", len(pre.Victims), "budgetsBroken", pre.Violations)
	for _, v := range pre.Victims {
		victim := v.Pod
		cond := corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason:             corev1.PodReasonPreemptionByScheduler,
			Message:            Name + ": preempting to accommodate a higher priority pod",
			LastTransitionTime: metav1.NewTime(s.clock.Now()),
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"uid": victim.UID},
			"status":   map[string]any{"conditions": []corev1.PodCondition{cond}},
		})
		if err == nil {
			err = s.api.PatchStatus(ctx, victim.Namespace, victim.Name, patch)
		}
		if err == nil || !isGone(err) {
			err = s.api.Delete(ctx, victim.Namespace, victim.Name, victim.UID)
		}
		if err != nil {
			if !isGone(err) {
				s.log.Info("preempt", "victim", victim.Namespace+"/"+victim.Name, "err", err)
			}
			continue
		}
		s.recorder.Eventf(victim, corev1.EventTypeNormal, "Preempted", "Preempted by pod %s on node %s", pod.UID, pre.Node)
	}
	for _, p := range pre.displaced {
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"uid": p.UID},
			"status":   map[string]any{"nominatedNodeName": nil},
		})
		if err == nil {
			err = s.api.PatchStatus(ctx, p.Namespace, p.Name, patch)
		}
		if err != nil && !isGone(err) {
			s.log.Info("clear nominated node", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// disruptionBudgets lists the PodDisruptionBudgets preemption tries to respect.
func (s *Scheduler) disruptionBudgets() []framework.DisruptionBudget {
	if s.pdbs == nil {
		return nil
	}
	list, err := s.pdbs.List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make([]framework.DisruptionBudget, 0, len(list))
	for _, pdb := range list {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			continue
		}
		out = append(out, framework.DisruptionBudget{Namespace: pdb.Namespace, Selector: sel,
			Allowed: pdb.Status.DisruptionsAllowed, Disrupted: pdb.Status.DisruptedPods})
	}
	return out
}
