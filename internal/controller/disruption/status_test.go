package disruption

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Workloads of the lookup below: two ReplicaSets of one Deployment (scale 3), a bare
// ReplicaSet (scale 4) and a ReplicationController (scale 5).
var testScales = map[types.UID]workloadScale{
	"rs-old": {UID: "deploy", Replicas: 3},
	"rs-new": {UID: "deploy", Replicas: 3},
	"rs":     {UID: "rs", Replicas: 4},
	"rc":     {UID: "rc", Replicas: 5},
}

func testLookup(_ string, ref *metav1.OwnerReference) (workloadScale, bool) {
	s, ok := testScales[ref.UID]
	return s, ok
}

type podOpt func(*corev1.Pod)

func ownedBy(uid types.UID) podOpt {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: string(uid), UID: uid, Controller: ptrTo(true)}}
	}
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }

func terminating(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: t0.Add(-time.Second)} }

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReady, Status: corev1.ConditionTrue},
		}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func pods(n int, opts ...podOpt) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		out = append(out, pod("p"+string(rune('0'+i)), opts...))
	}
	return out
}

type pdbOpt func(*policyv1.PodDisruptionBudget)

func minAvailable(v intstr.IntOrString) pdbOpt {
	return func(b *policyv1.PodDisruptionBudget) { b.Spec.MinAvailable = &v }
}

func maxUnavailable(v intstr.IntOrString) pdbOpt {
	return func(b *policyv1.PodDisruptionBudget) { b.Spec.MaxUnavailable = &v }
}

func disrupted(entries map[string]time.Time) pdbOpt {
	return func(b *policyv1.PodDisruptionBudget) {
		b.Status.DisruptedPods = map[string]metav1.Time{}
		for name, at := range entries {
			b.Status.DisruptedPods[name] = metav1.NewTime(at)
		}
	}
}

func budget(opts ...pdbOpt) *policyv1.PodDisruptionBudget {
	b := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Generation: 3},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 2},
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

func ptrTo[T any](v T) *T { return &v }

