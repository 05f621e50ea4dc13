package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// workloadKind is what the controller needs of the kind it manages. The controller works
// on *appsv1.ReplicaSet values; for ReplicationControllers they are views converted from
// the real object, which travels alongside for events and writes.
type workloadKind interface {
	gvk() schema.GroupVersionKind
	informer() cache.SharedIndexInformer
	// view converts an informer object (not a tombstone) to a ReplicaSet view.
	view(obj any) (*appsv1.ReplicaSet, bool)
	// get returns the cached workload as a view and the original object.
	get(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error)
	list(namespace string) ([]*appsv1.ReplicaSet, error)
	// getFresh reads the workload from the API, bypassing the cache.
	getFresh(ctx context.Context, namespace, name string) (metav1.Object, error)
	// updateStatus writes status onto orig through the status subresource.
	updateStatus(ctx context.Context, orig runtime.Object, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error)
	// reread returns the current object from the API (to retry a conflicting write).
	reread(ctx context.Context, orig runtime.Object) (runtime.Object, error)
	// hasTerminatingField says whether the kind's status reports terminatingReplicas.
	hasTerminatingField() bool
}

// replicaSets is the apps/v1 ReplicaSet kind.
type replicaSets struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister appslisters.ReplicaSetLister
}

func (replicaSets) gvk() schema.GroupVersionKind {
	return appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
}
func (k replicaSets) informer() cache.SharedIndexInformer { return k.inf }
func (replicaSets) hasTerminatingField() bool             { return true }
func (replicaSets) view(obj any) (*appsv1.ReplicaSet, bool) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	return rs, ok
}

func (k replicaSets) get(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error) {
	rs, err := k.lister.ReplicaSets(namespace).Get(name)
	if err != nil {
		return nil, nil, err
	}
	return rs, rs, nil
}

func (k replicaSets) list(namespace string) ([]*appsv1.ReplicaSet, error) {
	return k.lister.ReplicaSets(namespace).List(labels.Everything())
}

func (k replicaSets) getFresh(ctx context.Context, namespace, name string) (metav1.Object, error) {
	return k.client.AppsV1().ReplicaSets(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (k replicaSets) reread(ctx context.Context, orig runtime.Object) (runtime.Object, error) {
	rs := orig.(*appsv1.ReplicaSet)
	return k.client.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
}

func (k replicaSets) updateStatus(ctx context.Context, orig runtime.Object, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	rs := orig.(*appsv1.ReplicaSet).DeepCopy()
	rs.Status = status
	return k.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
}

// replicationControllers is the core/v1 ReplicationController kind, seen as ReplicaSets.
type replicationControllers struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister corelisters.ReplicationControllerLister
}

func (replicationControllers) gvk() schema.GroupVersionKind {
	return corev1.SchemeGroupVersion.WithKind("ReplicationController")
}
func (k replicationControllers) informer() cache.SharedIndexInformer { return k.inf }
func (replicationControllers) hasTerminatingField() bool             { return false }

func (replicationControllers) view(obj any) (*appsv1.ReplicaSet, bool) {
	rc, ok := obj.(*corev1.ReplicationController)
	if !ok {
		return nil, false
	}
	return rcToRS(rc), true
}

func (k replicationControllers) get(namespace, name string) (*appsv1.ReplicaSet, runtime.Object, error) {
	rc, err := k.lister.ReplicationControllers(namespace).Get(name)
	if err != nil {
		return nil, nil, err
	}
	return rcToRS(rc), rc, nil
}

func (k replicationControllers) list(namespace string) ([]*appsv1.ReplicaSet, error) {
	rcs, err := k.lister.ReplicationControllers(namespace).List(labels.Everything())
	out := make([]*appsv1.ReplicaSet, 0, len(rcs))
	for _, rc := range rcs {
		out = append(out, rcToRS(rc))
	}
	return out, err
}

func (k replicationControllers) getFresh(ctx context.Context, namespace, name string) (metav1.Object, error) {
	return k.client.CoreV1().ReplicationControllers(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (k replicationControllers) reread(ctx context.Context, orig runtime.Object) (runtime.Object, error) {
	rc := orig.(*corev1.ReplicationController)
	return k.client.CoreV1().ReplicationControllers(rc.Namespace).Get(ctx, rc.Name, metav1.GetOptions{})
}

func (k replicationControllers) updateStatus(ctx context.Context, orig runtime.Object, status appsv1.ReplicaSetStatus) (*appsv1.ReplicaSet, error) {
	rc := orig.(*corev1.ReplicationController).DeepCopy()
	rc.Status = corev1.ReplicationControllerStatus{
		Replicas:             status.Replicas,
		FullyLabeledReplicas: status.FullyLabeledReplicas,
		ReadyReplicas:        status.ReadyReplicas,
		AvailableReplicas:    status.AvailableReplicas,
		ObservedGeneration:   status.ObservedGeneration,
	}
	for _, c := range status.Conditions {
		rc.Status.Conditions = append(rc.Status.Conditions, corev1.ReplicationControllerCondition{
			Type: corev1.ReplicationControllerConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	updated, err := k.client.CoreV1().ReplicationControllers(rc.Namespace).UpdateStatus(ctx, rc, metav1.UpdateOptions{})
	if err != nil {
		return nil, err
	}
	return rcToRS(updated), nil
}

// rcToRS presents a ReplicationController as a ReplicaSet: its map selector becomes
// matchLabels. The metadata is shared with rc (read-only use).
func rcToRS(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: rc.ObjectMeta,
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        rc.Spec.Replicas,
			MinReadySeconds: rc.Spec.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
		},
		Status: appsv1.ReplicaSetStatus{
			Replicas:             rc.Status.Replicas,
			FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
			ReadyReplicas:        rc.Status.ReadyReplicas,
			AvailableReplicas:    rc.Status.AvailableReplicas,
			ObservedGeneration:   rc.Status.ObservedGeneration,
		},
	}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template
	}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetConditionType(c.Type), Status: c.Status,
			LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message,
		})
	}
	return rs
}
