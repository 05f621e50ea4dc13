package registry

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SystemNamespaces exist from the first start.
var SystemNamespaces = []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}

// EnsureSystemNamespaces creates the system namespaces that are missing.
func EnsureSystemNamespaces(ctx context.Context, namespaces *Store) error {
	for _, name := range SystemNamespaces {
		_, err := namespaces.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	return nil
}

// NamespaceLifecycle refuses creates in namespaces that do not exist or are terminating,
// with the errors of Kubernetes' NamespaceLifecycle admission plugin.
func NamespaceLifecycle(namespaces *Store) NamespaceCheck {
	return namespaceCheck(func(ctx context.Context, ns string) (*corev1.Namespace, error) {
		obj, err := namespaces.Get(ctx, "", ns)
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.Namespace), nil
	})
}

// namespaceCheck builds the check over a way to look namespaces up.
func namespaceCheck(lookup func(ctx context.Context, ns string) (*corev1.Namespace, error)) NamespaceCheck {
	return func(ctx context.Context, gr schema.GroupResource, ns, name string) error {
		n, err := lookup(ctx, ns)
		if err != nil {
			return err
		}
		if n.DeletionTimestamp != nil || n.Status.Phase == corev1.NamespaceTerminating {
			err := apierrors.NewForbidden(gr, name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
			err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{
				Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", ns), Field: "metadata.namespace",
			})
			return err
		}
		return nil
	}
}

// CachedNamespaceLifecycle is NamespaceLifecycle answered from a watched copy of the
// namespaces, so creates do not each read storage; a namespace the copy does not know
// yet is read from storage. Namespaces always pass through Terminating before they go,
// so the copy sees a deletion before it matters. The watch runs until ctx ends.
func CachedNamespaceLifecycle(ctx context.Context, namespaces *Store) NamespaceCheck {
	known := follow[*corev1.Namespace](ctx, namespaces)
	return namespaceCheck(func(ctx context.Context, ns string) (*corev1.Namespace, error) {
		if n, ok := known.get(ns); ok {
			return n, nil
		}
		obj, err := namespaces.Get(ctx, "", ns)
		if err != nil {
			return nil, err
		}
		return obj.(*corev1.Namespace), nil
	})
}

// namespaceCheckDelete refuses to delete the namespaces Kubernetes' NamespaceLifecycle
// admission keeps forever.
func namespaceCheckDelete(obj runtime.Object) error {
	switch name := obj.(*corev1.Namespace).Name; name {
	case metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic:
		return apierrors.NewForbidden(corev1.Resource("namespaces"), name, errors.New("this namespace may not be deleted"))
	}
	return nil
}

// namespaceBeforeDelete turns a namespace delete into Terminating while its spec
// finalizers (the namespace controller's) are pending.
func namespaceBeforeDelete(obj runtime.Object) bool {
	ns := obj.(*corev1.Namespace)
	if len(ns.Spec.Finalizers) == 0 {
		return false
	}
	ns.Status.Phase = corev1.NamespaceTerminating
	return true
}

func namespaceFinalized(obj runtime.Object) bool {
	return len(obj.(*corev1.Namespace).Spec.Finalizers) == 0
}

// qosClass computes a pod's QoS class as Kubernetes does.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	hasAny := false
	containers := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			hasAny = true
			if cur, ok := requests[name]; ok {
				q.Add(cur)
			}
			requests[name] = q
		}
		found := map[corev1.ResourceName]bool{}
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			hasAny = true
			found[name] = true
			if cur, ok := limits[name]; ok {
				q.Add(cur)
			}
			limits[name] = q
		}
		if !found[corev1.ResourceCPU] || !found[corev1.ResourceMemory] {
			guaranteed = false
		}
	}
	if !hasAny {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
