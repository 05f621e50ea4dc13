package apiserver

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth/berth/internal/apiserver/openapi"
	"github.com/berth/berth/internal/registry"
)

// fieldManagersOf builds the field managers of the built-in resource group/name.
func fieldManagersOf(tb testing.TB, group, name string) (*fieldManagers, *registry.Resource) {
	tb.Helper()
	scheme := registry.NewScheme()
	var res *registry.Resource
	var described []openapi.Resource
	for _, r := range registry.Builtin() {
		if r.Name == name && r.GroupVersion.Group == group {
			res = r
		}
		described = append(described, openapi.Resource{Group: r.GroupVersion.Group, Version: r.GroupVersion.Version,
			Resource: r.Name, Kind: r.Kind, Namespaced: r.Namespaced, Verbs: []string{"create", "update"}})
	}
	if res == nil {
		tb.Fatalf("no resource %s/%s", group, name)
	}
	spec, err := openapi.New(described, scheme.AllKnownTypes())
	if err != nil {
		tb.Fatal(err)
	}
	tc, err := spec.TypeConverter()
	if err != nil {
		tb.Fatal(err)
	}
	fms, err := newFieldManagers(tc, registry.NewCodecs(scheme), res)
	if err != nil {
		tb.Fatal(err)
	}
	return fms, res
}

// templatePod is a pod as the create handler gives it to the field managers: decoded,
// with its kind set.
func templatePod(name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, GenerateName: "web-5d4f8-", Namespace: "default", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": "web", "pod-template-hash": "5d4f8"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d4f8",
				UID: "rs-uid", Controller: new(true), BlockOwnerDeletion: new(true)}},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:0.3.2",
			Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}},
		}}},
	}
}

// TestCreateFieldsMatchFieldManager: a create recorded from memory carries exactly the
// managed fields the field manager gives that object (times aside), for objects that
// equal a remembered one but for what managed fields never record, and for objects that
// differ from it in ways the encoding might blur.
func TestCreateFieldsMatchFieldManager(t *testing.T) {
	pods, podRes := fieldManagersOf(t, "", "pods")
	tests := []struct {
		name      string
		first     *corev1.Pod
		second    *corev1.Pod
		manager   string
		wantReuse bool
	}{
		{"pods of one template", templatePod("web-5d4f8-aaaaa"), templatePod("web-5d4f8-bbbbb"), "kube-controller-manager", true},
		{"another manager", templatePod("a"), templatePod("b"), "kubectl-create", true},
		{"a different label", templatePod("a"), func() *corev1.Pod {
			p := templatePod("b")
			p.Labels["track"] = "canary"
			return p
		}(), "m", false},
		{"no containers vs empty containers", func() *corev1.Pod {
			p := templatePod("a")
			p.Spec.Containers = nil
			return p
		}(), func() *corev1.Pod {
			p := templatePod("b")
			p.Spec.Containers = []corev1.Container{}
			return p
		}(), "m", false},
		{"no labels vs empty labels", func() *corev1.Pod {
			p := templatePod("a")
			p.Labels = nil
			return p
		}(), func() *corev1.Pod {
			p := templatePod("b")
			p.Labels = map[string]string{}
			return p
		}(), "m", true},
		{"nil vs false pointer", templatePod("a"), func() *corev1.Pod {
			p := templatePod("b")
			p.Spec.AutomountServiceAccountToken = new(false)
			return p
		}(), "m", false},
		{"status set", templatePod("a"), func() *corev1.Pod {
			p := templatePod("b")
			p.Status.Phase = corev1.PodPending
			return p
		}(), "m", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fms := &fieldManagers{main: pods.main, rememberCreates: true}
			for i, obj := range []*corev1.Pod{tc.first, tc.second} {
				want := pods.main.UpdateNoErrors(podRes.New(), obj.DeepCopy(), tc.manager)
				before := len(fms.creates.entries)
				got := fms.trackCreate(podRes.New(), obj.DeepCopy(), tc.manager)
				if w, g := managedFieldsOf(t, want), managedFieldsOf(t, got); !reflect.DeepEqual(w, g) {
					t.Fatalf("object %d: managed fields\n got %v\nwant %v", i, fieldsText(g), fieldsText(w))
				}
				for _, e := range got.(*corev1.Pod).ManagedFields {
					if e.Time == nil || e.Time.IsZero() {
						t.Fatalf("object %d: entry without a time: %+v", i, e)
					}
				}
				wantCopy := obj.DeepCopy()
				wantCopy.ManagedFields = got.(*corev1.Pod).ManagedFields
				if !reflect.DeepEqual(got, runtime.Object(wantCopy)) {
					t.Fatalf("object %d: more than its managed fields changed", i)
				}
				if i == 1 && (len(fms.creates.entries) == before) != tc.wantReuse {
					t.Fatalf("second object reused a remembered create: %v, want %v", len(fms.creates.entries) == before, tc.wantReuse)
				}
			}
		})
	}
}

