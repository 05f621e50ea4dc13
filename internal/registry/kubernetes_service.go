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
