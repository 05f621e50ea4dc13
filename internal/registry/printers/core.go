package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

const (
	// labelNodeRolePrefix marks a node role: node-role.kubernetes.io/<role>.
	labelNodeRolePrefix = "node-role.kubernetes.io/"
	// nodeLabelRole is the older role label: kubernetes.io/role=<role>.
	nodeLabelRole = "kubernetes.io/role"
)

func registerCore(r *Registry) {
	core := func(resource string) schema.GroupResource { return schema.GroupResource{Resource: resource} }
	r.Register(core("pods"), podPrinter())
	r.Register(core("namespaces"), namespacePrinter())
	r.Register(core("services"), servicePrinter())
	r.Register(core("endpoints"), endpointsPrinter())
	r.Register(core("nodes"), nodePrinter())
	r.Register(core("configmaps"), configMapPrinter())
	r.Register(core("secrets"), secretPrinter())
	r.Register(core("serviceaccounts"), serviceAccountPrinter())
	r.Register(core("replicationcontrollers"), replicationControllerPrinter())
}

func namespacePrinter() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Status", "string", "The status of the namespace"),
			ageColumn(),
		},
		Row: typed(func(ns *corev1.Namespace, now time.Time) metav1.TableRow {
			return cells(ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now))
		}),
	}
}

func servicePrinter() Printer {
	doc := corev1.ServiceSpec{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Type", "string", doc["type"]),
			column("Cluster-IP", "string", doc["clusterIP"]),
			column("External-IP", "string", doc["externalIPs"]),
			column("Port(s)", "string", doc["ports"]),
			ageColumn(),
			wide(column("Selector", "string", doc["selector"])),
		},
		Row: typed(func(svc *corev1.Service, now time.Time) metav1.TableRow {
			// spec.clusterIP wins over clusterIPs[0], as in the v1 to
			// internal conversion Kubernetes prints from.
			clusterIP := svc.Spec.ClusterIP
			if clusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
				clusterIP = svc.Spec.ClusterIPs[0]
			}
			ports := servicePorts(svc.Spec.Ports)
			if ports == "" {
				ports = "<none>"
			}
			return cells(svc.Name, string(svc.Spec.Type), orNone(clusterIP), serviceExternalIP(svc), ports,
				age(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector))
		}),
	}
}

// serviceExternalIP is the External-IP cell. The server prints wide, so
// load balancer addresses are never clipped.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		ips := loadBalancerAddresses(svc.Status.LoadBalancer)
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(append(ips, svc.Spec.ExternalIPs...), ",")
		}
		if len(ips) > 0 {
			return strings.Join(ips, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// loadBalancerAddresses lists each ingress point's IP, or its hostname when
// it has no IP, sorted and without duplicates.
func loadBalancerAddresses(s corev1.LoadBalancerStatus) []string {
	seen := map[string]bool{}
	var out []string
	for _, ing := range s.Ingress {
		addr := ing.IP
		if addr == "" {
			addr = ing.Hostname
		}
		if addr != "" && !seen[addr] {
			seen[addr] = true
			out = append(out, addr)
		}
	}
	sort.Strings(out)
	return out
}

// servicePorts renders ports as "80/TCP" or, with a node port, "80:30080/TCP".
func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

func endpointsPrinter() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
			ageColumn(),
		},
		Row: typed(func(ep *corev1.Endpoints, now time.Time) metav1.TableRow {
			return cells(ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp, now))
		}),
	}
}

