package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestExpectations(t *testing.T) {
	now := t0
	e := newExpectations(func() time.Time { return now })
	if !e.satisfied("ns/a") {
		t.Fatal("no record must be satisfied")
	}
	e.expectCreations("ns/a", 2)
	if e.satisfied("ns/a") {
		t.Fatal("pending creations must block")
	}
	e.creationObserved("ns/a")
	e.creationObserved("ns/a")
	if !e.satisfied("ns/a") {
		t.Fatal("all creations observed")
	}

	e.expectDeletions("ns/a", []string{"ns/p1", "ns/p2"})
	e.deletionObserved("ns/a", "ns/p1")
	e.deletionObserved("ns/a", "ns/p1") // terminating, then gone: counted once
	e.deletionObserved("ns/a", "ns/other")
	if e.satisfied("ns/a") {
		t.Fatal("p2 still pending")
	}
	now = now.Add(expectationsTTL + time.Second)
	if !e.satisfied("ns/a") {
		t.Fatal("expired expectations must not block forever")
	}
	e.forget("ns/a")
	if _, ok := e.byKey["ns/a"]; ok {
		t.Fatal("forget kept the record")
	}
}

func TestSlowStartBatch(t *testing.T) {
	cases := []struct {
		name      string
		count     int
		failFrom  int32 // calls numbered from 1; ≥ failFrom fail (0: none)
		wantOK    int
		wantCalls int32
		wantErr   bool
	}{
		{"all succeed", 10, 0, 10, 10, false},
		{"first fails: one call", 500, 1, 0, 1, true},
		{"fail in third batch", 20, 4, 3, 7, true}, // batches 1,2,4: calls 1..7, 4..7 fail
		{"zero", 0, 0, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := slowStartBatch(tc.count, 1, func() error {
				n := calls.Add(1)
				if tc.failFrom > 0 && n >= tc.failFrom {
					return errors.New("quota")
				}
				return nil
			})
			if ok != tc.wantOK || calls.Load() != tc.wantCalls || (err != nil) != tc.wantErr {
				t.Errorf("got %d ok, %d calls, err %v; want %d, %d, error %v", ok, calls.Load(), err, tc.wantOK, tc.wantCalls, tc.wantErr)
			}
		})
	}
}

type podOpt func(*corev1.Pod)

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name),
		CreationTimestamp: metav1.NewTime(t0)}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func onNode(n string) podOpt          { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func created(sec int) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t0.Add(time.Duration(sec) * time.Second)) }
}
func readySince(sec int) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(t0.Add(time.Duration(sec) * time.Second))})
	}
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: n}} }
}
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: c} }
}

func TestPodsToDeleteRanking(t *testing.T) {
	now := t0.Add(10 * time.Hour)
	cases := []struct {
		name  string
		first *corev1.Pod // deleted first
		other *corev1.Pod
	}{
		{"unassigned before assigned", pod("a", phase(corev1.PodPending)), pod("b", onNode("n1"), phase(corev1.PodPending))},
		{"pending before running", pod("a", onNode("n1"), phase(corev1.PodPending)), pod("b", onNode("n1"), readySince(0))},
		{"unknown before running", pod("a", onNode("n1"), phase(corev1.PodUnknown)), pod("b", onNode("n1"), phase(corev1.PodRunning))},
		{"not ready before ready", pod("a", onNode("n1"), phase(corev1.PodRunning)), pod("b", onNode("n1"), readySince(0))},
		{"lower deletion cost first", pod("a", onNode("n1"), readySince(0), cost("-5")), pod("b", onNode("n1"), readySince(60*60*9))},
		{"ready for less time first", pod("a", onNode("n1"), readySince(60*60*9)), pod("b", onNode("n1"), readySince(0))},
		{"more restarts first", pod("a", onNode("n1"), readySince(0), restarts(5)), pod("b", onNode("n1"), readySince(0))},
		{"newer first", pod("a", onNode("n1"), created(60*60*9)), pod("b", onNode("n1"), created(0))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, order := range [][]*corev1.Pod{{tc.first, tc.other}, {tc.other, tc.first}} {
				got := podsToDelete(order, nil, 1, now)
				if got[0].Name != tc.first.Name {
					t.Errorf("deleted %s first, want %s", got[0].Name, tc.first.Name)
				}
			}
		})
	}
	t.Run("crowded node first", func(t *testing.T) {
		a, b := pod("a", onNode("busy"), readySince(0)), pod("b", onNode("quiet"), readySince(0))
		related := []*corev1.Pod{a, b, pod("c", onNode("busy"), readySince(0))}
		if got := podsToDelete([]*corev1.Pod{b, a}, related, 1, now); got[0].Name != "a" {
			t.Errorf("deleted %s first, want a (node with a sibling)", got[0].Name)
		}
	})
	t.Run("all when n covers all", func(t *testing.T) {
		if got := podsToDelete([]*corev1.Pod{pod("a"), pod("b")}, nil, 5, now); len(got) != 2 {
			t.Errorf("got %d", len(got))
		}
	})
}

