package registry

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// EnsureKubernetesService creates default/kubernetes, the in-cluster name of the API
// server, on the first IP of the service range.
func EnsureKubernetesService(ctx context.Context, services *Store, clusterIP string, port int32) error {
	// On a restart it exists and its IP is allocated: creating it again would fail on
	// the allocation before the name clash.
	if _, err := services.Get(ctx, metav1.NamespaceDefault, "kubernetes"); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read the kubernetes service: %w", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       clusterIP,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{{
				Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(port),
			}},
		},
	}
	_, err := services.Create(ctx, metav1.NamespaceDefault, svc, CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the kubernetes service: %w", err)
	}
	return nil
}

// EnsureDNSService creates kube-system/kube-dns on the tenth IP of the service range,
// reserving the address that every node agent answers cluster DNS on (inside the node,
// so the Service has no selector and no endpoints). An address already taken by
// another Service is logged by the caller's failure, not fought over.
func EnsureDNSService(ctx context.Context, services *Store, clusterIP string) error {
	if _, err := services.Get(ctx, metav1.NamespaceSystem, "kube-dns"); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read the kube-dns service: %w", err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "kube-dns", Namespace: metav1.NamespaceSystem,
			Labels: map[string]string{
				"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "KubeDNS",
			},
			Annotations: map[string]string{
				"berth.dev/served-by": "every node agent, on this address inside the node",
			},
		},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       clusterIP,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		},
	}
	_, err := services.Create(ctx, metav1.NamespaceSystem, svc, CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the kube-dns service on %s: %w", clusterIP, err)
	}
	return nil
}
