package endpointslice

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

const testUID = types.UID("svc-uid")

func testMeta() sliceMeta {
	return sliceMetaFor(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: testUID, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}},
	})
}

func port(name string, n int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Port: ptr.To(n), Protocol: ptr.To(corev1.ProtocolTCP)}
}

var http80 = []discoveryv1.EndpointPort{port("http", 80)}

// ep is the endpoint of pod p<i> at 10.0.<i/250>.<i%250+1>.
func ep(i int, ready bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: fmt.Sprintf("p%d", i)},
	}
}

// eps returns ready endpoints for pods from..to-1.
func eps(from, to int) []discoveryv1.Endpoint {
	var out []discoveryv1.Endpoint
	for i := from; i < to; i++ {
		out = append(out, ep(i, true))
	}
	return out
}

func group(ports []discoveryv1.EndpointPort, endpoints ...[]discoveryv1.Endpoint) map[string]*endpointGroup {
	g := &endpointGroup{ports: ports}
	for _, e := range endpoints {
		g.endpoints = append(g.endpoints, e...)
	}
	return map[string]*endpointGroup{portsKey(ports): g}
}

func existingSlice(name string, ports []discoveryv1.EndpointPort, endpoints []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	s := newSlice(testMeta(), ports)
	s.Name, s.UID, s.ResourceVersion = name, types.UID(name+"-uid"), "7"
	s.Endpoints = endpoints
	return s
}

// summary renders a plan as "create[n ...] update[name:n ...] delete[name ...]", counting
// endpoints per slice.
func summary(p plan) string {
	var parts []string
	list := func(verb string, ss []*discoveryv1.EndpointSlice, named bool) {
		if len(ss) == 0 {
			return
		}
		var items []string
		for _, s := range ss {
			switch {
			case verb == "delete":
				items = append(items, s.Name)
			case named:
				items = append(items, fmt.Sprintf("%s:%d", s.Name, len(s.Endpoints)))
			default:
				items = append(items, fmt.Sprint(len(s.Endpoints)))
			}
		}
		parts = append(parts, verb+"["+strings.Join(items, " ")+"]")
	}
	list("create", p.create, false)
	list("update", p.update, true)
	list("delete", p.delete, true)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func TestReconcile(t *testing.T) {
	notOwned := existingSlice("other", http80, eps(0, 3))
	notOwned.OwnerReferences[0].UID = "old-service"
	relabelled := existingSlice("a", http80, eps(0, 3))
	relabelled.Labels["app"] = "old"
	withChangedReadiness := eps(0, 3)
	withChangedReadiness[1] = ep(1, false)

	tests := []struct {
		name     string
		desired  map[string]*endpointGroup
		existing []*discoveryv1.EndpointSlice
		max      int
		want     string
	}{
		{name: "first sync creates one slice", desired: group(http80, eps(0, 3)), want: "create[3]"},
		{name: "more than max splits into full slices", desired: group(http80, eps(0, 250)), want: "create[100 100 50]"},
		{name: "in sync writes nothing", desired: group(http80, eps(0, 3)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 3))}, want: "none"},
		{name: "readiness change updates in place", desired: group(http80, withChangedReadiness),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 3))}, want: "update[a:3]"},
		{name: "removed pod updates its slice only", desired: group(http80, eps(0, 2), eps(100, 200)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 3)), existingSlice("b", http80, eps(100, 200))},
			want:     "update[a:2]"},
		{name: "no endpoints left turns the slice into the placeholder", desired: map[string]*endpointGroup{},
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 3))}, want: "update[a:0]"},
		{name: "no service endpoints and no slice creates the placeholder", desired: map[string]*endpointGroup{}, want: "create[0]"},
		{name: "placeholder is kept", desired: map[string]*endpointGroup{},
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", nil, nil)}, want: "none"},
		{name: "placeholder is reused for the first endpoints", desired: group(http80, eps(0, 2)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", nil, nil)}, want: "update[a:2]"},
		{name: "extra placeholder-like slices beside endpoints go", desired: group(http80, eps(0, 2)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 2)), existingSlice("b", nil, nil)},
			want:     "delete[b]"},
		{name: "remainder that fits nowhere gets a new slice", desired: group(http80, eps(0, 205)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 100)), existingSlice("b", http80, eps(100, 200))},
			want:     "create[5]"},
		{name: "small remainder fills the fullest unchanged slice it fits", desired: group(http80, eps(0, 170)),
			existing: []*discoveryv1.EndpointSlice{
				existingSlice("a", http80, eps(0, 100)), existingSlice("b", http80, eps(100, 150)), existingSlice("c", http80, eps(150, 160)),
			},
			want: "update[b:60]"},
		{name: "changed slices are filled before new ones", desired: group(http80, eps(1, 100), eps(200, 203)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 100))},
			want:     "create[2] update[a:100]"},
		{name: "port groups get their own slices",
			desired: func() map[string]*endpointGroup {
				g := group(http80, eps(0, 2))
				for k, v := range group([]discoveryv1.EndpointPort{port("http", 8080)}, eps(2, 3)) {
					g[k] = v
				}
				return g
			}(),
			want: "create[2 1]"},
		{name: "a port change reuses the old slice", desired: group([]discoveryv1.EndpointPort{port("http", 8080)}, eps(0, 3)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 3))}, want: "update[a:3]"},
		{name: "slices of an earlier service with the name are deleted", desired: group(http80, eps(0, 3)),
			existing: []*discoveryv1.EndpointSlice{notOwned}, want: "create[3] delete[other]"},
		{name: "label change rewrites the slice", desired: group(http80, eps(0, 3)),
			existing: []*discoveryv1.EndpointSlice{relabelled}, want: "update[a:3]"},
		{name: "duplicate endpoint is dropped from the second slice", desired: group(http80, eps(0, 3)),
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 3)), existingSlice("b", http80, eps(2, 3))},
			want:     "delete[b]"},
		{name: "lowered max sheds the surplus", desired: group(http80, eps(0, 150)), max: 100,
			existing: []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 150))}, want: "create[50] update[a:100]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			max := tc.max
			if max == 0 {
				max = 100
			}
			got := reconcile(testMeta(), tc.desired, tc.existing, max)
			if s := summary(got); s != tc.want {
				t.Fatalf("plan = %s, want %s", s, tc.want)
			}
			checkPlan(t, got, tc.desired)
		})
	}
}

