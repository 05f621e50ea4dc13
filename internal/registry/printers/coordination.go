package printers

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func registerCoordination(r *Registry) {
	r.Register(schema.GroupResource{Group: coordinationv1.GroupName, Resource: "leases"}, leasePrinter())
}

func leasePrinter() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Holder", "string", coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]),
			ageColumn(),
		},
		Row: typed(func(l *coordinationv1.Lease, now time.Time) metav1.TableRow {
			holder := ""
			if l.Spec.HolderIdentity != nil {
				holder = *l.Spec.HolderIdentity
			}
			return cells(l.Name, holder, age(l.CreationTimestamp, now))
		}),
	}
}
