package printers

import (
	"time"

	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func registerScheduling(r *Registry) {
	r.Register(schema.GroupResource{Group: schedulingv1.GroupName, Resource: "priorityclasses"}, priorityClassPrinter())
}

// priorityClassPrinter: Kubernetes prints PreemptionPolicy after Age, and an empty cell
// when the class has none.
func priorityClassPrinter() Printer {
	doc := schedulingv1.PriorityClass{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Value", "integer", doc["value"]),
			column("Global-Default", "boolean", doc["globalDefault"]),
			ageColumn(),
			column("PreemptionPolicy", "string", doc["preemptionPolicy"]),
		},
		Row: typed(func(pc *schedulingv1.PriorityClass, now time.Time) metav1.TableRow {
			policy := ""
			if pc.PreemptionPolicy != nil {
				policy = string(*pc.PreemptionPolicy)
			}
			return cells(pc.Name, int64(pc.Value), pc.GlobalDefault, age(pc.CreationTimestamp, now), policy)
		}),
	}
}
