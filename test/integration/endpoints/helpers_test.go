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
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

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
	pod, err := tryCreatePod(context.Background(), client, p)
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

// tryCreatePod creates the pod and sets its status as a node agent would.
func tryCreatePod(ctx context.Context, client kubernetes.Interface, p podSpec) (*corev1.Pod, error) {
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
		return nil, fmt.Errorf("create pod %s: %w", p.name, err)
	}
	// A retried request (the first answer lost under load) meets its own write: re-read.
	var updated *corev1.Pod
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		created.Status.Phase = corev1.PodRunning
		created.Status.PodIP, created.Status.PodIPs = p.ip, []corev1.PodIP{{IP: p.ip}}
		created.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: condition(p.ready)}}
		var err error
		if updated, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
			if latest, getErr := client.CoreV1().Pods(ns).Get(ctx, p.name, metav1.GetOptions{}); getErr == nil {
				created = latest
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set status of pod %s: %w", p.name, err)
	}
	return updated, nil
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

// startNodes registers Ready nodes with zones and renews their Leases until the test
// ends, standing in for node agents, so the node lifecycle controller leaves their pods
// alone.
func startNodes(t *testing.T, client kubernetes.Interface, zoneByNode map[string]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for name, zone := range zoneByNode {
		node, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyZone: zone}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create node %s: %v", name, err)
		}
		// Other controllers (pod CIDR allocation) write the node too: retry on conflict.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			node.Status.Conditions = []corev1.NodeCondition{{
				Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(),
			}}
			_, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				if latest, getErr := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); getErr == nil {
					node = latest
				}
			}
			return err
		})
		if err != nil {
			t.Fatalf("node %s status: %v", name, err)
		}
		leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
		lease, err := leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), RenewTime: &metav1.MicroTime{Time: time.Now()}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("lease of node %s: %v", name, err)
		}
		wg.Go(func() {
			tick := time.NewTicker(5 * time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
				if renewed, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err == nil {
					lease = renewed
				} else if latest, err := leases.Get(ctx, name, metav1.GetOptions{}); err == nil {
					lease = latest
				}
			}
		})
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
	startNodes(t, c.Client, map[string]string{"node-a": "zone-a", "node-b": "zone-b"})
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
