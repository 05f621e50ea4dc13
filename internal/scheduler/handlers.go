package scheduler

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/berth/berth/internal/scheduler/framework"
)

// addHandlers feeds the cache and the queue from the informers.
func (s *Scheduler) addHandlers(pods, nodes, namespaces toolscache.SharedIndexInformer) error {
	if _, err := pods.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.podAdded(obj.(*corev1.Pod)) },
		UpdateFunc: func(old, cur any) { s.podUpdated(old.(*corev1.Pod), cur.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if pod := podOf(obj); pod != nil {
				s.podDeleted(pod)
			}
		},
	}); err != nil {
		return err
	}
	if _, err := nodes.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			s.cache.setNode(obj.(*corev1.Node))
			s.queue.MoveOnEvent(framework.EventNodeAdd)
		},
		UpdateFunc: func(old, cur any) {
			s.cache.setNode(cur.(*corev1.Node))
			if ev := nodeEvents(old.(*corev1.Node), cur.(*corev1.Node)); ev != 0 {
				s.queue.MoveOnEvent(ev)
			}
		},
		DeleteFunc: func(obj any) {
			switch n := obj.(type) {
			case *corev1.Node:
				s.cache.removeNode(n.Name)
			case toolscache.DeletedFinalStateUnknown:
				if n, ok := n.Obj.(*corev1.Node); ok {
					s.cache.removeNode(n.Name)
				}
			}
		},
	}); err != nil {
		return err
	}
	_, err := namespaces.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.cache.setNamespace(obj.(*corev1.Namespace)) },
		UpdateFunc: func(old, cur any) {
			s.cache.setNamespace(cur.(*corev1.Namespace))
			if !maps.Equal(old.(*corev1.Namespace).Labels, cur.(*corev1.Namespace).Labels) {
				s.queue.MoveOnEvent(framework.EventPodLabel) // namespaceSelector terms may now match
			}
		},
		DeleteFunc: func(obj any) {
			if ns, ok := obj.(*corev1.Namespace); ok {
				s.cache.removeNamespace(ns.Name)
			}
		},
	})
	return err
}

func (s *Scheduler) podAdded(pod *corev1.Pod) {
	switch {
	case pod.Spec.NodeName != "":
		if !terminal(pod) {
			s.cache.setPod(pod)
			s.queue.MoveOnEvent(framework.EventPodAdd)
		}
	case responsible(pod) && !terminal(pod) && pod.DeletionTimestamp == nil:
		if pod.Status.NominatedNodeName != "" {
			s.cache.nominate(pod)
		}
		s.queue.Add(pod)
	}
}

func (s *Scheduler) podUpdated(old, pod *corev1.Pod) {
	switch {
	case pod.Spec.NodeName != "":
		if old.Spec.NodeName == "" {
			s.queue.Delete(pod.UID)
		}
		if terminal(pod) {
			s.cache.removePod(pod.UID)
			s.queue.MoveOnEvent(framework.EventPodDelete)
			return
		}
		s.cache.setPod(pod)
		var ev framework.Event
		if old.Spec.NodeName == "" {
			ev |= framework.EventPodAdd
		}
		if !maps.Equal(old.Labels, pod.Labels) {
			ev |= framework.EventPodLabel
		}
		if resized(old.Spec.Containers, pod.Spec.Containers) {
			ev |= framework.EventPodScaleDown // in-place resize
		}
		if ev != 0 {
			s.queue.MoveOnEvent(ev)
		}
	case !responsible(pod):
	case terminal(pod) || pod.DeletionTimestamp != nil:
		s.queue.Delete(pod.UID)
		s.cache.removePod(pod.UID)
	default:
		// A nomination appears with the scheduler's own status write (the snapshot has it
		// already) and is cleared explicitly; other updates leave it alone.
		if pod.Status.NominatedNodeName != "" || old.Status.NominatedNodeName != "" {
			s.cache.nominate(pod)
		}
		s.queue.Update(pod)
	}
}

// resized says whether an in-place resize changed a container's resources. Only they
// matter here: every status write of a bound pod comes through podUpdated, and comparing
// whole containers cost the scheduler as much as its cache updates.
func resized(old, cur []corev1.Container) bool {
	if len(old) != len(cur) {
		return true
	}
	for i := range cur {
		if !sameQuantities(old[i].Resources.Requests, cur[i].Resources.Requests) ||
			!sameQuantities(old[i].Resources.Limits, cur[i].Resources.Limits) {
			return true
		}
	}
	return false
}

// sameQuantities compares resource lists by value ("1" and "1000m" are the same).
func sameQuantities(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for name, qa := range a {
		qb, ok := b[name]
		if !ok || qa.Cmp(qb) != 0 {
			return false
		}
	}
	return true
}

func (s *Scheduler) podDeleted(pod *corev1.Pod) {
	s.queue.Delete(pod.UID)
	placed := pod.Spec.NodeName != "" || s.cache.placed(pod.UID)
	s.cache.removePod(pod.UID) // also its nomination, if it was waiting for one
	if placed {
		s.queue.MoveOnEvent(framework.EventPodDelete)
	}
}

// nodeEvents says which scheduling-relevant parts of a node changed.
func nodeEvents(old, cur *corev1.Node) framework.Event {
	var ev framework.Event
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, cur.Status.Allocatable) {
		ev |= framework.EventNodeAllocatable
	}
	if !maps.Equal(old.Labels, cur.Labels) {
		ev |= framework.EventNodeLabel
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) {
		ev |= framework.EventNodeTaint
	}
	if old.Spec.Unschedulable != cur.Spec.Unschedulable {
		ev |= framework.EventNodeSchedulable
	}
	return ev
}

func podOf(obj any) *corev1.Pod {
	switch p := obj.(type) {
	case *corev1.Pod:
		return p
	case toolscache.DeletedFinalStateUnknown:
		pod, _ := p.Obj.(*corev1.Pod)
		return pod
	}
	return nil
}

// responsible: pods naming this scheduler, or none.
func responsible(pod *corev1.Pod) bool {
	return pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == Name
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}
