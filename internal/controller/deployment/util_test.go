package deployment

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func ptr[T any](v T) *T { return &v }

func rolling(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Strategy: appsv1.DeploymentStrategy{
			Type:          appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable},
		},
	}}
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rs builds a ReplicaSet of the given spec size, created at base+age seconds.
func rs(name string, replicas int32, age int, annotations map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, UID: types.UID(name), Annotations: annotations,
			CreationTimestamp: metav1.NewTime(base.Add(time.Duration(age) * time.Second)),
		},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas},
	}
}

func TestResolveFenceposts(t *testing.T) {
	cases := []struct {
		surge, unavailable        intstr.IntOrString
		desired                   int32
		wantSurge, wantUnavailble int32
		wantErr                   bool
	}{
		{intstr.FromString("25%"), intstr.FromString("25%"), 10, 3, 2, false},
		{intstr.FromString("25%"), intstr.FromString("25%"), 4, 1, 1, false},
		{intstr.FromString("25%"), intstr.FromString("25%"), 1, 1, 0, false},
		{intstr.FromString("0%"), intstr.FromString("1%"), 10, 0, 1, false}, // both 0 → unavailable 1
		{intstr.FromInt32(0), intstr.FromInt32(0), 5, 0, 1, false},
		{intstr.FromInt32(2), intstr.FromInt32(3), 10, 2, 3, false},
		{intstr.FromString("50%"), intstr.FromString("50%"), 5, 3, 2, false},
		{intstr.FromString("100%"), intstr.FromString("0%"), 3, 3, 0, false},
		{intstr.FromString("x%"), intstr.FromInt32(1), 3, 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%s of %d", tc.surge.String(), tc.unavailable.String(), tc.desired), func(t *testing.T) {
			s, u, err := resolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && (s != tc.wantSurge || u != tc.wantUnavailble) {
				t.Errorf("got surge %d unavailable %d, want %d %d", s, u, tc.wantSurge, tc.wantUnavailble)
			}
		})
	}
}

func TestMaxUnavailableAndSurge(t *testing.T) {
	cases := []struct {
		name               string
		d                  *appsv1.Deployment
		surge, unavailable int32
	}{
		{"rolling 25%", rolling(10, intstr.FromString("25%"), intstr.FromString("25%")), 3, 2},
		{"unavailable capped at replicas", rolling(2, intstr.FromInt32(0), intstr.FromInt32(5)), 0, 2},
		{"zero replicas", rolling(0, intstr.FromInt32(1), intstr.FromInt32(1)), 1, 0},
		{"recreate", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(5)),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := maxSurge(tc.d); got != tc.surge {
				t.Errorf("maxSurge = %d, want %d", got, tc.surge)
			}
			if got := maxUnavailable(tc.d); got != tc.unavailable {
				t.Errorf("maxUnavailable = %d, want %d", got, tc.unavailable)
			}
		})
	}
}

