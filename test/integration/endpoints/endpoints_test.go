package endpoints_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/test/integration/framework"
)

func TestEndpointsFollowPods(t *testing.T) {
	c := startCluster(t)
	client, ctx := c.Client, context.Background()

	svc := createService(t, client, "web")
	createPod(t, client, podSpec{name: "a", ip: "10.42.0.1", ready: true})
	createPod(t, client, podSpec{name: "b", ip: "10.42.0.2", ready: true, node: "node-b"})
	createPod(t, client, podSpec{name: "c", ip: "10.42.0.3", ready: false})
	createPod(t, client, podSpec{name: "other", ip: "10.42.0.9", ready: true, labels: map[string]string{"app": "db"}})
	// Not yet given an IP: not an endpoint.
	if _, err := client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pending", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	slices := waitSlices(t, client, "web", "a=10.42.0.1:8080 rs- b=10.42.0.2:8080 rs- c=10.42.0.3:8080 ---")
	if len(slices) != 1 {
		t.Fatalf("%d slices, want 1", len(slices))
	}
	s := slices[0]
	t.Run("slice metadata", func(t *testing.T) {
		if s.AddressType != discoveryv1.AddressTypeIPv4 || s.GenerateName != "web-" || s.Labels["tier"] != "front" {
			t.Errorf("addressType=%s generateName=%q labels=%v", s.AddressType, s.GenerateName, s.Labels)
		}
		ref := metav1.GetControllerOf(&s)
		if ref == nil || ref.Kind != "Service" || ref.Name != "web" || ref.UID != svc.UID {
			t.Errorf("controller reference = %+v, want the service", ref)
		}
		if len(s.Ports) != 1 || *s.Ports[0].Name != "http" || *s.Ports[0].Protocol != corev1.ProtocolTCP {
			t.Errorf("ports = %+v", s.Ports)
		}
		for _, ep := range s.Endpoints {
			wantNode, wantZone := "node-a", "zone-a"
			if ep.TargetRef.Name == "b" {
				wantNode, wantZone = "node-b", "zone-b"
			}
			if ptr.Deref(ep.NodeName, "") != wantNode || ptr.Deref(ep.Zone, "") != wantZone || ep.TargetRef.Kind != "Pod" || ep.TargetRef.UID == "" {
				t.Errorf("endpoint %s: node=%v zone=%v targetRef=%+v", ep.TargetRef.Name, ep.NodeName, ep.Zone, ep.TargetRef)
			}
		}
	})
	waitEndpoints(t, client, "web", "8080: !c a b")

	t.Run("readiness changes", func(t *testing.T) {
		setReady(t, client, "c", true)
		setReady(t, client, "a", false)
		waitSlices(t, client, "web", "a=10.42.0.1:8080 --- b=10.42.0.2:8080 rs- c=10.42.0.3:8080 rs-")
		waitEndpoints(t, client, "web", "8080: !a b c")
	})

	t.Run("terminating pod stays in slices, serving, not ready; leaves Endpoints", func(t *testing.T) {
		if err := client.CoreV1().Pods(ns).Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](300)}); err != nil {
			t.Fatal(err)
		}
		waitSlices(t, client, "web", "a=10.42.0.1:8080 --- b=10.42.0.2:8080 -st c=10.42.0.3:8080 rs-")
		waitEndpoints(t, client, "web", "8080: !a c")
		setReady(t, client, "b", false)
		waitSlices(t, client, "web", "a=10.42.0.1:8080 --- b=10.42.0.2:8080 --t c=10.42.0.3:8080 rs-")
	})

	t.Run("deleted pod leaves", func(t *testing.T) {
		if err := client.CoreV1().Pods(ns).Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
		waitSlices(t, client, "web", "a=10.42.0.1:8080 --- c=10.42.0.3:8080 rs-")
		waitEndpoints(t, client, "web", "8080: !a c")
	})

	t.Run("relabelled pod leaves", func(t *testing.T) {
		pod, err := client.CoreV1().Pods(ns).Get(ctx, "a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pod.Labels = map[string]string{"app": "retired"}
		if _, err := client.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitSlices(t, client, "web", "c=10.42.0.3:8080 rs-")
		waitEndpoints(t, client, "web", "8080: c")
	})

	t.Run("a slice deleted by hand comes back", func(t *testing.T) {
		for _, s := range managedSlices(t, client, "web") {
			if err := client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		waitSlices(t, client, "web", "c=10.42.0.3:8080 rs-")
	})

	t.Run("service deleted takes its slices and endpoints", func(t *testing.T) {
		if err := client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		framework.Eventually(t, timeout, "slices and endpoints of web gone", func() bool {
			_, err := client.CoreV1().Endpoints(ns).Get(ctx, "web", metav1.GetOptions{})
			return apierrors.IsNotFound(err) && len(managedSlices(t, client, "web")) == 0
		})
	})
}

func TestNamedTargetPortResolvedPerPod(t *testing.T) {
	c := startCluster(t)
	client := c.Client
	createService(t, client, "web", func(s *corev1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "admin", Port: 81, TargetPort: intOrString(9000)})
	})
	createPod(t, client, podSpec{name: "old-1", ip: "10.42.0.1", ready: true, httpPort: 8080})
	createPod(t, client, podSpec{name: "old-2", ip: "10.42.0.2", ready: true, httpPort: 8080})
	createPod(t, client, podSpec{name: "new-1", ip: "10.42.0.3", ready: true, httpPort: 9090})

	slices := waitSlices(t, client, "web",
		"new-1=10.42.0.3:9000,9090 rs- old-1=10.42.0.1:8080,9000 rs- old-2=10.42.0.2:8080,9000 rs-")
	if len(slices) != 2 {
		t.Errorf("%d slices, want one per port mapping", len(slices))
	}
	waitEndpoints(t, client, "web", "9000,8080: old-1 old-2; 9000,9090: new-1")
}

