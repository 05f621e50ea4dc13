package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

type podOpt func(*corev1.Pod)

func testPod(name, ip string, opts ...podOpt) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: k8stypes.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
			Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		}}},
		Status: corev1.PodStatus{PodIP: ip, Phase: corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, o := range opts {
		o(pod)
	}
	return pod
}

func notReady(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }
func terminating(p *corev1.Pod) {
	now := metav1.Now()
	p.DeletionTimestamp = &now
}
func httpPort(n int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
}

func testService(opts ...func(*corev1.Service)) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: testUID},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, o := range opts {
		o(svc)
	}
	return svc
}

func zones(node string) string { return map[string]string{"n1": "zone-a"}[node] }

func TestPodEndpoint(t *testing.T) {
	conds := func(ready, serving, terminating bool) discoveryv1.EndpointConditions {
		return discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating}
	}
	publish := func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }
	tests := []struct {
		name string
		svc  *corev1.Service
		pod  *corev1.Pod
		want discoveryv1.EndpointConditions
	}{
		{"ready", testService(), testPod("a", "10.0.0.1"), conds(true, true, false)},
		{"not ready", testService(), testPod("a", "10.0.0.1", notReady), conds(false, false, false)},
		{"terminating ready", testService(), testPod("a", "10.0.0.1", terminating), conds(false, true, true)},
		{"terminating not ready", testService(), testPod("a", "10.0.0.1", terminating, notReady), conds(false, false, true)},
		{"publishNotReadyAddresses", testService(publish), testPod("a", "10.0.0.1", notReady), conds(true, true, false)},
		{"publishNotReadyAddresses terminating", testService(publish), testPod("a", "10.0.0.1", notReady, terminating), conds(true, true, true)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := podEndpoint(tc.svc, tc.pod, zones)
			if !apiequality.Semantic.DeepEqual(got.Conditions, tc.want) {
				t.Errorf("conditions = %s, want %s", condString(got.Conditions), condString(tc.want))
			}
			if got.Addresses[0] != "10.0.0.1" || *got.NodeName != "n1" || *got.Zone != "zone-a" ||
				got.TargetRef.Name != "a" || got.TargetRef.UID != "uid-a" || got.Hostname != nil {
				t.Errorf("endpoint = %+v", got)
			}
		})
	}
}

func condString(c discoveryv1.EndpointConditions) string {
	return fmt.Sprintf("ready=%v serving=%v terminating=%v", *c.Ready, *c.Serving, *c.Terminating)
}

func TestHostname(t *testing.T) {
	withHost := func(sub string) podOpt {
		return func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", sub }
	}
	if got := podEndpoint(testService(), testPod("a", "10.0.0.1", withHost("web")), zones).Hostname; got == nil || *got != "db-0" {
		t.Errorf("hostname with matching subdomain = %v, want db-0", got)
	}
	if got := podEndpoint(testService(), testPod("a", "10.0.0.1", withHost("other")), zones).Hostname; got != nil {
		t.Errorf("hostname with another subdomain = %q, want none", *got)
	}
}

func TestDesiredGroups(t *testing.T) {
	failed := func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }
	noIP := func(p *corev1.Pod) { p.Status.PodIP = "" }
	noPorts := func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }
	pods := []*corev1.Pod{
		testPod("a", "10.0.0.1"),
		testPod("b", "10.0.0.2", httpPort(9090)),
		testPod("c", "10.0.0.3"),
		testPod("d", "10.0.0.4", failed),
		testPod("e", "", noIP),
		testPod("f", "10.0.0.6", noPorts),
		testPod("g", "fd00::7"),
	}
	groups := desiredGroups(testService(), pods, zones)
	got := map[string][]string{}
	for _, g := range groups {
		for _, e := range g.endpoints {
			got[portsKey(g.ports)] = append(got[portsKey(g.ports)], e.TargetRef.Name)
		}
	}
	want := map[string][]string{
		portsKey([]discoveryv1.EndpointPort{port("http", 8080)}): {"a", "c"},
		portsKey([]discoveryv1.EndpointPort{port("http", 9090)}): {"b"},
		"": {"f"}, // a pod without the named port publishes its address without ports
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups = %v, want %v", got, want)
	}
}