// formatEndpoints shows the first three ip:port pairs (bare IPs for subsets
// without ports) and how many more there are; "<none>" without subsets.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	count := 0
	add := func(s string) {
		count++
		if len(list) < max {
			list = append(list, s)
		}
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	ret := strings.Join(list, ",")
	if count > max {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}

func nodePrinter() Printer {
	info := corev1.NodeSystemInfo{}.SwaggerDoc()
	addresses := corev1.NodeStatus{}.SwaggerDoc()["addresses"]
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Status", "string", "The status of the node"),
			column("Roles", "string", "The roles of the node"),
			ageColumn(),
			column("Version", "string", info["kubeletVersion"]),
			wide(column("Internal-IP", "string", addresses)),
			wide(column("External-IP", "string", addresses)),
			wide(column("OS-Image", "string", info["osImage"])),
			wide(column("Kernel-Version", "string", info["kernelVersion"])),
			wide(column("Container-Runtime", "string", info["containerRuntimeVersion"])),
		},
		Row: typed(func(node *corev1.Node, now time.Time) metav1.TableRow {
			roles := strings.Join(nodeRoles(node), ",")
			if roles == "" {
				roles = "<none>"
			}
			ni := node.Status.NodeInfo
			return cells(node.Name, nodeStatus(node), roles, age(node.CreationTimestamp, now), ni.KubeletVersion,
				nodeAddress(node, corev1.NodeInternalIP), nodeAddress(node, corev1.NodeExternalIP),
				orUnknown(ni.OSImage), orUnknown(ni.KernelVersion), orUnknown(ni.ContainerRuntimeVersion))
		}),
	}
}

// nodeStatus is Ready, NotReady or Unknown (no Ready condition), followed by
// ",SchedulingDisabled" for a cordoned node.
func nodeStatus(node *corev1.Node) string {
	status := "Unknown"
	for _, c := range node.Status.Conditions {
		// The last Ready condition wins, as in Kubernetes' condition map.
		if c.Type == corev1.NodeReady {
			status = "NotReady"
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			}
		}
	}
	if node.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}
	return status
}

// nodeRoles returns the sorted roles from node-role.kubernetes.io/<role>
// labels and the kubernetes.io/role=<role> label.
func nodeRoles(node *corev1.Node) []string {
	seen := map[string]bool{}
	var roles []string
	add := func(role string) {
		if role != "" && !seen[role] {
			seen[role] = true
			roles = append(roles, role)
		}
	}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, labelNodeRolePrefix):
			add(strings.TrimPrefix(k, labelNodeRolePrefix))
		case k == nodeLabelRole:
			add(v)
		}
	}
	sort.Strings(roles)
	return roles
}

// nodeAddress returns the node's first address of type t, or "<none>".
func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func configMapPrinter() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
			ageColumn(),
		},
		Row: typed(func(cm *corev1.ConfigMap, now time.Time) metav1.TableRow {
			return cells(cm.Name, int64(len(cm.Data)+len(cm.BinaryData)), age(cm.CreationTimestamp, now))
		}),
	}
}

func secretPrinter() Printer {
	doc := corev1.Secret{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Type", "string", doc["type"]),
			column("Data", "string", doc["data"]),
			ageColumn(),
		},
		Row: typed(func(s *corev1.Secret, now time.Time) metav1.TableRow {
			return cells(s.Name, string(s.Type), int64(len(s.Data)), age(s.CreationTimestamp, now))
		}),
	}
}

// serviceAccountPrinter prints NAME and AGE: Kubernetes dropped the SECRETS
// count (kubernetes/kubernetes#117160, v1.35) because nothing has filled
// serviceaccount.secrets since v1.24.
func serviceAccountPrinter() Printer {
	return Printer{
		Columns: []metav1.TableColumnDefinition{nameColumn(), ageColumn()},
		Row: typed(func(sa *corev1.ServiceAccount, now time.Time) metav1.TableRow {
			return cells(sa.Name, age(sa.CreationTimestamp, now))
		}),
	}
}

func replicationControllerPrinter() Printer {
	spec := corev1.ReplicationControllerSpec{}.SwaggerDoc()
	status := corev1.ReplicationControllerStatus{}.SwaggerDoc()
	return Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("Desired", "integer", spec["replicas"]),
			column("Current", "integer", status["replicas"]),
			column("Ready", "integer", status["readyReplicas"]),
			ageColumn(),
			wide(column("Containers", "string", containersDescription)),
			wide(column("Images", "string", imagesDescription)),
			wide(column("Selector", "string", spec["selector"])),
		},
		Row: typed(func(rc *corev1.ReplicationController, now time.Time) metav1.TableRow {
			var containers []corev1.Container
			if rc.Spec.Template != nil {
				containers = rc.Spec.Template.Spec.Containers
			}
			names, images := layoutContainerCells(containers)
			return cells(rc.Name, int64(int32Value(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas),
				age(rc.CreationTimestamp, now), names, images, labels.FormatLabels(rc.Spec.Selector))
		}),
	}
}