func TestManyPodsSpanSlices(t *testing.T) {
	c := startCluster(t)
	client := c.Client
	createService(t, client, "web")
	const pods = 250
	spec := func(i int) podSpec {
		return podSpec{name: fmt.Sprintf("p%03d", i), ip: fmt.Sprintf("10.42.%d.%d", i/200, i%200+1), ready: true}
	}
	parallel(t, pods, func(i int) error {
		_, err := tryCreatePod(context.Background(), client, spec(i))
		return err
	})
	var want []string
	for i := range pods {
		want = append(want, spec(i).name+"="+spec(i).ip+":8080 rs-")
	}
	slices := waitSlices(t, client, "web", joinSorted(want))
	// Pods arrive over several syncs, and a sync moves no endpoint that is already
	// published (upstream's minimal churn), so slices need not be packed to 100.
	var sizes []int
	for _, s := range slices {
		sizes = append(sizes, len(s.Endpoints))
		if len(s.Endpoints) > 100 {
			t.Errorf("slice %s holds %d endpoints, over 100", s.Name, len(s.Endpoints))
		}
	}
	if len(slices) < 3 {
		t.Errorf("%d slices for %d pods", len(slices), pods)
	}
	t.Logf("slice sizes %v", sizes)
	ep := waitEndpoints(t, client, "web", "8080: "+joinSorted(podNames(pods)))
	if _, over := ep.Annotations[corev1.EndpointsOverCapacity]; over {
		t.Errorf("endpoints marked over capacity at %d addresses", pods)
	}
}