func fieldsText(entries []metav1.ManagedFieldsEntry) string {
	out := ""
	for _, e := range entries {
		raw := ""
		if e.FieldsV1 != nil {
			raw = string(e.FieldsV1.Raw)
		}
		out += fmt.Sprintf("[%s %s %s %s] ", e.Manager, e.Operation, e.APIVersion, raw)
	}
	return out
}

// TestCreateFieldsBypass: objects that bring managed fields of their own are worked out
// by the field manager (it starts from them), and remembered creates are bounded.
func TestCreateFieldsBypass(t *testing.T) {
	deploys, res := fieldManagersOf(t, "apps", "deployments")
	if pods, _ := fieldManagersOf(t, "", "pods"); !pods.rememberCreates {
		t.Fatal("pods' creates are not remembered")
	}
	for _, other := range []struct{ group, name string }{{"apps", "deployments"}, {"", "events"}, {"", "configmaps"}} {
		if fms, _ := fieldManagersOf(t, other.group, other.name); fms.rememberCreates {
			t.Fatalf("%s' creates are remembered", other.name)
		}
	}
	big := templatePod("big")
	big.Annotations = map[string]string{"blob": strings.Repeat("x", createFieldsMaxKey)}
	if _, ok := createFieldsKey(big, "m"); ok {
		t.Fatal("a pod bigger than createFieldsMaxKey got a key")
	}
	fms := &fieldManagers{main: deploys.main, rememberCreates: true}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "default",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "earlier", Operation: metav1.ManagedFieldsOperationUpdate,
			APIVersion: "apps/v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{}}}`)}}}}}
	want := deploys.main.UpdateNoErrors(res.New(), d.DeepCopy(), "m")
	got := fms.trackCreate(res.New(), d.DeepCopy(), "m")
	if w, g := managedFieldsOf(t, want), managedFieldsOf(t, got); !reflect.DeepEqual(w, g) {
		t.Fatalf("managed fields\n got %v\nwant %v", fieldsText(g), fieldsText(w))
	}
	if len(fms.creates.entries) != 0 {
		t.Fatalf("an object with its own managed fields was remembered")
	}
	for i := range createFieldsSize + 10 {
		obj := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "default",
			Labels: map[string]string{fmt.Sprintf("l%d", i): "x"}}}
		fms.trackCreate(res.New(), obj, "m")
	}
	if n, o := len(fms.creates.entries), len(fms.creates.order); n != createFieldsSize || o != createFieldsSize {
		t.Fatalf("%d entries, %d in order, want %d", n, o, createFieldsSize)
	}
}

// BenchmarkCreateFields: recording a ReplicaSet's pod create, worked out and remembered.
func BenchmarkCreateFields(b *testing.B) {
	pods, res := fieldManagersOf(b, "", "pods")
	b.Run("field-manager", func(b *testing.B) {
		for i := range b.N {
			pods.main.UpdateNoErrors(res.New(), templatePod(fmt.Sprint(i)), "kube-controller-manager")
		}
	})
	b.Run("remembered", func(b *testing.B) {
		fms := &fieldManagers{main: pods.main, rememberCreates: true}
		for i := range b.N {
			fms.trackCreate(res.New(), templatePod(fmt.Sprint(i)), "kube-controller-manager")
		}
	})
}

// BenchmarkStatusTracking: recording a kubelet's status update of a ReplicaSet's pod
// (Pending and bound → Running and Ready).
func BenchmarkStatusTracking(b *testing.B) {
	pods, res := fieldManagersOf(b, "", "pods")
	live := pods.main.UpdateNoErrors(res.New(), templatePod("web-5d4f8-aaaaa"), "kube-controller-manager").(*corev1.Pod)
	live.Spec.NodeName = "node-1"
	live.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBurstable,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}
	next := live.DeepCopy()
	now := metav1.Now()
	next.Status.Phase, next.Status.StartTime, next.Status.PodIP, next.Status.HostIP = corev1.PodRunning, &now, "10.42.0.5", "10.0.0.1"
	next.Status.Conditions = append(next.Status.Conditions,
		corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now})
	next.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "app:0.3.2", ImageID: "sha256:abc",
		ContainerID: "containerd://123", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}}
	for range b.N {
		pods.trackUpdate("status", live, next.DeepCopy(), "kubelet")
	}
}
