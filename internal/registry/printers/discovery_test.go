package printers

import (
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var endpointSlicesGR = schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}

func TestEndpointSliceColumnsAndRows(t *testing.T) {
	assertColumns(t, endpointSlicesGR, []col{{"Name", "string", 0}, {"AddressType", "string", 0},
		{"Ports", "string", 0}, {"Endpoints", "string", 0}, {"Age", "string", 0}})

	tests := []struct {
		name      string
		ports     []discoveryv1.EndpointPort
		endpoints []discoveryv1.Endpoint
		wantPorts string
		wantEps   string
	}{
		{name: "empty", wantPorts: "<unset>", wantEps: "<unset>"},
		{
			name:      "port, named port, any port",
			ports:     []discoveryv1.EndpointPort{{Port: ptr(int32(80))}, {Name: ptr("metrics")}, {}},
			endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}}, {Addresses: []string{"10.42.1.7"}}},
			wantPorts: "80,metrics,*",
			wantEps:   "10.42.0.5,10.42.1.7",
		},
		{
			name:  "more than three",
			ports: []discoveryv1.EndpointPort{{Port: ptr(int32(1))}, {Port: ptr(int32(2))}, {Port: ptr(int32(3))}, {Port: ptr(int32(4))}},
			endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.42.0.1", "10.42.0.2"}}, {Addresses: []string{"10.42.0.3"}},
				{Addresses: []string{"10.42.0.4"}}, {Addresses: []string{"10.42.0.5"}},
			},
			wantPorts: "1,2,3 + 1 more...",
			wantEps:   "10.42.0.1,10.42.0.2,10.42.0.3 + 2 more...",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slice := &discoveryv1.EndpointSlice{
				ObjectMeta:  objectMeta("web-abcde", 4*time.Minute),
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       tc.ports,
				Endpoints:   tc.endpoints,
			}
			assertCells(t, printRow(t, endpointSlicesGR, slice).Cells, []interface{}{"web-abcde", "IPv4", tc.wantPorts, tc.wantEps, "4m"})
		})
	}
}