func TestTargetPort(t *testing.T) {
	sidecar := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{
			Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9100}},
		}}
	}
	tests := []struct {
		name    string
		port    corev1.ServicePort
		pod     *corev1.Pod
		want    int32
		wantErr bool
	}{
		{"number", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8081)}, testPod("a", "10.0.0.1"), 8081, false},
		{"unset means port", corev1.ServicePort{Port: 80}, testPod("a", "10.0.0.1"), 80, false},
		{"name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("http")}, testPod("a", "10.0.0.1"), 8080, false},
		{"name with other protocol", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("http")},
			testPod("a", "10.0.0.1"), 0, true},
		{"name on a sidecar", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("metrics")}, testPod("a", "10.0.0.1", sidecar), 9100, false},
		{"missing name", corev1.ServicePort{Port: 80, TargetPort: intstr.FromString("grpc")}, testPod("a", "10.0.0.1"), 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := targetPort(tc.pod, &tc.port)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("targetPort = %d, %v; want %d, error %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestEndpointSubsets(t *testing.T) {
	pods := []*corev1.Pod{
		testPod("b", "10.0.0.2", notReady),
		testPod("a", "10.0.0.1"),
		testPod("c", "10.0.0.3", terminating),
		testPod("d", "10.0.0.4", httpPort(9090)),
	}
	subsets := endpointSubsets(testService(), pods)
	got := ""
	for _, s := range subsets {
		got += fmt.Sprintf("%d:", s.Ports[0].Port)
		for _, a := range s.Addresses {
			got += " " + a.TargetRef.Name
		}
		for _, a := range s.NotReadyAddresses {
			got += " !" + a.TargetRef.Name
		}
		got += ";"
	}
	if want := "8080: a !b;9090: d;"; got != want {
		t.Errorf("subsets = %q, want %q (terminating pods left out)", got, want)
	}
	published := endpointSubsets(testService(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }), pods)
	if n := len(published[0].Addresses); n != 3 || len(published[0].NotReadyAddresses) != 0 {
		t.Errorf("publishNotReadyAddresses: %d ready, %d not ready; want 3, 0", n, len(published[0].NotReadyAddresses))
	}
}

func TestTruncateSubsets(t *testing.T) {
	addrs := func(n int) []corev1.EndpointAddress { return make([]corev1.EndpointAddress, n) }
	tests := []struct {
		name            string
		ready, notReady []int // per subset
		max             int
		wantR, wantN    []int
		wantTruncated   bool
	}{
		{"under capacity", []int{3, 2}, []int{1, 1}, 10, []int{3, 2}, []int{1, 1}, false},
		{"not-ready go first", []int{4, 2}, []int{4, 4}, 10, []int{4, 2}, []int{2, 2}, true},
		{"ready over capacity keep proportions", []int{600, 600}, []int{5, 0}, 1000, []int{500, 500}, []int{0, 0}, true},
		{"rounding up never exceeds max", []int{1, 1, 1}, nil, 2, []int{1, 1, 0}, []int{0, 0, 0}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			subsets := make([]corev1.EndpointSubset, len(tc.ready))
			for i := range subsets {
				subsets[i].Addresses = addrs(tc.ready[i])
				if i < len(tc.notReady) {
					subsets[i].NotReadyAddresses = addrs(tc.notReady[i])
				}
			}
			truncated := truncateSubsets(subsets, tc.max)
			var gotR, gotN []int
			for _, s := range subsets {
				gotR, gotN = append(gotR, len(s.Addresses)), append(gotN, len(s.NotReadyAddresses))
			}
			if truncated != tc.wantTruncated || fmt.Sprint(gotR) != fmt.Sprint(tc.wantR) || (tc.notReady != nil && fmt.Sprint(gotN) != fmt.Sprint(tc.wantN)) {
				t.Errorf("truncate = %v ready %v notReady %v; want %v ready %v notReady %v", truncated, gotR, gotN, tc.wantTruncated, tc.wantR, tc.wantN)
			}
		})
	}
}

func TestAPIServerAddr(t *testing.T) {
	tests := []struct {
		host        string
		want        string
		publishable bool
	}{
		{"https://10.0.0.5:6443", "10.0.0.5:6443", true},
		{"https://127.0.0.1:6443", "127.0.0.1:6443", false},
		{"https://0.0.0.0:6443", "0.0.0.0:6443", false},
		{"https://[fd00::1]:6443", "[fd00::1]:6443", false},
		{"https://api.example:6443", "invalid AddrPort", false},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			addr, err := apiServerAddr(tc.host)
			if err != nil {
				t.Fatal(err)
			}
			c := &APIServerEndpoints{addr: addr}
			if addr.String() != tc.want || c.publishable() != tc.publishable {
				t.Errorf("addr = %s publishable = %v, want %s %v", addr, c.publishable(), tc.want, tc.publishable)
			}
		})
	}
}