func TestCalculateStatus(t *testing.T) {
	now := t0.Add(time.Minute)
	replicas := int32(4)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Generation: 3},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, MinReadySeconds: 30,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x", "v": "1"}}}},
	}
	labelled := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "x", "v": "1"} }
	active := []*corev1.Pod{
		pod("a", labelled, readySince(0)),  // available (ready 60s > 30s)
		pod("b", labelled, readySince(45)), // ready, not yet available
		pod("c", phase(corev1.PodPending)), // not fully labelled
	}
	terminating := []*corev1.Pod{pod("d")}

	s := calculateStatus(rs, active, terminating, true, nil, now)
	if s.Replicas != 3 || s.FullyLabeledReplicas != 2 || s.ReadyReplicas != 2 || s.AvailableReplicas != 1 ||
		s.TerminatingReplicas == nil || *s.TerminatingReplicas != 1 {
		t.Errorf("status = %+v", s)
	}

	s = calculateStatus(rs, active, nil, false, errors.New("quota exceeded"), now)
	if c := replicaFailure(s.Conditions); c == nil || c.Reason != "FailedCreate" || c.Message != "quota exceeded" {
		t.Errorf("failure condition = %+v", s.Conditions)
	}
	if s.TerminatingReplicas != nil {
		t.Errorf("terminatingReplicas reported for a kind without the field")
	}
	rs.Status = s
	if s = calculateStatus(rs, active, nil, false, nil, now); replicaFailure(s.Conditions) != nil {
		t.Errorf("a clean sync must clear ReplicaFailure: %+v", s.Conditions)
	}

	// Claimed pods match the selector: when it asks for every template label, they are
	// all fully labelled; when the template has a label it does not ask for, each pod is
	// looked at.
	matching := []*corev1.Pod{pod("a", labelled), pod("b", labelled)}
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x", "v": "1"}}
	if s = calculateStatus(rs, matching, nil, false, nil, now); s.FullyLabeledReplicas != 2 {
		t.Errorf("selector = template: fullyLabeled %d, want 2", s.FullyLabeledReplicas)
	}
	rs.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}
	matching = append(matching, pod("c", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "x"} }))
	if s = calculateStatus(rs, matching, nil, false, nil, now); s.FullyLabeledReplicas != 2 {
		t.Errorf("template has more labels than the selector: fullyLabeled %d, want 2", s.FullyLabeledReplicas)
	}
}

func TestSelectorRequiresAll(t *testing.T) {
	template := map[string]string{"app": "x", "pod-template-hash": "abc"}
	cases := []struct {
		name string
		sel  *metav1.LabelSelector
		want bool
	}{
		{"no selector", nil, false},
		{"the same labels", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x", "pod-template-hash": "abc"}}, true},
		{"more labels and expressions", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x", "pod-template-hash": "abc", "tier": "web"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpExists}}}, true},
		{"a template label missing", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}, false},
		{"another value", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "y", "pod-template-hash": "abc"}}, false},
		{"only as an expression", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "pod-template-hash", Operator: metav1.LabelSelectorOpIn, Values: []string{"abc"}}}}, false},
	}
	for _, tc := range cases {
		if got := selectorRequiresAll(tc.sel, template); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsPodAvailable(t *testing.T) {
	p := pod("a", readySince(0))
	cases := []struct {
		minReady int32
		at       time.Duration
		want     bool
	}{
		{0, 0, true},
		{10, 5 * time.Second, false},
		{10, 11 * time.Second, true},
	}
	for _, tc := range cases {
		if got := IsPodAvailable(p, tc.minReady, t0.Add(tc.at)); got != tc.want {
			t.Errorf("minReady %d at +%v: got %v", tc.minReady, tc.at, got)
		}
	}
	if IsPodAvailable(pod("b", phase(corev1.PodRunning)), 0, t0) {
		t.Error("a pod that is not ready is not available")
	}
}

func TestPodFromTemplate(t *testing.T) {
	tpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"a": "b"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
	}
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", UID: "u1"}}
	p := podFromTemplate(tpl, owner.Name, ControllerRef(owner, appsv1.SchemeGroupVersion.WithKind("ReplicaSet")))
	if p.GenerateName != "web-abc-" || p.Labels["app"] != "x" || p.Annotations["a"] != "b" || p.Spec.Containers[0].Image != "i" {
		t.Errorf("pod = %+v", p)
	}
	ref := p.OwnerReferences[0]
	if ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || ref.UID != "u1" || !*ref.Controller || !*ref.BlockOwnerDeletion {
		t.Errorf("owner ref = %+v", ref)
	}
	tpl.Labels["app"] = "changed"
	if p.Labels["app"] != "x" {
		t.Error("pod labels alias the template's")
	}
}

