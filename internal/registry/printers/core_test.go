package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func core(resource string) schema.GroupResource { return schema.GroupResource{Resource: resource} }

func TestCoreColumns(t *testing.T) {
	name, age := col{"Name", "string", 0}, col{"Age", "string", 0}
	tests := map[string][]col{
		"namespaces": {name, {"Status", "string", 0}, age},
		"services": {name, {"Type", "string", 0}, {"Cluster-IP", "string", 0}, {"External-IP", "string", 0},
			{"Port(s)", "string", 0}, age, {"Selector", "string", 1}},
		"endpoints": {name, {"Endpoints", "string", 0}, age},
		"nodes": {name, {"Status", "string", 0}, {"Roles", "string", 0}, age, {"Version", "string", 0},
			{"Internal-IP", "string", 1}, {"External-IP", "string", 1}, {"OS-Image", "string", 1},
			{"Kernel-Version", "string", 1}, {"Container-Runtime", "string", 1}},
		"configmaps":      {name, {"Data", "string", 0}, age},
		"secrets":         {name, {"Type", "string", 0}, {"Data", "string", 0}, age},
		"serviceaccounts": {name, age},
		"replicationcontrollers": {name, {"Desired", "integer", 0}, {"Current", "integer", 0}, {"Ready", "integer", 0}, age,
			{"Containers", "string", 1}, {"Images", "string", 1}, {"Selector", "string", 1}},
	}
	for resource, want := range tests {
		t.Run(resource, func(t *testing.T) { assertColumns(t, core(resource), want) })
	}
}

func TestNamespaceRows(t *testing.T) {
	active := &corev1.Namespace{ObjectMeta: objectMeta("default", 3*24*time.Hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	assertCells(t, printRow(t, core("namespaces"), active).Cells, []interface{}{"default", "Active", "3d"})
	gone := &corev1.Namespace{ObjectMeta: objectMeta("old", 5*time.Minute+12*time.Second), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	assertCells(t, printRow(t, core("namespaces"), gone).Cells, []interface{}{"old", "Terminating", "5m12s"})
}

func TestServiceRows(t *testing.T) {
	svc := func(typ corev1.ServiceType, mutate func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: objectMeta("web", time.Hour),
			Spec: corev1.ServiceSpec{
				Type:       typ,
				ClusterIP:  "10.43.0.20",
				ClusterIPs: []string{"10.43.0.20"},
				Ports:      []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}},
				Selector:   map[string]string{"tier": "fe", "app": "web"},
			},
		}
		if mutate != nil {
			mutate(s)
		}
		return s
	}
	tests := []struct {
		name string
		svc  *corev1.Service
		want []interface{}
	}{
		{
			name: "cluster IP",
			svc:  svc(corev1.ServiceTypeClusterIP, nil),
			want: []interface{}{"web", "ClusterIP", "10.43.0.20", "<none>", "80/TCP", "60m", "app=web,tier=fe"},
		},
		{
			name: "cluster IP with external IPs and two ports",
			svc: svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
				s.Spec.ExternalIPs = []string{"192.0.2.1", "192.0.2.2"}
				s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 53, Protocol: corev1.ProtocolUDP})
			}),
			want: []interface{}{"web", "ClusterIP", "10.43.0.20", "192.0.2.1,192.0.2.2", "80/TCP,53/UDP", "60m", "app=web,tier=fe"},
		},
		{
			name: "headless without selector or ports",
			svc: svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
				s.Spec.Selector, s.Spec.Ports = nil, nil
			}),
			want: []interface{}{"web", "ClusterIP", "None", "<none>", "<none>", "60m", "<none>"},
		},
		{
			name: "node port",
			svc: svc(corev1.ServiceTypeNodePort, func(s *corev1.Service) {
				s.Spec.Ports[0].NodePort = 30080
			}),
			want: []interface{}{"web", "NodePort", "10.43.0.20", "<none>", "80:30080/TCP", "60m", "app=web,tier=fe"},
		},
		{
			name: "load balancer pending",
			svc: svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
				s.Spec.Ports[0].NodePort = 31000
			}),
			want: []interface{}{"web", "LoadBalancer", "10.43.0.20", "<pending>", "80:31000/TCP", "60m", "app=web,tier=fe"},
		},
		{
			name: "load balancer with ingress points, sorted and not clipped",
			svc: svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{
					{Hostname: "lb.example.com"}, {IP: "203.0.113.10"}, {IP: "203.0.113.10"},
				}
			}),
			want: []interface{}{"web", "LoadBalancer", "10.43.0.20", "203.0.113.10,lb.example.com", "80/TCP", "60m", "app=web,tier=fe"},
		},
		{
			name: "load balancer with external IPs after ingress points",
			svc: svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.Service) {
				s.Spec.ExternalIPs = []string{"192.0.2.1"}
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
			}),
			want: []interface{}{"web", "LoadBalancer", "10.43.0.20", "203.0.113.10,192.0.2.1", "80/TCP", "60m", "app=web,tier=fe"},
		},
		{
			name: "external name",
			svc: svc(corev1.ServiceTypeExternalName, func(s *corev1.Service) {
				s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
				s.Spec.ExternalName = "db.example.com"
				s.Spec.Ports, s.Spec.Selector = nil, nil
			}),
			want: []interface{}{"web", "ExternalName", "<none>", "db.example.com", "<none>", "60m", "<none>"},
		},
		{
			name: "clusterIPs only",
			svc: svc(corev1.ServiceTypeClusterIP, func(s *corev1.Service) {
				s.Spec.ClusterIP = ""
				s.Spec.ClusterIPs = []string{"fd00:43::20", "10.43.0.21"}
			}),
			want: []interface{}{"web", "ClusterIP", "fd00:43::20", "<none>", "80/TCP", "60m", "app=web,tier=fe"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCells(t, printRow(t, core("services"), tc.svc).Cells, tc.want)
		})
	}
}

