package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP}},
		},
	}
}

func TestValidateService(t *testing.T) {
	p0 := "spec.ports[0]"
	cases := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []want
	}{
		{"valid", func(*corev1.Service) {}, none()},
		{"valid allocated", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.20", []string{"10.43.0.20"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		}, none()},
		{"valid only clusterIP", func(s *corev1.Service) { s.Spec.ClusterIP = "10.43.0.20" }, none()},
		{"valid headless without ports", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil }, none()},
		{"valid nodePort", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, none()},
		{"valid externalName", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}
		}, none()},
		{"valid dual stack", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.20", []string{"10.43.0.20", "fd00::20"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}, none()},
		{"name not DNS-1035", func(s *corev1.Service) { s.Name = "1web" }, errs(inv("metadata.name", "a DNS-1035 label must consist of"))},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, errs(req("spec.ports"))},
		{"port out of range", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, errs(inv(p0+".port", "must be between 1 and 65535, inclusive"))},
		// Defaulting made targetPort 0 from port 0: both are reported, as Kubernetes does.
		{"port and defaulted targetPort zero", func(s *corev1.Service) { s.Spec.Ports[0].Port, s.Spec.Ports[0].TargetPort = 0, intstr.FromInt32(0) },
			errs(inv(p0+".port", "must be between 1 and 65535, inclusive"), inv(p0+".targetPort", "must be between 1 and 65535, inclusive"))},
		{"bad protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, errs(unsup(p0 + ".protocol"))},
		{"bad targetPort number", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000) }, errs(inv(p0+".targetPort", ""))},
		{"bad targetPort name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("not_a_name") }, errs(inv(p0+".targetPort", ""))},
		{"multiple ports need names", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, TargetPort: intstr.FromInt32(443), Protocol: corev1.ProtocolTCP})
		}, errs(req("spec.ports[1].name"))},
		{"duplicate port names", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080)})
		}, errs(dup("spec.ports[1].name"))},
		{"duplicate port numbers", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "other", Port: 80, TargetPort: intstr.FromInt32(80)})
		}, errs(dup("spec.ports[1]"))},
		{"same port other protocol", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 80, TargetPort: intstr.FromInt32(53), Protocol: corev1.ProtocolUDP})
		}, none()},
		{"bad port name", func(s *corev1.Service) { s.Spec.Ports[0].Name = "HTTP" }, errs(inv(p0+".name", ""))},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Internal" }, errs(unsup("spec.type"))},
		{"nodePort on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			errs(forb(p0+".nodePort", "may not be used when `type` is 'ClusterIP'"))},
		{"externalName missing", func(s *corev1.Service) { s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName} },
			errs(req("spec.externalName"))},
		{"externalName invalid", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "not a host"}
		}, errs(inv("spec.externalName", ""))},
		{"externalName with clusterIP", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", ClusterIP: "10.43.0.1"}
		}, errs(forb("spec.clusterIPs", "may not be set for ExternalName services"))},
		{"headless NodePort", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}, errs(inv("spec.clusterIPs[0]", "may not be set to 'None' for NodePort services"))},
		{"bad clusterIP", func(s *corev1.Service) { s.Spec.ClusterIP = "10.43.0.300" }, errs(inv("spec.clusterIPs[0]", ""))},
		{"clusterIPs mismatch", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.1", []string{"10.43.0.2"} },
			errs(inv("spec.clusterIPs", "first value must match `clusterIP`"))},
		{"two IPv4 clusterIPs", func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.1", []string{"10.43.0.1", "10.43.0.2"}
		},
			errs(inv("spec.clusterIPs", "may specify no more than one IP for each IP family"))},
		{"family mismatch", func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.43.0.1"
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, errs(inv("spec.clusterIPs[0]", "expected an IPv6 value as indicated by `ipFamilies[0]`"))},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }, errs(inv("spec.selector", ""))},
		{"bad sessionAffinity", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, errs(unsup("spec.sessionAffinity"))},
		{"affinity timeout too long", func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr(int32(86401))}}
		}, errs(inv("spec.sessionAffinityConfig.clientIP.timeoutSeconds", ""))},
		{"loopback externalIP", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} },
			errs(inv("spec.externalIPs[0]", "may not be in the loopback range"))},
		{"source ranges on ClusterIP", func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			errs(forb("spec.loadBalancerSourceRanges", "may only be used when `type` is 'LoadBalancer'"))},
		{"externalTrafficPolicy on ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			errs(inv("spec.externalTrafficPolicy", "may only be set for externally-accessible services"))},
		{"bad internalTrafficPolicy", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr(corev1.ServiceInternalTrafficPolicy("Node"))
		},
			errs(unsup("spec.internalTrafficPolicy"))},
		{"bad appProtocol", func(s *corev1.Service) { s.Spec.Ports[0].AppProtocol = ptr("a b") }, errs(inv(p0+".appProtocol", ""))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := validService()
			tc.mutate(svc)
			expectErrors(t, ValidateService(svc), tc.want)
		})
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	old := validService()
	old.ResourceVersion = "1"
	old.Spec.ClusterIP, old.Spec.ClusterIPs = "10.43.0.20", []string{"10.43.0.20"}
	old.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	cases := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []want
	}{
		{"unchanged", func(*corev1.Service) {}, none()},
		{"ports change", func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }, none()},
		{"clusterIP change", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.21", []string{"10.43.0.21"} },
			errs(inv("spec.clusterIPs[0]", "may not change once set"))},
		{"clusterIP unset", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil },
			errs(inv("spec.clusterIPs[0]", "primary clusterIP can not be unset"))},
		{"to ExternalName", func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
		}, none()},
		{"add secondary IP", func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.43.0.20", "fd00::20"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}, none()},
		{"family change", func(s *corev1.Service) {
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, errs(inv("spec.ipFamilies[0]", "may not change once set"), inv("spec.clusterIPs[0]", "expected an IPv6 value"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := old.DeepCopy()
			tc.mutate(svc)
			expectErrors(t, ValidateServiceUpdate(svc, old), tc.want)
		})
	}
	t.Run("from ExternalName", func(t *testing.T) {
		ext := old.DeepCopy()
		ext.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
		expectErrors(t, ValidateServiceUpdate(old.DeepCopy(), ext), none())
	})
}

func TestValidateServiceStatusUpdate(t *testing.T) {
	old := validService()
	old.ResourceVersion = "1"
	old.Spec.Type = corev1.ServiceTypeLoadBalancer
	cases := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []want
	}{
		{"valid", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1", IPMode: ptr(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example.com"}}
		}, none()},
		{"bad ip", func(s *corev1.Service) { s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "x"}} },
			errs(inv("status.loadBalancer.ingress[0].ip", ""))},
		{"hostname is IP", func(s *corev1.Service) {
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: "1.2.3.4"}}
		},
			errs(inv("status.loadBalancer.ingress[0].hostname", "must be a DNS name, not an IP address"))},
		{"ingress on ClusterIP", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
		}, errs(forb("status.loadBalancer.ingress", ""))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := old.DeepCopy()
			tc.mutate(svc)
			expectErrors(t, ValidateServiceStatusUpdate(svc, old), tc.want)
		})
	}
}

