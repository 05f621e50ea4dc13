package disruption

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func disruptionTarget(reason string, since time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: reason, LastTransitionTime: metav1.NewTime(since),
		})
	}
}

func TestStaleDisruption(t *testing.T) {
	tests := []struct {
		name  string
		pod   *corev1.Pod
		stale bool
		wait  time.Duration
	}{
		{"no condition", pod("a"), false, 0},
		{"fresh eviction", pod("a", disruptionTarget("EvictionByEvictionAPI", t0.Add(-30*time.Second))), true, StaleDisruptionTimeout - 30*time.Second},
		{"stale eviction", pod("a", disruptionTarget("EvictionByEvictionAPI", t0.Add(-StaleDisruptionTimeout-time.Second))), true, 0},
		{"stale preemption", pod("a", disruptionTarget("PreemptionByScheduler", t0.Add(-StaleDisruptionTimeout))), true, 0},
		{"set by the kubelet", pod("a", disruptionTarget(corev1.PodReasonTerminationByKubelet, t0.Add(-time.Hour))), false, 0},
		{"terminating pod", pod("a", terminating, disruptionTarget("EvictionByEvictionAPI", t0.Add(-time.Hour))), false, 0},
		{"finished pod", pod("a", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, disruptionTarget("EvictionByEvictionAPI", t0.Add(-time.Hour))), false, 0},
		{"condition already False", pod("a", disruptionTarget("EvictionByEvictionAPI", t0.Add(-time.Hour)), func(p *corev1.Pod) {
			p.Status.Conditions[1].Status = corev1.ConditionFalse
		}), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stale, wait := staleDisruption(tt.pod, t0)
			if stale != tt.stale || wait != tt.wait {
				t.Fatalf("staleDisruption = %v %v, want %v %v", stale, wait, tt.stale, tt.wait)
			}
		})
	}
}

// TestControllerResetsStaleDisruption: an evicted pod never deleted loses its
// DisruptionTarget condition once it is stale.
func TestControllerResetsStaleDisruption(t *testing.T) {
	since := time.Now().Add(-StaleDisruptionTimeout + time.Second)
	h := start(t, budget(minAvailable(intstr.FromInt32(1))), pod("a", disruptionTarget("EvictionByEvictionAPI", since)))
	var cond *corev1.PodCondition
	h.waitStatus(t, "budget synced", allowed(0)) // the controller runs
	if err := pollUntil(func() bool {
		p, err := h.client.CoreV1().Pods("default").Get(context.Background(), "a", metav1.GetOptions{})
		if err != nil {
			return false
		}
		cond = podCondition(p, corev1.DisruptionTarget)
		return cond != nil && cond.Status == corev1.ConditionFalse
	}); err != nil {
		t.Fatalf("DisruptionTarget condition = %+v, want reset to False", cond)
	}
	if time.Since(since) < StaleDisruptionTimeout {
		t.Fatalf("condition reset %v before it was stale", StaleDisruptionTimeout-time.Since(since))
	}
}