func TestEndpointsRows(t *testing.T) {
	addrs := func(ips ...string) []corev1.EndpointAddress {
		out := make([]corev1.EndpointAddress, len(ips))
		for i, ip := range ips {
			out[i].IP = ip
		}
		return out
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{name: "no subsets", want: "<none>"},
		{name: "subset without addresses", subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}, want: ""},
		{
			name:    "addresses and ports",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("10.42.0.5", "fd00::5"), Ports: []corev1.EndpointPort{{Port: 8080}}}},
			want:    "10.42.0.5:8080,[fd00::5]:8080",
		},
		{
			name:    "headless without ports",
			subsets: []corev1.EndpointSubset{{Addresses: addrs("10.42.0.5")}},
			want:    "10.42.0.5",
		},
		{
			name: "more than three",
			subsets: []corev1.EndpointSubset{{
				Addresses: addrs("10.42.0.1", "10.42.0.2", "10.42.0.3"),
				Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 443}},
			}},
			want: "10.42.0.1:80,10.42.0.2:80,10.42.0.3:80 + 3 more...",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: objectMeta("web", 2*time.Hour), Subsets: tc.subsets}
			assertCells(t, printRow(t, core("endpoints"), ep).Cells, []interface{}{"web", tc.want, "120m"})
		})
	}
}

