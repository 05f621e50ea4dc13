package printers

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Column descriptions come from extensions/v1beta1, as in Kubernetes.

func registerApps(r *Registry) {
	apps := func(resource string) schema.GroupResource {
		return schema.GroupResource{Group: appsv1.GroupName, Resource: resource}
	}
	r.Register(apps("replicasets"), replicaSetPrinter())
	r.Register(apps("deployments"), deploymentPrinter())
}

func replicaSetPrinter() Printer {
	spec := extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()
	status := extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Desired", "integer", spec["replicas"]),
			column("Current", "integer", status["replicas"]),
			column("Ready", "integer", status["readyReplicas"]),
			ageColumn(),
			wide(column("Containers", "string", containersDescription)),
			wide(column("Images", "string", imagesDescription)),
			wide(column("Selector", "string", spec["selector"])),
		},
		Row: typed(func(rs *appsv1.ReplicaSet, now time.Time) metav1.TableRow {
			names, images := layoutContainerCells(rs.Spec.Template.Spec.Containers)
			return cells(rs.Name, int64(int32Value(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
				age(rs.CreationTimestamp, now), names, images, metav1.FormatLabelSelector(rs.Spec.Selector))
		}),
	}
}

func deploymentPrinter() Printer {
	spec := extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()
	status := extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Ready", "string", "Number of the pod with ready state"),
			column("Up-to-date", "string", status["updatedReplicas"]),
			column("Available", "string", status["availableReplicas"]),
			ageColumn(),
			wide(column("Containers", "string", containersDescription)),
			wide(column("Images", "string", imagesDescription)),
			wide(column("Selector", "string", spec["selector"])),
		},
		Row: typed(func(d *appsv1.Deployment, now time.Time) metav1.TableRow {
			selector := "<invalid>"
			if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
				selector = s.String()
			}
			names, images := layoutContainerCells(d.Spec.Template.Spec.Containers)
			return cells(d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, int32Value(d.Spec.Replicas)),
				int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now),
				names, images, selector)
		}),
	}
}