func TestNewRSNewReplicas(t *testing.T) {
	cases := []struct {
		name    string
		d       *appsv1.Deployment
		newSize int32
		oldSize int32
		// oldStatus is the old ReplicaSet's reported status.replicas (defaults to its size).
		oldStatus *int32
		want      int32
	}{
		{"start of rollout: surge", rolling(10, intstr.FromInt32(3), intstr.FromInt32(2)), 0, 10, nil, 3},
		{"at the surge limit", rolling(10, intstr.FromInt32(3), intstr.FromInt32(2)), 3, 10, nil, 3},
		{"old shrunk: grow into the room", rolling(10, intstr.FromInt32(3), intstr.FromInt32(2)), 3, 8, nil, 5},
		{"old shrunk but its pods not gone yet", rolling(10, intstr.FromInt32(3), intstr.FromInt32(2)), 3, 8, ptr(int32(10)), 3},
		{"never past desired", rolling(10, intstr.FromInt32(3), intstr.FromInt32(2)), 9, 0, nil, 10},
		{"recreate takes all", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(4)),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}, 0, 4, nil, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			newRS := rs("new", tc.newSize, 10, nil)
			newRS.Status.Replicas = tc.newSize
			oldRS := rs("old", tc.oldSize, 0, nil)
			oldRS.Status.Replicas = tc.oldSize
			if tc.oldStatus != nil {
				oldRS.Status.Replicas = *tc.oldStatus
			}
			if got := newRSNewReplicas(tc.d, []*appsv1.ReplicaSet{oldRS, newRS}, newRS); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSettledAvailable(t *testing.T) {
	cases := []struct {
		spec, replicas, available, want int32
	}{
		{10, 10, 10, 10},
		{8, 10, 10, 8}, // scaled down, controller not caught up
		{8, 10, 9, 7},  // and one of the pods to go may be available
		{0, 3, 1, 0},   // never negative
		{10, 7, 5, 5},  // scaling up: status is what it is
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			r := rs("a", tc.spec, 0, nil)
			r.Status.Replicas, r.Status.AvailableReplicas = tc.replicas, tc.available
			if got := settledAvailable(r); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestProportionalSizes(t *testing.T) {
	maxAnn := func(n int) map[string]string { return map[string]string{maxReplicasAnnotation: fmt.Sprint(n)} }
	cases := []struct {
		name   string
		d      *appsv1.Deployment
		sets   []*appsv1.ReplicaSet
		status int32 // Deployment status.replicas (fallback when unannotated)
		want   map[string]int32
	}{
		{
			// Kubernetes' documented example: 10 replicas, surge 3, mid-rollout 8 old + 5 new,
			// scaled to 15 (max 18): the 5 extra go 3:2 by share of 13.
			name: "scale up mid-rollout",
			d:    rolling(15, intstr.FromInt32(3), intstr.FromInt32(2)),
			sets: []*appsv1.ReplicaSet{rs("old", 8, 0, maxAnn(13)), rs("new", 5, 10, maxAnn(13))},
			want: map[string]int32{"old": 11, "new": 7},
		},
		{
			name: "scale down mid-rollout",
			d:    rolling(5, intstr.FromInt32(1), intstr.FromInt32(1)),
			sets: []*appsv1.ReplicaSet{rs("old", 6, 0, maxAnn(11)), rs("new", 5, 10, maxAnn(11))},
			want: map[string]int32{"old": 3, "new": 3},
		},
		{
			name: "leftover goes to the largest (newest on ties)",
			d:    rolling(11, intstr.FromInt32(0), intstr.FromInt32(1)),
			sets: []*appsv1.ReplicaSet{rs("a", 5, 0, maxAnn(10)), rs("b", 5, 10, maxAnn(10))},
			want: map[string]int32{"a": 5, "b": 6},
		},
		{
			name: "to zero",
			d:    rolling(0, intstr.FromInt32(1), intstr.FromInt32(1)),
			sets: []*appsv1.ReplicaSet{rs("a", 3, 0, maxAnn(5)), rs("b", 2, 10, maxAnn(5))},
			want: map[string]int32{"a": 0, "b": 0},
		},
		{
			name:   "no annotation: current size is the base",
			d:      rolling(20, intstr.FromInt32(0), intstr.FromInt32(1)),
			sets:   []*appsv1.ReplicaSet{rs("a", 6, 0, nil), rs("b", 4, 10, nil)},
			status: 10,
			want:   map[string]int32{"a": 12, "b": 8},
		},
		{
			name: "nothing to change",
			d:    rolling(10, intstr.FromInt32(3), intstr.FromInt32(2)),
			sets: []*appsv1.ReplicaSet{rs("a", 7, 0, maxAnn(13)), rs("b", 6, 10, maxAnn(13))},
			want: map[string]int32{"a": 7, "b": 6},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.Status.Replicas = tc.status
			got := proportionalSizes(tc.d, tc.sets)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFindActiveOrLatest(t *testing.T) {
	newRS := rs("new", 0, 20, nil)
	cases := []struct {
		name  string
		newRS *appsv1.ReplicaSet
		old   []*appsv1.ReplicaSet
		want  string
	}{
		{"only new active", rs("new", 3, 20, nil), []*appsv1.ReplicaSet{rs("o1", 0, 0, nil)}, "new"},
		{"only an old one active", newRS, []*appsv1.ReplicaSet{rs("o1", 0, 0, nil), rs("o2", 2, 5, nil)}, "o2"},
		{"none active: new", newRS, []*appsv1.ReplicaSet{rs("o1", 0, 0, nil)}, "new"},
		{"none active, no new: newest old", nil, []*appsv1.ReplicaSet{rs("o1", 0, 0, nil), rs("o2", 0, 5, nil)}, "o2"},
		{"two active: none", rs("new", 1, 20, nil), []*appsv1.ReplicaSet{rs("o1", 1, 0, nil)}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := findActiveOrLatest(tc.newRS, tc.old)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Errorf("got %q, want %q", name, tc.want)
			}
		})
	}
}

func TestFindNewAndOldReplicaSets(t *testing.T) {
	template := func(image string, hash string) corev1.PodTemplateSpec {
		labels := map[string]string{"app": "x"}
		if hash != "" {
			labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
		}
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}}}
	}
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template("v2", "")}}
	a, b, b2 := rs("a", 1, 0, nil), rs("b", 1, 10, nil), rs("b2", 1, 20, nil)
	a.Spec.Template, b.Spec.Template, b2.Spec.Template = template("v1", "h1"), template("v2", "h2"), template("v2", "h3")
	all := []*appsv1.ReplicaSet{b2, a, b}
	if got := findNewReplicaSet(d, all); got == nil || got.Name != "b" {
		t.Fatalf("new = %v, want the oldest matching (b)", got)
	}
	old := findOldReplicaSets(d, all)
	if len(old) != 2 || old[0].Name != "b2" || old[1].Name != "a" {
		t.Errorf("old = %v", old)
	}
}

