package registry

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/storage/memory"
)

// priorityStores are the pods and priorityclasses stores wired as berth server wires
// them: the Priority admission, the system classes and a default namespace.
func priorityStores(t *testing.T) (pods, classes *Store) {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, r := range Builtin() {
		switch r.Name {
		case "pods":
			pods = NewStore(r, st, NewScheme(), slog.New(slog.DiscardHandler))
		case "priorityclasses":
			classes = NewStore(r, st, NewScheme(), slog.New(slog.DiscardHandler))
		}
	}
	admission := NewPriorityAdmission(ctx, classes)
	pods.Admission.Mutate = admission.AdmitPod
	classes.Admission.Validate = admission.ValidateClass
	if err := EnsureSystemPriorityClasses(ctx, classes); err != nil {
		t.Fatal(err)
	}
	// A second start finds them and changes nothing.
	if err := EnsureSystemPriorityClasses(ctx, classes); err != nil {
		t.Fatal(err)
	}
	return pods, classes
}

func newClass(name string, value int32, globalDefault bool, policy corev1.PreemptionPolicy) *schedulingv1.PriorityClass {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
	if policy != "" {
		pc.PreemptionPolicy = &policy
	}
	return pc
}

func newPriorityPod(name, class string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       corev1.PodSpec{PriorityClassName: class, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	for _, m := range mutate {
		m(pod)
	}
	return pod
}

// wantStatus checks an API error's code and message.
func wantStatus(t *testing.T, err error, code int32, message string) {
	t.Helper()
	status, ok := err.(apierrors.APIStatus)
	if !ok {
		t.Fatalf("want a %d %q, got %v", code, message, err)
	}
	if s := status.Status(); s.Code != code || s.Message != message {
		t.Fatalf("got %d %q\nwant %d %q", s.Code, s.Message, code, message)
	}
}

func TestPriorityAdmissionOfPods(t *testing.T) {
	pods, classes := priorityStores(t)
	ctx := context.Background()
	if _, err := classes.Create(ctx, "", newClass("high", 1000, false, ""), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := classes.Create(ctx, "", newClass("polite", 500, false, corev1.PreemptNever), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		pod          *corev1.Pod
		wantClass    string
		wantPriority int32
		wantPolicy   corev1.PreemptionPolicy
		wantErr      string // a 403's message
	}{
		{name: "no class, no default", pod: newPriorityPod("plain", ""), wantPriority: 0, wantPolicy: corev1.PreemptLowerPriority},
		{name: "user class", pod: newPriorityPod("hi", "high"), wantClass: "high", wantPriority: 1000, wantPolicy: corev1.PreemptLowerPriority},
		{name: "class that never preempts", pod: newPriorityPod("nice", "polite"), wantClass: "polite", wantPriority: 500, wantPolicy: corev1.PreemptNever},
		{name: "system class", pod: newPriorityPod("dns", "system-cluster-critical"), wantClass: "system-cluster-critical",
			wantPriority: 2000000000, wantPolicy: corev1.PreemptLowerPriority},
		{name: "system node class", pod: newPriorityPod("proxy", "system-node-critical"), wantClass: "system-node-critical",
			wantPriority: 2000001000, wantPolicy: corev1.PreemptLowerPriority},
		{name: "priority matching the class", pod: newPriorityPod("same", "high", func(p *corev1.Pod) { p.Spec.Priority = ptr.To[int32](1000) }),
			wantClass: "high", wantPriority: 1000, wantPolicy: corev1.PreemptLowerPriority},
		{name: "unknown class", pod: newPriorityPod("x", "nope"), wantErr: `pods "x" is forbidden: no PriorityClass with name nope was found`},
		{name: "priority without class", pod: newPriorityPod("y", "", func(p *corev1.Pod) { p.Spec.Priority = ptr.To[int32](5) }),
			wantErr: `pods "y" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
		{name: "priority differing from the class", pod: newPriorityPod("z", "high", func(p *corev1.Pod) { p.Spec.Priority = ptr.To[int32](7) }),
			wantErr: `pods "z" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name`},
		{name: "policy differing from the class", pod: newPriorityPod("w", "", func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptr.To(corev1.PreemptNever) }),
			wantErr: `pods "w" is forbidden: the string value of PreemptionPolicy (Never) must not be provided in pod spec; priority admission controller computed PreemptLowerPriority from the given PriorityClass name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := pods.Create(ctx, "default", tt.pod, CreateOptions{})
			if tt.wantErr != "" {
				wantStatus(t, err, 403, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			spec := obj.(*corev1.Pod).Spec
			if spec.PriorityClassName != tt.wantClass || spec.Priority == nil || *spec.Priority != tt.wantPriority ||
				spec.PreemptionPolicy == nil || *spec.PreemptionPolicy != tt.wantPolicy {
				t.Fatalf("class %q priority %v policy %v; want %q %d %s", spec.PriorityClassName, ptr.Deref(spec.Priority, -1),
					ptr.Deref(spec.PreemptionPolicy, "<nil>"), tt.wantClass, tt.wantPriority, tt.wantPolicy)
			}
		})
	}

	t.Run("update keeps the priority an update omits", func(t *testing.T) {
		res, err := pods.Update(ctx, "default", "hi", func(cur runtime.Object) (runtime.Object, error) {
			pod := cur.(*corev1.Pod)
			pod.Spec.Priority, pod.Spec.PreemptionPolicy = nil, nil
			pod.Labels = map[string]string{"updated": "yes"}
			return pod, nil
		}, UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if spec := res.Object.(*corev1.Pod).Spec; ptr.Deref(spec.Priority, -1) != 1000 || ptr.Deref(spec.PreemptionPolicy, "") != corev1.PreemptLowerPriority {
			t.Fatalf("priority %v policy %v after the update", spec.Priority, spec.PreemptionPolicy)
		}
	})
}

func TestPriorityGlobalDefault(t *testing.T) {
	pods, classes := priorityStores(t)
	ctx := context.Background()
	if _, err := classes.Create(ctx, "", newClass("standard", 100, true, corev1.PreemptNever), CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Pods are admitted against a followed copy of the classes: the default applies as
	// soon as the copy has seen it.
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for ; ; <-tick.C {
		obj, err := pods.Create(ctx, "default", newPriorityPod("", "", func(p *corev1.Pod) { p.GenerateName = "p-" }), CreateOptions{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		spec := obj.(*corev1.Pod).Spec
		if spec.PriorityClassName == "standard" {
			if ptr.Deref(spec.Priority, -1) != 100 || ptr.Deref(spec.PreemptionPolicy, "") != corev1.PreemptNever {
				t.Fatalf("default class gave priority %v policy %v", spec.Priority, spec.PreemptionPolicy)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods still get class %q priority %v 5s after a global default was made", spec.PriorityClassName, spec.Priority)
		}
	}

	_, err := classes.Create(ctx, "", newClass("other", 5, true, ""), CreateOptions{})
	wantStatus(t, err, 403, `priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass standard is already marked as default. Only one default can exist`)

	if _, err := classes.Create(ctx, "", newClass("other", 5, false, ""), CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	makeDefault := func(cur runtime.Object) (runtime.Object, error) {
		cur.(*schedulingv1.PriorityClass).GlobalDefault = true
		cur.(*schedulingv1.PriorityClass).Description = "changed"
		return cur, nil
	}
	_, err = classes.Update(ctx, "", "other", makeDefault, UpdateOptions{})
	wantStatus(t, err, 403, `priorityclasses.scheduling.k8s.io "other" is forbidden: PriorityClass standard is already marked as default. Only one default can exist`)
	// The default itself may be updated.
	if _, err := classes.Update(ctx, "", "standard", makeDefault, UpdateOptions{}); err != nil {
		t.Fatalf("update of the default class: %v", err)
	}
}

func TestPriorityClassRules(t *testing.T) {
	_, classes := priorityStores(t)
	ctx := context.Background()

	obj, err := classes.Create(ctx, "", newClass("high", 1000, false, ""), CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pc := obj.(*schedulingv1.PriorityClass); pc.Generation != 1 || ptr.Deref(pc.PreemptionPolicy, "") != corev1.PreemptLowerPriority {
		t.Fatalf("new class: generation %d policy %v", pc.Generation, pc.PreemptionPolicy)
	}

	_, err = classes.Update(ctx, "", "high", func(cur runtime.Object) (runtime.Object, error) {
		cur.(*schedulingv1.PriorityClass).Value = 2000
		return cur, nil
	}, UpdateOptions{})
	wantStatus(t, err, 422, `PriorityClass.scheduling.k8s.io "high" is invalid: value: Forbidden: may not be changed in an update.`)

	_, err = classes.Create(ctx, "", newClass("system-mine", 10, false, ""), CreateOptions{})
	wantStatus(t, err, 422, `PriorityClass.scheduling.k8s.io "system-mine" is invalid: metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class`)

	for _, name := range []string{"system-cluster-critical", "system-node-critical"} {
		_, err = classes.Delete(ctx, "", name, nil, false)
		wantStatus(t, err, 403, `priorityclasses.scheduling.k8s.io "`+name+`" is forbidden: this is a system priority class and cannot be deleted`)
	}
	if _, err := classes.Delete(ctx, "", "high", nil, false); err != nil {
		t.Fatalf("delete of a user class: %v", err)
	}
}
