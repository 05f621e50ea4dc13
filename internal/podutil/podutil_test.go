package podutil

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestReadyAndTerminal(t *testing.T) {
	cond := func(typ corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
		return corev1.PodCondition{Type: typ, Status: s}
	}
	for _, tc := range []struct {
		name               string
		phase              corev1.PodPhase
		conds              []corev1.PodCondition
		ready, terminal    bool
		wantReadyCondition bool
	}{
		{name: "no conditions", phase: corev1.PodPending},
		{name: "ready", phase: corev1.PodRunning, conds: []corev1.PodCondition{cond(corev1.PodScheduled, corev1.ConditionTrue), cond(corev1.PodReady, corev1.ConditionTrue)}, ready: true, wantReadyCondition: true},
		{name: "not ready", phase: corev1.PodRunning, conds: []corev1.PodCondition{cond(corev1.PodReady, corev1.ConditionFalse)}, wantReadyCondition: true},
		{name: "unknown", phase: corev1.PodRunning, conds: []corev1.PodCondition{cond(corev1.PodReady, corev1.ConditionUnknown)}, wantReadyCondition: true},
		{name: "containers ready is not pod ready", phase: corev1.PodRunning, conds: []corev1.PodCondition{cond(corev1.ContainersReady, corev1.ConditionTrue)}},
		{name: "succeeded", phase: corev1.PodSucceeded, terminal: true},
		{name: "failed", phase: corev1.PodFailed, terminal: true},
	} {
		pod := &corev1.Pod{Status: corev1.PodStatus{Phase: tc.phase, Conditions: tc.conds}}
		if got := IsReady(pod); got != tc.ready {
			t.Errorf("%s: IsReady = %v", tc.name, got)
		}
		if got := IsTerminal(pod); got != tc.terminal {
			t.Errorf("%s: IsTerminal = %v", tc.name, got)
		}
		c := ReadyCondition(pod)
		if (c != nil) != tc.wantReadyCondition || (c != nil && c != &pod.Status.Conditions[len(pod.Status.Conditions)-1]) {
			t.Errorf("%s: ReadyCondition = %v", tc.name, c)
		}
	}
}