func TestSetNewReplicaSetAnnotations(t *testing.T) {
	d := rolling(10, intstr.FromInt32(3), intstr.FromInt32(2))
	d.Annotations = map[string]string{"team": "a", revisionAnnotation: "7", corev1.LastAppliedConfigAnnotation: "{}"}

	t.Run("create", func(t *testing.T) {
		r := rs("n", 0, 0, nil)
		if !setNewReplicaSetAnnotations(d, r, "4", false) {
			t.Fatal("no change reported")
		}
		want := map[string]string{"team": "a", revisionAnnotation: "4", desiredReplicasAnnotation: "10", maxReplicasAnnotation: "13"}
		if fmt.Sprint(r.Annotations) != fmt.Sprint(want) {
			t.Errorf("got %v, want %v", r.Annotations, want)
		}
	})
	t.Run("rollback renumbers and keeps history", func(t *testing.T) {
		r := rs("o", 0, 0, map[string]string{"team": "a", revisionAnnotation: "2", revisionHistoryAnnotation: "1"})
		if !setNewReplicaSetAnnotations(d, r, "5", true) {
			t.Fatal("no change reported")
		}
		if r.Annotations[revisionAnnotation] != "5" || r.Annotations[revisionHistoryAnnotation] != "1,2" {
			t.Errorf("got %v", r.Annotations)
		}
		if setNewReplicaSetAnnotations(d, r, "5", true) {
			t.Error("second call changed something")
		}
	})
	t.Run("never lowers", func(t *testing.T) {
		r := rs("o", 0, 0, map[string]string{"team": "a", revisionAnnotation: "9"})
		setNewReplicaSetAnnotations(d, r, "5", true)
		if r.Annotations[revisionAnnotation] != "9" {
			t.Errorf("got %v", r.Annotations)
		}
	})
}

