package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var priorityClassesGR = schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"}

func TestPriorityClassColumnsAndRows(t *testing.T) {
	assertColumns(t, priorityClassesGR, []col{
		{"Name", "string", 0}, {"Value", "integer", 0}, {"Global-Default", "boolean", 0}, {"Age", "string", 0}, {"PreemptionPolicy", "string", 0},
	})

	high := &schedulingv1.PriorityClass{ObjectMeta: objectMeta("high", time.Minute), Value: 1000, GlobalDefault: true,
		PreemptionPolicy: ptr(corev1.PreemptNever)}
	assertCells(t, printRow(t, priorityClassesGR, high).Cells, []interface{}{"high", int64(1000), true, "60s", "Never"})
	bare := &schedulingv1.PriorityClass{ObjectMeta: objectMeta("bare", 0), Value: -1}
	assertCells(t, printRow(t, priorityClassesGR, bare).Cells, []interface{}{"bare", int64(-1), false, "0s", ""})
}
