package endpoints_test

import (
	"context"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/controller"
	"github.com/berth/berth/internal/controller/endpointslice"
)

// TestKubernetesServiceEndpoints: the API server's address becomes the endpoints of
// default/kubernetes, and they come back when deleted. Tests serve on loopback only, which
// cannot be an endpoint, so the loop is told a documentation address instead.
func TestKubernetesServiceEndpoints(t *testing.T) {
	client := startWithLoops(t, controller.Options{}, func(cc *controller.Context) {
		cc.Config = rest.CopyConfig(cc.Config)
		cc.Config.Host = "https://192.0.2.10:6443"
	}, endpointslice.NewAPIServerEndpoints)
	ctx := context.Background()

	view := func() string {
		ep, err := client.CoreV1().Endpoints(ns).Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		slice, err := client.DiscoveryV1().EndpointSlices(ns).Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return endpointsView(ep) + " | " + sliceView([]discoveryv1.EndpointSlice{*slice}) + " " + slice.Labels[discoveryv1.LabelServiceName]
	}
	const want = "6443: 192.0.2.10 | 192.0.2.10:6443 r-- kubernetes"
	waitView(t, "endpoints of the kubernetes service", want, view)

	if err := client.CoreV1().Endpoints(ns).Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, "kubernetes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitView(t, "endpoints of the kubernetes service restored", want, view)
}

// TestKubernetesServiceEndpointsSkipLoopback: a server on loopback publishes nothing.
func TestKubernetesServiceEndpointsSkipLoopback(t *testing.T) {
	c := startCluster(t)
	// The endpoint controllers' own work shows the leader's loops have run.
	createService(t, c.Client, "web")
	createPod(t, c.Client, podSpec{name: "a", ip: "10.42.0.1", ready: true})
	waitEndpoints(t, c.Client, "web", "8080: a")
	if ep, err := c.Client.CoreV1().Endpoints(ns).Get(context.Background(), "kubernetes", metav1.GetOptions{}); err == nil {
		t.Errorf("kubernetes endpoints on a loopback server: %s", endpointsView(ep))
	}
}
