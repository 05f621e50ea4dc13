package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func priorityClass(name string, value int32, mutate ...func(*schedulingv1.PriorityClass)) *schedulingv1.PriorityClass {
	lower := corev1.PreemptLowerPriority
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: "1"}, Value: value, PreemptionPolicy: &lower}
	for _, m := range mutate {
		m(pc)
	}
	return pc
}

func TestValidatePriorityClass(t *testing.T) {
	reserved := "priority class names with 'system-' prefix are reserved for system use only. error: "
	tests := []struct {
		name string
		pc   *schedulingv1.PriorityClass
		want []want
	}{
		{name: "user class", pc: priorityClass("high", 1000), want: none()},
		{name: "negative value", pc: priorityClass("low", -5), want: none()},
		{name: "highest user value", pc: priorityClass("top", 1000000000), want: none()},
		{name: "above the highest user value", pc: priorityClass("too-high", 1000000001),
			want: errs(forb("value", "maximum allowed value of a user defined priority is 1000000000"))},
		{name: "system class as it is", pc: priorityClass("system-cluster-critical", 2000000000), want: none()},
		{name: "system node class", pc: priorityClass("system-node-critical", 2000001000), want: none()},
		{name: "unknown system name", pc: priorityClass("system-foo", 10),
			want: errs(forb("metadata.name", reserved+"system-foo is not a known system priority class"))},
		{name: "system class with another value", pc: priorityClass("system-node-critical", 5),
			want: errs(forb("metadata.name", reserved+"value of system-node-critical PriorityClass must be 2000001000"))},
		{name: "system class as global default", pc: priorityClass("system-cluster-critical", 2000000000, func(pc *schedulingv1.PriorityClass) { pc.GlobalDefault = true }),
			want: errs(forb("metadata.name", "globalDefault of system-cluster-critical PriorityClass must be false"))},
		{name: "bad name", pc: priorityClass("High_Class", 1), want: errs(inv("metadata.name", "RFC 1123 subdomain"))},
		{name: "unknown preemption policy", pc: priorityClass("p", 1, func(pc *schedulingv1.PriorityClass) {
			p := corev1.PreemptionPolicy("Sometimes")
			pc.PreemptionPolicy = &p
		}), want: errs(unsup("preemptionPolicy"))},
		{name: "empty preemption policy", pc: priorityClass("p", 1, func(pc *schedulingv1.PriorityClass) {
			p := corev1.PreemptionPolicy("")
			pc.PreemptionPolicy = &p
		}), want: errs(req("preemptionPolicy"))},
		{name: "namespace set", pc: priorityClass("p", 1, func(pc *schedulingv1.PriorityClass) { pc.Namespace = "default" }),
			want: errs(forb("metadata.namespace", "not allowed on this type"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrors(t, ValidatePriorityClass(tt.pc), tt.want)
		})
	}
}

func TestValidatePriorityClassUpdate(t *testing.T) {
	old := priorityClass("high", 1000)
	never := corev1.PreemptNever
	tests := []struct {
		name string
		pc   *schedulingv1.PriorityClass
		want []want
	}{
		{name: "description and global default may change", pc: priorityClass("high", 1000, func(pc *schedulingv1.PriorityClass) {
			pc.Description = "now the default"
			pc.GlobalDefault = true
		}), want: none()},
		{name: "value is immutable", pc: priorityClass("high", 2000), want: errs(forb("value", "may not be changed in an update."))},
		{name: "preemption policy is immutable", pc: priorityClass("high", 1000, func(pc *schedulingv1.PriorityClass) { pc.PreemptionPolicy = &never }),
			want: errs(inv("preemptionPolicy", "field is immutable"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrors(t, ValidatePriorityClassUpdate(tt.pc, old), tt.want)
		})
	}
}

func TestSystemPriorityClassesAreValid(t *testing.T) {
	for _, pc := range SystemPriorityClasses() {
		expectErrors(t, ValidatePriorityClass(pc), none())
	}
}