func TestComputeStatus(t *testing.T) {
	type counts struct{ expected, desired, healthy, allowed int32 }
	tests := []struct {
		name       string
		pdb        *policyv1.PodDisruptionBudget
		pods       []*corev1.Pod
		want       counts
		wantReason string
		wantKept   []string // disruptedPods kept
		recheck    time.Time
		unmanaged  []string
		notDeleted []string
		wantErr    string
	}{{
		name: "integer minAvailable counts pods",
		pdb:  budget(minAvailable(intstr.FromInt32(2))),
		pods: pods(3, ownedBy("rs-new")),
		want: counts{3, 2, 3, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "integer minAvailable needs no controllers",
		pdb:  budget(minAvailable(intstr.FromInt32(1))),
		pods: pods(2),
		want: counts{2, 1, 2, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "not-ready pods are not healthy",
		pdb:  budget(minAvailable(intstr.FromInt32(2))),
		pods: []*corev1.Pod{pod("a"), pod("b", notReady), pod("c", notReady)},
		want: counts{3, 2, 1, 0}, wantReason: policyv1.InsufficientPodsReason,
	}, {
		name: "terminating pods are not healthy",
		pdb:  budget(minAvailable(intstr.FromInt32(2))),
		pods: []*corev1.Pod{pod("a"), pod("b"), pod("c", terminating)},
		want: counts{3, 2, 2, 0}, wantReason: policyv1.InsufficientPodsReason,
	}, {
		name: "percentage minAvailable counts the Deployment's scale once, rounded up",
		pdb:  budget(minAvailable(intstr.FromString("50%"))),
		pods: []*corev1.Pod{pod("a", ownedBy("rs-old")), pod("b", ownedBy("rs-new")), pod("c", ownedBy("rs-new"))},
		want: counts{3, 2, 3, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "integer maxUnavailable from the ReplicaSet's scale",
		pdb:  budget(maxUnavailable(intstr.FromInt32(1))),
		pods: pods(4, ownedBy("rs")),
		want: counts{4, 3, 4, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "percentage maxUnavailable rounds the unavailable up",
		pdb:  budget(maxUnavailable(intstr.FromString("50%"))),
		pods: pods(3, ownedBy("rs-new")),
		want: counts{3, 1, 3, 2}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "scale counts pods not yet created",
		pdb:  budget(maxUnavailable(intstr.FromString("50%"))),
		pods: pods(3, ownedBy("rc")),
		want: counts{5, 2, 3, 1}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "maxUnavailable above the scale wants none healthy",
		pdb:  budget(maxUnavailable(intstr.FromInt32(9))),
		pods: pods(2, ownedBy("rs")),
		want: counts{4, 0, 2, 2}, wantReason: policyv1.SufficientPodsReason,
	}, {
		name: "unmanaged pods with a percentage add no scale but count healthy",
		pdb:  budget(minAvailable(intstr.FromString("50%"))),
		pods: []*corev1.Pod{pod("a", ownedBy("rs-new")), pod("b", ownedBy("rs-new")), pod("bare")},
		want: counts{3, 2, 3, 1}, wantReason: policyv1.SufficientPodsReason,
		unmanaged: []string{"bare"},
	}, {
		name: "only unmanaged pods with a percentage: nothing expected, nothing allowed",
		pdb:  budget(maxUnavailable(intstr.FromString("50%"))),
		pods: pods(3),
		want: counts{0, 0, 3, 0}, wantReason: policyv1.InsufficientPodsReason,
		unmanaged: []string{"p0", "p1", "p2"},
	}, {
		name: "a pod whose controller is unknown fails the budget",
		pdb: budget(minAvailable(intstr.FromString("50%")), func(b *policyv1.PodDisruptionBudget) {
			b.Status.ExpectedPods, b.Status.CurrentHealthy, b.Status.DisruptionsAllowed = 3, 3, 1
		}),
		pods: []*corev1.Pod{pod("a", ownedBy("rs-new")), pod("orphaned", ownedBy("gone"))},
		// The fail-safe keeps the rest of the old status, its observedGeneration too.
		want: counts{3, 0, 3, 0}, wantReason: policyv1.SyncFailedReason,
		wantErr: `found no controllers for pod "orphaned"`,
	}, {
		name: "no pods: nothing allowed even with minAvailable 0",
		pdb:  budget(minAvailable(intstr.FromInt32(0))),
		want: counts{0, 0, 0, 0}, wantReason: policyv1.InsufficientPodsReason,
	}, {
		name: "a fresh disruptedPods entry keeps its pod out of the healthy count",
		pdb:  budget(minAvailable(intstr.FromInt32(1)), disrupted(map[string]time.Time{"p0": t0.Add(-30 * time.Second), "p1": t0.Add(-10 * time.Second)})),
		pods: pods(3),
		want: counts{3, 1, 1, 0}, wantReason: policyv1.InsufficientPodsReason,
		wantKept: []string{"p0", "p1"}, recheck: t0.Add(DeletionTimeout - 30*time.Second),
	}, {
		name: "an expired entry is dropped and its pod counts again",
		pdb:  budget(minAvailable(intstr.FromInt32(1)), disrupted(map[string]time.Time{"p0": t0.Add(-DeletionTimeout), "p1": t0.Add(-time.Minute)})),
		pods: pods(3),
		want: counts{3, 1, 2, 1}, wantReason: policyv1.SufficientPodsReason,
		wantKept: []string{"p1"}, recheck: t0.Add(time.Minute), notDeleted: []string{"p0"},
	}, {
		name: "entries of terminating and gone pods are dropped",
		pdb:  budget(minAvailable(intstr.FromInt32(1)), disrupted(map[string]time.Time{"p0": t0.Add(-time.Second), "gone": t0.Add(-time.Second)})),
		pods: []*corev1.Pod{pod("p0", terminating), pod("p1"), pod("p2")},
		want: counts{3, 1, 2, 1}, wantReason: policyv1.SufficientPodsReason,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.pdb.DeepCopy()
			res := computeStatus(tt.pdb, tt.pods, testLookup, t0)
			if !reflect.DeepEqual(before, tt.pdb) {
				t.Fatal("computeStatus changed its input")
			}
			s := res.Status
			got := counts{s.ExpectedPods, s.DesiredHealthy, s.CurrentHealthy, s.DisruptionsAllowed}
			if got != tt.want {
				t.Errorf("expected/desired/healthy/allowed = %v, want %v", got, tt.want)
			}
			cond := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
			wantStatus := metav1.ConditionFalse
			if tt.wantReason == policyv1.SufficientPodsReason {
				wantStatus = metav1.ConditionTrue
			}
			if cond == nil || cond.Reason != tt.wantReason || cond.Status != wantStatus {
				t.Errorf("condition = %+v, want %s %s", cond, wantStatus, tt.wantReason)
			}
			wantGen := tt.pdb.Generation
			if tt.wantErr != "" {
				wantGen = tt.pdb.Status.ObservedGeneration
				if res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr) || cond == nil || cond.Message != res.Err.Error() {
					t.Errorf("err = %v, condition %+v; want %q", res.Err, cond, tt.wantErr)
				}
			} else if res.Err != nil {
				t.Errorf("err = %v", res.Err)
			}
			if s.ObservedGeneration != wantGen {
				t.Errorf("observedGeneration = %d, want %d", s.ObservedGeneration, wantGen)
			}
			if kept := sortedKeys(s.DisruptedPods); !slices.Equal(kept, tt.wantKept) {
				t.Errorf("disruptedPods = %v, want %v", kept, tt.wantKept)
			}
			if !res.Recheck.Equal(tt.recheck) {
				t.Errorf("recheck = %v, want %v", res.Recheck, tt.recheck)
			}
			if !slices.Equal(res.Unmanaged, tt.unmanaged) {
				t.Errorf("unmanaged = %v, want %v", res.Unmanaged, tt.unmanaged)
			}
			var notDeleted []string
			for _, p := range res.NotDeleted {
				notDeleted = append(notDeleted, p.Name)
			}
			if !slices.Equal(notDeleted, tt.notDeleted) {
				t.Errorf("notDeleted = %v, want %v", notDeleted, tt.notDeleted)
			}
		})
	}
}

// TestConditionTransitions: lastTransitionTime moves only when the condition's status
// does, and a recovered budget loses the failure's message.
func TestConditionTransitions(t *testing.T) {
	pdb := budget(minAvailable(intstr.FromInt32(2)))
	step := func(at time.Time, ps []*corev1.Pod, lookup scaleLookup) *metav1.Condition {
		t.Helper()
		res := computeStatus(pdb, ps, lookup, at)
		pdb = pdb.DeepCopy()
		pdb.Status = res.Status
		return apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	}
	c := step(t0, pods(3), testLookup)
	if c.Status != metav1.ConditionTrue || !c.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("first condition = %+v", c)
	}
	if c = step(t0.Add(time.Minute), pods(3), testLookup); !c.LastTransitionTime.Time.Equal(t0) {
		t.Fatalf("unchanged condition moved: %+v", c)
	}
	if c = step(t0.Add(2*time.Minute), pods(2), testLookup); c.Status != metav1.ConditionFalse || !c.LastTransitionTime.Time.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("condition after losing a pod = %+v", c)
	}
	pdb.Spec.MinAvailable = ptrTo(intstr.FromString("50%"))
	pdb.Generation++
	failed := step(t0.Add(3*time.Minute), pods(3, ownedBy("gone")), testLookup)
	if failed.Reason != policyv1.SyncFailedReason || failed.Message == "" || !failed.LastTransitionTime.Time.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("failed condition = %+v (False already: no transition)", failed)
	}
	if pdb.Status.ObservedGeneration == pdb.Generation {
		t.Fatal("a failed sync claimed to observe the new generation")
	}
	c = step(t0.Add(4*time.Minute), pods(3, ownedBy("rs-new")), testLookup)
	if c.Status != metav1.ConditionTrue || c.Reason != policyv1.SufficientPodsReason || c.Message != "" || pdb.Status.ObservedGeneration != pdb.Generation {
		t.Fatalf("recovered condition = %+v, observedGeneration %d", c, pdb.Status.ObservedGeneration)
	}
}

func sortedKeys(m map[string]metav1.Time) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