func TestHeadlessService(t *testing.T) {
	c := startCluster(t)
	client := c.Client
	createService(t, client, "db", func(s *corev1.Service) {
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.Ports = nil
		s.Spec.Selector = map[string]string{"app": "db"}
	})
	createPod(t, client, podSpec{name: "db-0", ip: "10.42.0.1", ready: true, labels: map[string]string{"app": "db"}, hostname: "db-0", sub: "db"})
	createPod(t, client, podSpec{name: "db-1", ip: "10.42.0.2", ready: true, labels: map[string]string{"app": "db"}, hostname: "db-1", sub: "elsewhere"})

	slices := waitSlices(t, client, "db", "db-0=10.42.0.1: rs- db-1=10.42.0.2: rs-")
	if _, ok := slices[0].Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("slice labels %v lack %s", slices[0].Labels, corev1.IsHeadlessService)
	}
	hostnames := map[string]string{}
	for _, ep := range slices[0].Endpoints {
		hostnames[ep.TargetRef.Name] = ptr.Deref(ep.Hostname, "")
	}
	if hostnames["db-0"] != "db-0" || hostnames["db-1"] != "" {
		t.Errorf("hostnames = %v, want db-0 only (db-1's subdomain is another service)", hostnames)
	}
	ep := waitEndpoints(t, client, "db", ": db-0 db-1")
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("endpoints labels %v lack %s", ep.Labels, corev1.IsHeadlessService)
	}
}

func TestPublishNotReadyAddresses(t *testing.T) {
	c := startCluster(t)
	client := c.Client
	createService(t, client, "peers", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
	createPod(t, client, podSpec{name: "a", ip: "10.42.0.1", ready: false})
	createPod(t, client, podSpec{name: "b", ip: "10.42.0.2", ready: true})
	waitSlices(t, client, "peers", "a=10.42.0.1:8080 rs- b=10.42.0.2:8080 rs-")
	waitEndpoints(t, client, "peers", "8080: a b")
}

func TestServiceWithoutSelector(t *testing.T) {
	c := startCluster(t)
	client, ctx := c.Client, context.Background()
	createService(t, client, "external", func(s *corev1.Service) { s.Spec.Selector = nil })
	user := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "external-1", Labels: map[string]string{discoveryv1.LabelServiceName: "external"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}}},
	}
	if _, err := client.DiscoveryV1().EndpointSlices(ns).Create(ctx, user, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A service with a selector created afterwards proves the controller has run.
	createService(t, client, "web")
	createPod(t, client, podSpec{name: "a", ip: "10.42.0.1", ready: true})
	waitSlices(t, client, "web", "a=10.42.0.1:8080 rs-")

	if got := managedSlices(t, client, "external"); len(got) != 0 {
		t.Errorf("selectorless service got %d managed slices", len(got))
	}
	if _, err := client.DiscoveryV1().EndpointSlices(ns).Get(ctx, "external-1", metav1.GetOptions{}); err != nil {
		t.Errorf("user slice: %v", err)
	}
	if _, err := client.CoreV1().Endpoints(ns).Get(ctx, "external", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("selectorless service got Endpoints (err=%v)", err)
	}

	// Dropping the selector of a service hands its endpoints to its user.
	svc, err := client.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Selector = nil
	if _, err := client.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, timeout, "managed slices of web gone", func() bool { return len(managedSlices(t, client, "web")) == 0 })
}

func TestKubectlShowsEndpoints(t *testing.T) {
	c := startCluster(t)
	createService(t, c.Client, "web")
	createPod(t, c.Client, podSpec{name: "a", ip: "10.42.0.1", ready: true})
	createPod(t, c.Client, podSpec{name: "b", ip: "10.42.0.2", ready: true})
	waitSlices(t, c.Client, "web", "a=10.42.0.1:8080 rs- b=10.42.0.2:8080 rs-")
	waitEndpoints(t, c.Client, "web", "8080: a b")

	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"get", "endpointslices", "-l", "kubernetes.io/service-name=web"}, []string{"ADDRESSTYPE", "IPv4", "8080", "10.42.0.1,10.42.0.2"}},
		{[]string{"get", "endpoints", "web"}, []string{"10.42.0.1:8080,10.42.0.2:8080"}},
		{[]string{"describe", "svc", "web"}, []string{"Endpoints:", "10.42.0.1:8080,10.42.0.2:8080"}},
	}
	for _, tc := range tests {
		out := c.MustKubectl(t, tc.args...)
		for _, w := range tc.want {
			if !containsLine(out, w) {
				t.Errorf("kubectl %v: no %q in\n%s", tc.args, w, out)
			}
		}
	}
}
