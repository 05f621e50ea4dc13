package apisemantics

import (
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/test/integration/framework"
)

// metadata.generation counts changes of what a kind's controllers act on: for an
// EndpointSlice (no spec) its address type, endpoints and ports; labels do not count.
func TestEndpointSliceGeneration(t *testing.T) {
	c := framework.StartCluster(t, framework.Options{APIOnly: true})
	ctx := t.Context()
	slices := c.Client.DiscoveryV1().EndpointSlices("default")
	ready := true
	es, err := slices.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "gen", Labels: map[string]string{discoveryv1.LabelServiceName: "gen"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if es.Generation != 1 {
		t.Fatalf("created with generation %d, want 1", es.Generation)
	}
	es.Labels["extra"] = "x"
	if es, err = slices.Update(ctx, es, metav1.UpdateOptions{}); err != nil || es.Generation != 1 {
		t.Fatalf("label change: generation %d, %v; want 1", es.Generation, err)
	}
	es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.42.0.6"}})
	if es, err = slices.Update(ctx, es, metav1.UpdateOptions{}); err != nil || es.Generation != 2 {
		t.Fatalf("endpoints change: generation %d, %v; want 2", es.Generation, err)
	}
	port := int32(80)
	es.Ports = []discoveryv1.EndpointPort{{Port: &port}}
	if es, err = slices.Update(ctx, es, metav1.UpdateOptions{}); err != nil || es.Generation != 3 {
		t.Fatalf("ports change: generation %d, %v; want 3", es.Generation, err)
	}
}