func TestNodeRows(t *testing.T) {
	node := func(mutate func(*corev1.Node)) *corev1.Node {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: ago(10 * 24 * time.Hour)},
			Status: corev1.NodeStatus{
				Conditions: []corev1.NodeCondition{
					{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
					{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
				},
				Addresses: []corev1.NodeAddress{
					{Type: corev1.NodeHostName, Address: "node-1"},
					{Type: corev1.NodeInternalIP, Address: "192.168.1.10"},
					{Type: corev1.NodeInternalIP, Address: "fd00::10"},
				},
				NodeInfo: corev1.NodeSystemInfo{
					KubeletVersion: "v1.37.2-berth", OSImage: "Debian GNU/Linux 13 (trixie)",
					KernelVersion: "6.12.0", ContainerRuntimeVersion: "containerd://1.6.20",
				},
			},
		}
		if mutate != nil {
			mutate(n)
		}
		return n
	}
	wideReady := []interface{}{"192.168.1.10", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0", "containerd://1.6.20"}
	tests := []struct {
		name string
		node *corev1.Node
		want []interface{}
	}{
		{
			name: "ready worker",
			node: node(nil),
			want: append([]interface{}{"node-1", "Ready", "<none>", "10d", "v1.37.2-berth"}, wideReady...),
		},
		{
			name: "not ready control plane",
			node: node(func(n *corev1.Node) {
				n.Status.Conditions[1].Status = corev1.ConditionUnknown
				n.Labels = map[string]string{
					"node-role.kubernetes.io/control-plane": "",
					"node-role.kubernetes.io/master":        "true",
					"kubernetes.io/role":                    "etcd",
					"node-role.kubernetes.io/":              "",
				}
			}),
			want: append([]interface{}{"node-1", "NotReady", "control-plane,etcd,master", "10d", "v1.37.2-berth"}, wideReady...),
		},
		{
			name: "cordoned",
			node: node(func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			want: append([]interface{}{"node-1", "Ready,SchedulingDisabled", "<none>", "10d", "v1.37.2-berth"}, wideReady...),
		},
		{
			name: "new node without status",
			node: node(func(n *corev1.Node) {
				n.Status = corev1.NodeStatus{}
				n.Spec.Unschedulable = true
			}),
			want: []interface{}{"node-1", "Unknown,SchedulingDisabled", "<none>", "10d", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name: "external IP",
			node: node(func(n *corev1.Node) {
				n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: "203.0.113.5"})
			}),
			want: []interface{}{"node-1", "Ready", "<none>", "10d", "v1.37.2-berth",
				"192.168.1.10", "203.0.113.5", "Debian GNU/Linux 13 (trixie)", "6.12.0", "containerd://1.6.20"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assertCells(t, printRow(t, core("nodes"), tc.node).Cells, tc.want)
		})
	}
}

func TestConfigSecretAndServiceAccountRows(t *testing.T) {
	cm := &corev1.ConfigMap{
		ObjectMeta: objectMeta("settings", 30*time.Second),
		Data:       map[string]string{"a": "1", "b": "2"},
		BinaryData: map[string][]byte{"c": {3}},
	}
	assertCells(t, printRow(t, core("configmaps"), cm).Cells, []interface{}{"settings", int64(3), "30s"})

	secret := &corev1.Secret{
		ObjectMeta: objectMeta("creds", 48*time.Hour),
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"user": nil, "password": nil},
	}
	assertCells(t, printRow(t, core("secrets"), secret).Cells, []interface{}{"creds", "Opaque", int64(2), "2d"})

	sa := &corev1.ServiceAccount{ObjectMeta: objectMeta("default", 400*24*time.Hour), Secrets: []corev1.ObjectReference{{Name: "old-token"}}}
	assertCells(t, printRow(t, core("serviceaccounts"), sa).Cells, []interface{}{"default", "400d"})
}

func TestReplicationControllerRows(t *testing.T) {
	rc := &corev1.ReplicationController{
		ObjectMeta: objectMeta("web", time.Hour),
		Spec: corev1.ReplicationControllerSpec{
			Replicas: ptr(int32(3)),
			Selector: map[string]string{"app": "web"},
			Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
				{Name: "app", Image: "web:1"}, {Name: "proxy", Image: "nginx:1.27"},
			}}},
		},
		Status: corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2},
	}
	assertCells(t, printRow(t, core("replicationcontrollers"), rc).Cells,
		[]interface{}{"web", int64(3), int64(3), int64(2), "60m", "app,proxy", "web:1,nginx:1.27", "app=web"})

	bare := &corev1.ReplicationController{ObjectMeta: objectMeta("bare", time.Hour)}
	assertCells(t, printRow(t, core("replicationcontrollers"), bare).Cells,
		[]interface{}{"bare", int64(0), int64(0), int64(0), "60m", "", "", "<none>"})
}