// checkPlan asserts what every plan must satisfy: managed labels and a controller
// reference on each written slice, and no endpoint written twice.
func checkPlan(t *testing.T, p plan, desired map[string]*endpointGroup) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range append(append([]*discoveryv1.EndpointSlice{}, p.create...), p.update...) {
		if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName {
			t.Errorf("slice %q labels = %v", s.Name, s.Labels)
		}
		if !ownedBy(s, testUID) {
			t.Errorf("slice %q has no controller reference to the service", s.Name)
		}
		if s.Name == "" && s.GenerateName != "web-" {
			t.Errorf("new slice generateName = %q", s.GenerateName)
		}
		for _, e := range s.Endpoints {
			k := endpointKey(&e)
			if seen[k] {
				t.Errorf("endpoint %s written twice", k)
			}
			seen[k] = true
		}
	}
}

func TestReconcileKeepsEndpointOrderAndResourceVersion(t *testing.T) {
	desired := eps(0, 3)
	desired[0] = ep(0, false)
	got := reconcile(testMeta(), group(http80, desired), []*discoveryv1.EndpointSlice{existingSlice("a", http80, eps(0, 3))}, 100)
	if len(got.update) != 1 {
		t.Fatalf("plan = %s", summary(got))
	}
	u := got.update[0]
	if u.ResourceVersion != "7" || u.UID != "a-uid" {
		t.Errorf("update lost identity: rv=%q uid=%q", u.ResourceVersion, u.UID)
	}
	for i, e := range u.Endpoints {
		if want := fmt.Sprintf("p%d", i); e.TargetRef.Name != want {
			t.Errorf("endpoint %d = %s, want %s", i, e.TargetRef.Name, want)
		}
	}
	if *u.Endpoints[0].Conditions.Ready {
		t.Errorf("endpoint p0 still ready")
	}
}

func TestReconcileConvergesAfterApplying(t *testing.T) {
	// Apply each plan to a fake state and reconcile again: the second plan must be empty.
	steps := []map[string]*endpointGroup{
		group(http80, eps(0, 250)),
		group(http80, eps(0, 120), eps(180, 260)),
		group([]discoveryv1.EndpointPort{port("http", 8080)}, eps(0, 10)),
		{},
		group(http80, eps(5, 305)),
	}
	var state []*discoveryv1.EndpointSlice
	next := 0
	for i, desired := range steps {
		p := reconcile(testMeta(), desired, state, 100)
		state = applyToState(state, p, &next)
		if again := reconcile(testMeta(), desired, state, 100); !again.empty() {
			t.Fatalf("step %d: second reconcile = %s, want none", i, summary(again))
		}
	}
}

func applyToState(state []*discoveryv1.EndpointSlice, p plan, next *int) []*discoveryv1.EndpointSlice {
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range state {
		byName[s.Name] = s
	}
	for _, s := range p.delete {
		delete(byName, s.Name)
	}
	for _, s := range p.update {
		byName[s.Name] = s
	}
	for _, s := range p.create {
		c := s.DeepCopy()
		*next++
		c.Name = fmt.Sprintf("web-%03d", *next)
		c.UID = types.UID(c.Name)
		byName[c.Name] = c
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(byName))
	for _, name := range sortedKeys(byName) {
		out = append(out, byName[name])
	}
	return out
}

// BenchmarkReconcileInSync is the cost of a sync that finds nothing to do for a Service
// of 10 000 endpoints (the common case under churn elsewhere).
func BenchmarkReconcileInSync(b *testing.B) {
	desired := group(http80, eps(0, 10000))
	var state []*discoveryv1.EndpointSlice
	next := 0
	state = applyToState(state, reconcile(testMeta(), desired, nil, 100), &next)
	b.ResetTimer()
	for b.Loop() {
		if p := reconcile(testMeta(), desired, state, 100); !p.empty() {
			b.Fatal(summary(p))
		}
	}
}

// BenchmarkDesiredGroups is the cost of turning 10 000 pods into endpoints.
func BenchmarkDesiredGroups(b *testing.B) {
	pods := make([]*corev1.Pod, 10000)
	for i := range pods {
		pods[i] = testPod(fmt.Sprintf("p%05d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))
	}
	svc := testService()
	for b.Loop() {
		desiredGroups(svc, pods, zones)
	}
}
