package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestService(t *testing.T) {
	cluster := ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	tcpPort := func(port, target int32) corev1.ServicePort {
		return corev1.ServicePort{Port: port, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(target)}
	}
	tests := []struct {
		name string
		in   corev1.ServiceSpec
		want corev1.ServiceSpec
	}{{
		name: "minimal ClusterIP",
		in:   corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		want: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       corev1.ServiceAffinityNone,
			Ports:                 []corev1.ServicePort{tcpPort(80, 80)},
			InternalTrafficPolicy: cluster,
		},
	}, {
		name: "named target port and UDP kept",
		in: corev1.ServiceSpec{Ports: []corev1.ServicePort{
			{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
			{Name: "http", Port: 80, TargetPort: intstr.FromString("")},
		}},
		want: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("dns")},
				{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)},
			},
			InternalTrafficPolicy: cluster,
		},
	}, {
		name: "ClientIP affinity gets the 3h timeout",
		in:   corev1.ServiceSpec{SessionAffinity: corev1.ServiceAffinityClientIP},
		want: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			SessionAffinity: corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{
				ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](10800)},
			},
			InternalTrafficPolicy: cluster,
		},
	}, {
		name: "affinity config dropped with None",
		in: corev1.ServiceSpec{SessionAffinityConfig: &corev1.SessionAffinityConfig{
			ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)},
		}},
		want: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       corev1.ServiceAffinityNone,
			InternalTrafficPolicy: cluster,
		},
	}, {
		name: "NodePort is externally accessible",
		in:   corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort},
		want: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeNodePort,
			SessionAffinity:       corev1.ServiceAffinityNone,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			InternalTrafficPolicy: cluster,
		},
	}, {
		name: "ClusterIP with external IPs is externally accessible",
		in:   corev1.ServiceSpec{ExternalIPs: []string{"192.0.2.7"}},
		want: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       corev1.ServiceAffinityNone,
			ExternalIPs:           []string{"192.0.2.7"},
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			InternalTrafficPolicy: cluster,
		},
	}, {
		name: "LoadBalancer allocates node ports; Local policies kept",
		in: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
		},
		want: corev1.ServiceSpec{
			Type:                          corev1.ServiceTypeLoadBalancer,
			SessionAffinity:               corev1.ServiceAffinityNone,
			ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyLocal,
			InternalTrafficPolicy:         ptr.To(corev1.ServiceInternalTrafficPolicyLocal),
			AllocateLoadBalancerNodePorts: ptr.To(true),
		},
	}, {
		name: "ExternalName gets no traffic policies",
		in:   corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"},
		want: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeExternalName,
			ExternalName:    "example.com",
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkDefaults(t, &corev1.Service{Spec: tt.in}, &corev1.Service{Spec: tt.want})
		})
	}
}

func TestServiceLoadBalancerIngressIPMode(t *testing.T) {
	in := &corev1.Service{
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: ptr.To(false)},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
			{IP: "192.0.2.10"}, {Hostname: "lb.example.com"},
		}}},
	}
	want := in.DeepCopy()
	want.Spec.SessionAffinity = corev1.ServiceAffinityNone
	want.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	want.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	want.Status.LoadBalancer.Ingress[0].IPMode = ptr.To(corev1.LoadBalancerIPModeVIP)
	checkDefaults(t, in, want)
}

func TestEndpointsAndSlices(t *testing.T) {
	t.Run("endpoints", func(t *testing.T) {
		in := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{
			{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP},
		}}}}
		want := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{
			{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP},
		}}}}
		checkDefaults(t, in, want)
	})
	t.Run("endpointslice", func(t *testing.T) {
		in := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{
			{Port: ptr.To[int32](80)},
			{Name: ptr.To("dns"), Port: ptr.To[int32](53), Protocol: ptr.To(corev1.ProtocolUDP)},
		}}
		want := &discoveryv1.EndpointSlice{AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{
			{Name: ptr.To(""), Port: ptr.To[int32](80), Protocol: ptr.To(corev1.ProtocolTCP)},
			{Name: ptr.To("dns"), Port: ptr.To[int32](53), Protocol: ptr.To(corev1.ProtocolUDP)},
		}}
		checkDefaults(t, in, want)
	})
}