func TestValidateEndpoints(t *testing.T) {
	valid := func() *corev1.Endpoints {
		return &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "10.42.0.5", NodeName: ptr("n1"), Hostname: "web-0"}},
				Ports:     []corev1.EndpointPort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
			}},
		}
	}
	s0 := "subsets[0]"
	cases := []struct {
		name   string
		mutate func(*corev1.Endpoints)
		want   []want
	}{
		{"valid", func(*corev1.Endpoints) {}, none()},
		{"no addresses", func(e *corev1.Endpoints) { e.Subsets[0].Addresses = nil }, errs(req(s0))},
		{"bad ip", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "10.42.0" }, errs(inv(s0+".addresses[0].ip", ""))},
		{"loopback ip", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "127.0.0.1" }, errs(inv(s0+".addresses[0].ip", "loopback"))},
		{"bad hostname", func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].Hostname = "A" }, errs(inv(s0+".addresses[0].hostname", ""))},
		{"bad port", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Port = 0 }, errs(inv(s0+".ports[0].port", ""))},
		{"bad protocol", func(e *corev1.Endpoints) { e.Subsets[0].Ports[0].Protocol = "X" }, errs(unsup(s0 + ".ports[0].protocol"))},
		{"unnamed among several", func(e *corev1.Endpoints) {
			e.Subsets[0].Ports = append(e.Subsets[0].Ports, corev1.EndpointPort{Port: 81})
		}, errs(req(s0 + ".ports[1].name"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := valid()
			tc.mutate(ep)
			expectErrors(t, ValidateEndpoints(ep), tc.want)
		})
	}
	t.Run("update", func(t *testing.T) {
		old := valid()
		old.ResourceVersion = "1"
		ep := old.DeepCopy()
		ep.Subsets[0].Addresses[0].IP = "10.42.0.6"
		expectErrors(t, ValidateEndpointsUpdate(ep, old), none())
		ep.Name = "other"
		expectErrors(t, ValidateEndpointsUpdate(ep, old), errs(inv("metadata.name", "field is immutable")))
	})
}

func TestValidateEndpointSlice(t *testing.T) {
	valid := func() *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "default"},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints: []discoveryv1.Endpoint{{
				Addresses: []string{"10.42.0.5"}, NodeName: ptr("n1"), Zone: ptr("zone-a"), Hostname: ptr("web-0"),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
			}},
			Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(80)), Protocol: ptr(corev1.ProtocolTCP)}},
		}
	}
	cases := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   []want
	}{
		{"valid", func(*discoveryv1.EndpointSlice) {}, none()},
		{"valid fqdn", func(s *discoveryv1.EndpointSlice) {
			s.AddressType = discoveryv1.AddressTypeFQDN
			s.Endpoints[0].Addresses = []string{"db.example.com"}
		}, none()},
		{"no addressType", func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, errs(req("addressType"))},
		{"bad addressType", func(s *discoveryv1.EndpointSlice) { s.AddressType = "IP" }, errs(unsup("addressType"))},
		{"no addresses", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil },
			errs(reqd("endpoints[0].addresses", "must contain at least 1 address"))},
		{"IPv6 in IPv4 slice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::1"} },
			errs(inv("endpoints[0].addresses[0]", "IPv4"))},
		{"bad nodeName", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptr("N_1") }, errs(inv("endpoints[0].nodeName", ""))},
		{"duplicate port names", func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr("http"), Port: ptr(int32(81))})
		}, errs(dup("ports[1].name"))},
		{"bad protocol", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptr(corev1.Protocol("X")) }, errs(unsup("ports[0].protocol"))},
		{"too many endpoints", func(s *discoveryv1.EndpointSlice) {
			s.Endpoints = make([]discoveryv1.Endpoint, 1001)
		}, errs(tooMany("endpoints"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := valid()
			tc.mutate(s)
			expectErrors(t, ValidateEndpointSlice(s), tc.want)
		})
	}
	t.Run("addressType immutable", func(t *testing.T) {
		old := valid()
		old.ResourceVersion = "1"
		s := old.DeepCopy()
		s.AddressType = discoveryv1.AddressTypeFQDN
		s.Endpoints[0].Addresses = []string{"db.example.com"}
		expectErrors(t, ValidateEndpointSliceUpdate(s, old), errs(inv("addressType", "field is immutable")))
	})
}
