package printers

import (
	"testing"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestPodDisruptionBudgetColumnsAndRows(t *testing.T) {
	gr := schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}
	assertColumns(t, gr, []col{
		{"Name", "string", 0}, {"Min Available", "string", 0}, {"Max Unavailable", "string", 0}, {"Allowed Disruptions", "integer", 0}, {"Age", "string", 0},
	})
	two, half := intstr.FromInt32(2), intstr.FromString("50%")
	minAvail := &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta("web", time.Minute),
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &two}, Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}
	assertCells(t, printRow(t, gr, minAvail).Cells, []interface{}{"web", "2", "N/A", int64(1), "60s"})
	maxUnavail := &policyv1.PodDisruptionBudget{ObjectMeta: objectMeta("db", 0), Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: &half}}
	assertCells(t, printRow(t, gr, maxUnavail).Cells, []interface{}{"db", "N/A", "50%", int64(0), "0s"})
}