func TestClaim(t *testing.T) {
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Namespace: "ns", UID: "owner"}}
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
	withLabels := func(l string) podOpt {
		return func(p *corev1.Pod) { p.Labels, _ = labels.ConvertSelectorToLabelsMap(l) }
	}
	ownedBy := func(uid types.UID) podOpt {
		return func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{*ControllerRef(&metav1.ObjectMeta{Name: "x", UID: uid}, gvk)}
		}
	}
	pods := []*corev1.Pod{
		pod("mine", withLabels("app=x"), ownedBy("owner")),
		pod("orphan", withLabels("app=x")),
		pod("stray", withLabels("app=y"), ownedBy("owner")),
		pod("theirs", withLabels("app=x"), ownedBy("other")),
		pod("gone", withLabels("app=x")),
		pod("unrelated", withLabels("app=y")),
	}
	patches := map[string]string{}
	canAdopt := 0
	c := &Claimer{
		Owner: owner, OwnerGVK: gvk, Selector: labels.SelectorFromSet(labels.Set{"app": "x"}),
		CanAdopt: func(context.Context) error { canAdopt++; return nil },
		Patch: func(_ context.Context, _, name string, patch []byte) error {
			if name == "gone" {
				return apierrors.NewNotFound(corev1.Resource("pods"), name)
			}
			patches[name] = string(patch)
			return nil
		},
	}
	claimed, err := Claim(context.Background(), c, pods)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range claimed {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "mine,orphan" {
		t.Errorf("claimed %v, want mine,orphan", names)
	}
	if canAdopt != 1 {
		t.Errorf("CanAdopt called %d times, want once", canAdopt)
	}
	var adopt struct {
		Metadata struct {
			OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
			UID             types.UID               `json:"uid"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(patches["orphan"]), &adopt); err != nil || adopt.Metadata.UID != "orphan" ||
		len(adopt.Metadata.OwnerReferences) != 1 || adopt.Metadata.OwnerReferences[0].UID != "owner" ||
		!*adopt.Metadata.OwnerReferences[0].Controller || !*adopt.Metadata.OwnerReferences[0].BlockOwnerDeletion {
		t.Errorf("adopt patch = %s (%v)", patches["orphan"], err)
	}
	want := `{"metadata":{"ownerReferences":[{"$patch":"delete","uid":"owner"}],"uid":"stray"}}`
	if patches["stray"] != want {
		t.Errorf("release patch = %s, want %s", patches["stray"], want)
	}
	if _, ok := patches["theirs"]; ok {
		t.Error("touched a pod controlled by someone else")
	}

	t.Run("owner being deleted adopts nothing", func(t *testing.T) {
		deleting := owner.DeepCopy()
		deleting.DeletionTimestamp = &metav1.Time{Time: t0}
		c := &Claimer{Owner: deleting, OwnerGVK: gvk, Selector: labels.SelectorFromSet(labels.Set{"app": "x"}),
			Patch: func(context.Context, string, string, []byte) error { return fmt.Errorf("no patch expected") }}
		claimed, err := Claim(context.Background(), c, []*corev1.Pod{pod("orphan", withLabels("app=x")), pod("mine", withLabels("app=x"), ownedBy("owner"))})
		if err != nil || len(claimed) != 1 || claimed[0].Name != "mine" {
			t.Errorf("claimed %v, err %v", claimed, err)
		}
	})
	t.Run("refused adoption is an error", func(t *testing.T) {
		c := &Claimer{Owner: owner, OwnerGVK: gvk, Selector: labels.SelectorFromSet(labels.Set{"app": "x"}),
			CanAdopt: func(context.Context) error { return errors.New("owner replaced") },
			Patch:    func(context.Context, string, string, []byte) error { return nil }}
		if _, err := Claim(context.Background(), c, []*corev1.Pod{pod("orphan", withLabels("app=x"))}); err == nil {
			t.Error("no error")
		}
	})
}
