// Package endpoints_test checks the EndpointSlice and Endpoints controllers against a real
// API server: pods are created with spec.nodeName and given an IP and readiness through
// the status subresource, standing in for a node agent.
package endpoints_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/berth/berth/test/integration/framework"
)

const (
	ns      = metav1.NamespaceDefault
	timeout = 30 * time.Second
)

// podSpec describes a test pod: its IP, readiness, labels and the port named "http".
type podSpec struct {
	name     string
	ip       string
	ready    bool
	labels   map[string]string
	httpPort int32
	node     string
	hostname string
	sub      string
}

func createPod(t *testing.T, client kubernetes.Interface, p podSpec) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	if p.labels == nil {
		p.labels = map[string]string{"app": "web"}
	}
	if p.httpPort == 0 {
		p.httpPort = 8080
	}
	if p.node == "" {
		p.node = "node-a"
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: p.labels},
		Spec: corev1.PodSpec{
			NodeName: p.node, Hostname: p.hostname, Subdomain: p.sub,
			Containers: []corev1.Container{{
				Name: "app", Image: "app:1",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: p.httpPort}},
			}},
		},
	}
	created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.name, err)
	}
	created.Status.Phase = corev1.PodRunning
	created.Status.PodIP, created.Status.PodIPs = p.ip, []corev1.PodIP{{IP: p.ip}}
	created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: condition(p.ready)}}
	updated, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("set status of pod %s: %v", p.name, err)
	}
	return updated
}

func condition(ok bool) corev1.ConditionStatus {
	if ok {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// setReady flips a pod's Ready condition through the status subresource.
func setReady(t testing.TB, client kubernetes.Interface, name string, ready bool) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: condition(ready)}}
		_, err = client.CoreV1().Pods(ns).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Errorf("set pod %s ready=%v: %v", name, ready, err)
	}
}

func createNode(t *testing.T, client kubernetes.Interface, name, zone string) {
	t.Helper()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}}}
	if _, err := client.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
}

type svcOpt func(*corev1.Service)

func createService(t *testing.T, client kubernetes.Interface, name string, opts ...svcOpt) *corev1.Service {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"tier": "front"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, o := range opts {
		o(svc)
	}
	created, err := client.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service %s: %v", name, err)
	}
	return created
}

func managedSlices(t testing.TB, client kubernetes.Interface, service string) []discoveryv1.EndpointSlice {
	t.Helper()
	list, err := client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + service + "," + discoveryv1.LabelManagedBy + "=endpointslice-controller.k8s.io",
	})
	if err != nil {
		t.Fatalf("list slices: %v", err)
	}
	return list.Items
}

// sliceView renders the endpoints of a Service's slices as sorted
// "pod=ip:ports r/s/t" entries (r ready, s serving, t terminating; '-' when false), so a
// wait can compare the whole state at once.
func sliceView(slices []discoveryv1.EndpointSlice) string {
	var entries []string
	for _, s := range slices {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprint(*p.Port))
		}
		sort.Strings(ports)
		for _, ep := range s.Endpoints {
			flags := flag(ep.Conditions.Ready, "r") + flag(ep.Conditions.Serving, "s") + flag(ep.Conditions.Terminating, "t")
			name := ""
			if ep.TargetRef != nil {
				name = ep.TargetRef.Name + "="
			}
			entries = append(entries, fmt.Sprintf("%s%s:%s %s", name, ep.Addresses[0], strings.Join(ports, ","), flags))
		}
	}
	sort.Strings(entries)
	return strings.Join(entries, " ")
}

func flag(b *bool, name string) string {
	if b != nil && *b {
		return name
	}
	return "-"
}

// endpointsView renders legacy Endpoints as "port: ready... !notready..." per subset.
func endpointsView(ep *corev1.Endpoints) string {
	var subsets []string
	for _, s := range ep.Subsets {
		var ports, addrs []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprint(p.Port))
		}
		for _, a := range s.Addresses {
			addrs = append(addrs, addressName(a))
		}
		for _, a := range s.NotReadyAddresses {
			addrs = append(addrs, "!"+addressName(a))
		}
		slices.Sort(addrs)
		subsets = append(subsets, strings.Join(ports, ",")+": "+strings.Join(addrs, " "))
	}
	sort.Strings(subsets)
	return strings.Join(subsets, "; ")
}

// waitSlices waits until the Service's slices render as want.
func waitSlices(t *testing.T, client kubernetes.Interface, service, want string) []discoveryv1.EndpointSlice {
	t.Helper()
	var got []discoveryv1.EndpointSlice
	waitView(t, "slices of "+service, want, func() string {
		got = managedSlices(t, client, service)
		return sliceView(got)
	})
	return got
}

// waitEndpoints waits until the Service's Endpoints render as want.
func waitEndpoints(t *testing.T, client kubernetes.Interface, service, want string) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	waitView(t, "endpoints of "+service, want, func() string {
		var err error
		if ep, err = client.CoreV1().Endpoints(ns).Get(context.Background(), service, metav1.GetOptions{}); err != nil {
			return "<" + err.Error() + ">"
		}
		return endpointsView(ep)
	})
	return ep
}

// waitView polls view until it returns want, and shows the last view when it never does.
func waitView(t *testing.T, what, want string, view func() string) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for {
		got := view()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
		}
		<-tick.C
	}
}

func startCluster(t *testing.T) *framework.Cluster {
	t.Helper()
	c := framework.StartCluster(t, framework.Options{})
	createNode(t, c.Client, "node-a", "zone-a")
	createNode(t, c.Client, "node-b", "zone-b")
	return c
}

func intOrString(n int32) intstr.IntOrString { return intstr.FromInt32(n) }

func joinSorted(items []string) string {
	items = slices.Clone(items)
	sort.Strings(items)
	return strings.Join(items, " ")
}

// podNames returns p000 … p<n-1>.
func podNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p%03d", i)
	}
	return names
}

func containsLine(out, want string) bool { return strings.Contains(out, want) }

// addressName is the pod an address stands for, or its IP.
func addressName(a corev1.EndpointAddress) string {
	if a.TargetRef == nil {
		return a.IP
	}
	return a.TargetRef.Name
}
