package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/utils/ptr"
)

func TestPriorityClass(t *testing.T) {
	pc := &schedulingv1.PriorityClass{Value: 10}
	Apply(pc)
	if pc.PreemptionPolicy == nil || *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatalf("preemptionPolicy = %v, want PreemptLowerPriority", pc.PreemptionPolicy)
	}
	never := &schedulingv1.PriorityClass{PreemptionPolicy: ptr.To(corev1.PreemptNever)}
	Apply(never)
	if *never.PreemptionPolicy != corev1.PreemptNever {
		t.Fatalf("preemptionPolicy Never became %s", *never.PreemptionPolicy)
	}
}
