package main

import (
	"fmt"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const namespaces = 10

// cluster is the generated set of services and their endpoint slices; the server and
// the clients build the same one from the same options.
type cluster struct {
	services                                    []*corev1.Service
	slices                                      []*discoveryv1.EndpointSlice
	clusterIPNames, headlessNames, missingNames []string
}

func newCluster(o options) *cluster {
	c := &cluster{}
	perService := max(o.endpoints/max(o.services, 1), 1)
	ready := true
	port, portName, proto := int32(8080), "http", corev1.ProtocolTCP
	for i := range o.services {
		ns := fmt.Sprintf("ns-%d", i%namespaces)
		name := fmt.Sprintf("svc-%d", i)
		fqdn := name + "." + ns + ".svc.cluster.local."
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Ports: []corev1.ServicePort{{Name: portName, Port: 80, Protocol: proto}},
			},
		}
		if o.headlessEvery > 0 && i%o.headlessEvery == 0 {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
			c.headlessNames = append(c.headlessNames, fqdn)
		} else {
			ip := fmt.Sprintf("10.43.%d.%d", (i+2)/250, (i+2)%250+1)
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = ip, []string{ip}
			c.clusterIPNames = append(c.clusterIPNames, fqdn)
		}
		c.services = append(c.services, svc)
		// What a pod in another namespace asks first for "svc-N.ns-M" under ndots:5.
		c.missingNames = append(c.missingNames, name+"."+ns+".ns-x.svc.cluster.local.")

		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
		}
		for j := range perService {
			n := i*perService + j
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{fmt.Sprintf("10.42.%d.%d", n/250, n%250+1)},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			})
		}
		c.slices = append(c.slices, slice)
	}
	return c
}

// queryKind is a set of names asked in turn, and what their answers must look like.
type queryKind struct {
	name    string
	qtype   uint16
	names   []string
	rcode   int
	answers bool // at least one answer record
}

func (c *cluster) kinds() []queryKind {
	return []queryKind{
		{name: "service A", qtype: dns.TypeA, names: c.clusterIPNames, rcode: dns.RcodeSuccess, answers: true},
		{name: "headless A", qtype: dns.TypeA, names: c.headlessNames, rcode: dns.RcodeSuccess, answers: true},
		{name: "NXDOMAIN", qtype: dns.TypeA, names: c.missingNames, rcode: dns.RcodeNameError},
	}
}
