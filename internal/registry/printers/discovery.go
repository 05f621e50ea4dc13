package printers

import (
	"strconv"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxListed is how many ports or addresses an EndpointSlice row lists
// before "+ N more...".
const maxListed = 3

func registerDiscovery(r *Registry) {
	r.Register(schema.GroupResource{Group: discoveryv1.GroupName, Resource: "endpointslices"}, endpointSlicePrinter())
}

func endpointSlicePrinter() Printer {
	// Descriptions come from discovery/v1beta1, as in Kubernetes.
	doc := discoveryv1beta1.EndpointSlice{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("AddressType", "string", doc["addressType"]),
			column("Ports", "string", doc["ports"]),
			column("Endpoints", "string", doc["endpoints"]),
			ageColumn(),
		},
		Row: typed(func(s *discoveryv1.EndpointSlice, now time.Time) metav1.TableRow {
			return cells(s.Name, string(s.AddressType), endpointSlicePorts(s.Ports), endpointSliceAddresses(s.Endpoints),
				age(s.CreationTimestamp, now))
		}),
	}
}

// endpointSlicePorts lists port numbers, the name of a port without number,
// or "*" for a port with neither.
func endpointSlicePorts(ports []discoveryv1.EndpointPort) string {
	var list []string
	for _, p := range ports {
		if len(list) == maxListed {
			break
		}
		switch {
		case p.Port != nil:
			list = append(list, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			list = append(list, *p.Name)
		default:
			list = append(list, "*")
		}
	}
	return listWithMore(list, len(ports))
}

func endpointSliceAddresses(endpoints []discoveryv1.Endpoint) string {
	var list []string
	count := 0
	for _, e := range endpoints {
		for _, a := range e.Addresses {
			if len(list) < maxListed {
				list = append(list, a)
			}
			count++
		}
	}
	return listWithMore(list, count)
}
