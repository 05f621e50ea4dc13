package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDefaultTolerationSeconds(t *testing.T) {
	notReady := nodeFailureToleration(corev1.TaintNodeNotReady)
	unreachable := nodeFailureToleration(corev1.TaintNodeUnreachable)
	custom := corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](10)}
	tests := []struct {
		name string
		in   []corev1.Toleration
		want []corev1.Toleration
	}{{
		name: "none given",
		want: []corev1.Toleration{notReady, unreachable},
	}, {
		name: "own not-ready toleration kept",
		in:   []corev1.Toleration{custom},
		want: []corev1.Toleration{custom, unreachable},
	}, {
		name: "tolerate everything",
		in:   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
		want: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
	}, {
		name: "NoSchedule toleration does not count",
		in:   []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		want: []corev1.Toleration{
			{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
			notReady, unreachable,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tt.in}}
			DefaultTolerationSeconds(pod)
			if diff := cmp.Diff(tt.want, pod.Spec.Tolerations); diff != "" {
				t.Fatalf("tolerations (-want +got):\n%s", diff)
			}
			DefaultTolerationSeconds(pod)
			if diff := cmp.Diff(tt.want, pod.Spec.Tolerations); diff != "" {
				t.Fatalf("second run changed tolerations (-want +got):\n%s", diff)
			}
		})
	}
	if notReady.TolerationSeconds == nil || *notReady.TolerationSeconds != 300 || notReady.Operator != corev1.TolerationOpExists {
		t.Fatalf("default toleration = %+v", notReady)
	}
}

func TestDefaultServiceAccount(t *testing.T) {
	tests := []struct {
		name string
		pod  corev1.Pod
		want string
	}{
		{name: "unset becomes default", want: "default"},
		{name: "explicit kept", pod: corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "robot"}}, want: "robot"},
		{name: "mirror pod untouched", pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Annotations: map[string]string{"kubernetes.io/config.mirror": "abc"},
		}}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := tt.pod.DeepCopy()
			DefaultServiceAccount(pod)
			if pod.Spec.ServiceAccountName != tt.want || pod.Spec.DeprecatedServiceAccount != tt.want {
				t.Fatalf("serviceAccountName %q, serviceAccount %q; want both %q",
					pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount, tt.want)
			}
		})
	}
}

func TestNamespaceOnCreate(t *testing.T) {
	tests := []struct {
		name string
		in   []corev1.FinalizerName
		want []corev1.FinalizerName
	}{
		{name: "none", want: []corev1.FinalizerName{"kubernetes"}},
		{name: "other kept", in: []corev1.FinalizerName{"example.com/x"}, want: []corev1.FinalizerName{"example.com/x", "kubernetes"}},
		{name: "present", in: []corev1.FinalizerName{"kubernetes"}, want: []corev1.FinalizerName{"kubernetes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := &corev1.Namespace{
				Spec:   corev1.NamespaceSpec{Finalizers: tt.in},
				Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
			}
			NamespaceOnCreate(ns)
			if diff := cmp.Diff(tt.want, ns.Spec.Finalizers); diff != "" {
				t.Errorf("finalizers (-want +got):\n%s", diff)
			}
			if ns.Status.Phase != corev1.NamespaceActive {
				t.Errorf("phase = %q, want Active", ns.Status.Phase)
			}
		})
	}
}

func TestApplyLeavesAdmissionDefaultsAlone(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	Apply(pod)
	if pod.Spec.ServiceAccountName != "" || pod.Spec.Tolerations != nil || pod.Spec.Priority != nil || pod.Spec.PreemptionPolicy != nil {
		t.Fatalf("Apply ran admission defaults: %+v", pod.Spec)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	Apply(ns)
	if ns.Spec.Finalizers != nil {
		t.Fatalf("Apply added finalizers %v; only NamespaceOnCreate may", ns.Spec.Finalizers)
	}
}
