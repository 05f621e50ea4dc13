package printers

import (
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func registerPolicy(r *Registry) {
	r.Register(schema.GroupResource{Group: policyv1.GroupName, Resource: "poddisruptionbudgets"}, podDisruptionBudgetPrinter())
}

// podDisruptionBudgetPrinter: Kubernetes prints N/A for the bound a budget does not set.
func podDisruptionBudgetPrinter() Printer {
	doc := policyv1.PodDisruptionBudgetSpec{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Min Available", "string", doc["minAvailable"]),
			column("Max Unavailable", "string", doc["maxUnavailable"]),
			column("Allowed Disruptions", "integer", policyv1.PodDisruptionBudgetStatus{}.SwaggerDoc()["disruptionsAllowed"]),
			ageColumn(),
		},
		Row: typed(func(pdb *policyv1.PodDisruptionBudget, now time.Time) metav1.TableRow {
			minAvailable, maxUnavailable := "N/A", "N/A"
			if pdb.Spec.MinAvailable != nil {
				minAvailable = pdb.Spec.MinAvailable.String()
			}
			if pdb.Spec.MaxUnavailable != nil {
				maxUnavailable = pdb.Spec.MaxUnavailable.String()
			}
			return cells(pdb.Name, minAvailable, maxUnavailable, int64(pdb.Status.DisruptionsAllowed), age(pdb.CreationTimestamp, now))
		}),
	}
}
