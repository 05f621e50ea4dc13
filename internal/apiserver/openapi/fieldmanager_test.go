package openapi

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/yaml"
)

func TestTypeConverterCoversServedKinds(t *testing.T) {
	s, scheme := newTestSpec(t)
	tc, err := s.TypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range servedResources() {
		gvk := schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
		t.Run(gvk.String(), func(t *testing.T) {
			obj, err := scheme.New(gvk)
			if err != nil {
				t.Fatal(err)
			}
			obj.GetObjectKind().SetGroupVersionKind(gvk)
			if _, err := tc.ObjectToTyped(obj); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("filled pod", func(t *testing.T) {
		pod := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "web"}, Finalizers: []string{"a"}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{
					Name: "app", Image: "app:1",
					Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}},
					Env:   []corev1.EnvVar{{Name: "A", Value: "1"}},
				}},
				NodeSelector: map[string]string{"zone": "a"},
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &metav1.Time{}},
		}
		if _, err := tc.ObjectToTyped(pod); err != nil {
			t.Fatal(err)
		}
	})
}

const deploymentYAML = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: app:1
        ports:
        - containerPort: 8080
      - name: nginx
        image: nginx:1
        ports:
        - containerPort: 80
`

func decodeUnstructured(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestServerSideApplyDeployment(t *testing.T) {
	s, scheme := newTestSpec(t)
	tc, err := s.TypeConverter()
	if err != nil {
		t.Fatal(err)
	}
	gvk := appsv1.SchemeGroupVersion.WithKind("Deployment")
	fm, err := managedfields.NewDefaultFieldManager(tc, scheme, scheme, scheme, gvk, gvk.GroupVersion(), "", nil)
	if err != nil {
		t.Fatal(err)
	}

	live := runtime.Object(&appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}})
	live, err = fm.Apply(live, decodeUnstructured(t, deploymentYAML), "kubectl", false)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if got := managers(t, live); len(got) != 1 || got[0] != "kubectl/Apply" {
		t.Fatalf("managers after apply: %v", got)
	}

	// Another manager changing a field kubectl owns conflicts unless forced.
	scaled := decodeUnstructured(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},"spec":{"replicas":5}}`)
	if _, err := fm.Apply(live, scaled, "autoscaler", false); !apierrors.IsConflict(err) {
		t.Fatalf("want a conflict on spec.replicas, got %v", err)
	}
	live, err = fm.Apply(live, scaled, "autoscaler", true)
	if err != nil {
		t.Fatalf("forced apply: %v", err)
	}

	// The containers list merges by name: another manager may add its own
	// container without conflicting with kubectl's...
	sidecar := decodeUnstructured(t, `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"proxy:1"}]}}}}`)
	live, err = fm.Apply(live, sidecar, "injector", false)
	if err != nil {
		t.Fatalf("sidecar apply: %v", err)
	}

	// ...and dropping a container from kubectl's configuration removes only
	// that one.
	oneContainer := decodeUnstructured(t, deploymentYAML)
	containers, _, _ := unstructured.NestedSlice(oneContainer.Object, "spec", "template", "spec", "containers")
	if err := unstructured.SetNestedSlice(oneContainer.Object, containers[:1], "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	unstructured.RemoveNestedField(oneContainer.Object, "spec", "replicas")
	live, err = fm.Apply(live, oneContainer, "kubectl", false)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	var got appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(toUnstructured(t, live), &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range got.Spec.Template.Spec.Containers {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"app", "sidecar"}) {
		t.Fatalf("containers after apply: %v, want [app sidecar]", names)
	}
	if got.Spec.Replicas == nil || *got.Spec.Replicas != 5 {
		t.Fatalf("replicas = %v, want 5 from the autoscaler", got.Spec.Replicas)
	}
	if m := managers(t, live); len(m) != 3 {
		t.Fatalf("managers: %v", m)
	}
}

func toUnstructured(t *testing.T, obj runtime.Object) map[string]any {
	t.Helper()
	if u, ok := obj.(*unstructured.Unstructured); ok {
		return u.Object
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func managers(t *testing.T, obj runtime.Object) []string {
	t.Helper()
	accessor, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range accessor.GetManagedFields() {
		names = append(names, e.Manager+"/"+string(e.Operation))
	}
	return names
}