func TestAppendRevisionHistory(t *testing.T) {
	long := ""
	for i := 1; len(long) < maxRevisionHistoryChars-3; i++ {
		long = appendRevisionHistory(long, fmt.Sprint(i))
	}
	cases := []struct{ history, rev, want string }{
		{"", "1", "1"},
		{"1", "3", "1,3"},
		{long, "9999", ""},
	}
	for _, tc := range cases {
		got := appendRevisionHistory(tc.history, tc.rev)
		if tc.want != "" && got != tc.want {
			t.Errorf("append(%q, %q) = %q, want %q", tc.history, tc.rev, got, tc.want)
		}
		if len(got) > maxRevisionHistoryChars {
			t.Errorf("history grew to %d chars", len(got))
		}
	}
}

func TestPodTemplateHash(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i:1"}}}}
	h1, h2 := podTemplateHash(tpl, nil), podTemplateHash(tpl, nil)
	if h1 != h2 || h1 == "" {
		t.Fatalf("hash not stable: %q %q", h1, h2)
	}
	if h3 := podTemplateHash(tpl, ptr(int32(1))); h3 == h1 {
		t.Errorf("collision count does not change the hash")
	}
	other := tpl.DeepCopy()
	other.Spec.Containers[0].Image = "i:2"
	if podTemplateHash(other, nil) == h1 {
		t.Errorf("different templates hash alike")
	}
}

func TestProgressConditions(t *testing.T) {
	now := base.Add(time.Hour)
	d := rolling(3, intstr.FromInt32(1), intstr.FromInt32(0))
	d.Spec.ProgressDeadlineSeconds = ptr(int32(60))
	d.Generation = 2
	d.Status = appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, AvailableReplicas: 3, ReadyReplicas: 3}

	cases := []struct {
		name                           string
		status                         appsv1.DeploymentStatus
		cond                           *appsv1.DeploymentCondition
		complete, progressing, timeOut bool
	}{
		{"complete", appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}, nil, true, true, false},
		{"complete but old generation", appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}, nil, false, true, false},
		{"more updated", appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2, AvailableReplicas: 3, ReadyReplicas: 3}, nil, false, true, false},
		{"stuck within deadline", d.Status, &appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: reasonRSUpdated,
			LastUpdateTime: metav1.NewTime(now.Add(-30 * time.Second))}, false, false, false},
		{"stuck past deadline", d.Status, &appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: reasonRSUpdated,
			LastUpdateTime: metav1.NewTime(now.Add(-61 * time.Second))}, false, false, true},
		{"complete never times out", d.Status, &appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Reason: reasonNewRSAvailable,
			LastUpdateTime: metav1.NewTime(now.Add(-time.Hour))}, false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.status
			if tc.cond != nil {
				s.Conditions = []appsv1.DeploymentCondition{*tc.cond}
			}
			if got := deploymentComplete(d, &s); got != tc.complete {
				t.Errorf("complete = %v", got)
			}
			if got := deploymentProgressing(d, &s); got != tc.progressing {
				t.Errorf("progressing = %v", got)
			}
			if got := deploymentTimedOut(d, &s, now); got != tc.timeOut {
				t.Errorf("timed out = %v", got)
			}
		})
	}
}

func TestSetCondition(t *testing.T) {
	var s appsv1.DeploymentStatus
	t0, t1 := base, base.Add(time.Minute)
	setCondition(&s, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinUnavailable, "", t0))
	setCondition(&s, newCondition(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinUnavailable, "", t1))
	if c := getCondition(s, appsv1.DeploymentAvailable); !c.LastUpdateTime.Time.Equal(t0) {
		t.Errorf("same status and reason must not rewrite the condition: %+v", c)
	}
	setCondition(&s, newCondition(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinAvailable, "", t1))
	if c := getCondition(s, appsv1.DeploymentAvailable); c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Time.Equal(t1) || len(s.Conditions) != 1 {
		t.Errorf("transition: %+v", s.Conditions)
	}
}
