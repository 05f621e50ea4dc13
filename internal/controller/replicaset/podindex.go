package replicaset

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// podsByController indexes pods by the UID of their controller, and pods without one by
// "orphan/<namespace>": a sync reads the pods it owns and the orphans it may adopt instead
// of every pod of the namespace (with one 10 000-replica ReplicaSet, each sync walked all
// of them, and a sync follows every pod change).
const podsByController = "berth.replicaset/controllerUID"

func orphanKey(namespace string) string { return "orphan/" + namespace }

func controllerIndex(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanKey(pod.Namespace)}, nil
}

// addPodIndex adds the index to the shared pod informer unless another controller of this
// package already did (the ReplicaSet and ReplicationController loops share it).
func addPodIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[podsByController]; ok {
		return nil
	}
	if err := inf.AddIndexers(cache.Indexers{podsByController: controllerIndex}); err != nil {
		return fmt.Errorf("pod index: %w", err)
	}
	return nil
}

// podIndex reads pods by controller from the indexed informer.
type podIndex struct{ indexer cache.Indexer }

// controlledBy returns the pods whose controller has uid, in namespace.
func (p podIndex) controlledBy(namespace string, uid types.UID) ([]*corev1.Pod, error) {
	return p.byKey(namespace, string(uid))
}

// candidates returns the pods a workload may claim: those it controls and the orphans of
// its namespace.
func (p podIndex) candidates(namespace string, uid types.UID) ([]*corev1.Pod, error) {
	owned, err := p.controlledBy(namespace, uid)
	if err != nil {
		return nil, err
	}
	orphans, err := p.byKey(namespace, orphanKey(namespace))
	if err != nil {
		return nil, err
	}
	return append(owned, orphans...), nil
}

func (p podIndex) byKey(namespace, key string) ([]*corev1.Pod, error) {
	objs, err := p.indexer.ByIndex(podsByController, key)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, obj := range objs {
		// UIDs are unique across namespaces, but a controller reference can name a UID
		// from another namespace; such a pod is not the workload's.
		if pod, ok := obj.(*corev1.Pod); ok && pod.Namespace == namespace {
			out = append(out, pod)
		}
	}
	return out, nil
}
