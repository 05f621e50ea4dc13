// Package schedulertest builds nodes and pods for scheduler tests and benchmarks.
package schedulertest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeBuilder builds a Node.
type NodeBuilder struct{ n corev1.Node }

// Node starts a Ready node with the hostname label and the given allocatable cpu, memory
// and pod count (e.g. "4", "8Gi", 110).
func Node(name, cpu, memory string, pods int64) *NodeBuilder {
	b := &NodeBuilder{n: corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("node-" + name), Labels: map[string]string{corev1.LabelHostname: name}},
	}}
	list := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
		corev1.ResourcePods:   *resource.NewQuantity(pods, resource.DecimalSI),
	}
	b.n.Status.Capacity, b.n.Status.Allocatable = list, list.DeepCopy()
	b.n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	return b
}

// Label sets a label.
func (b *NodeBuilder) Label(k, v string) *NodeBuilder { b.n.Labels[k] = v; return b }

// Zone sets the zone label.
func (b *NodeBuilder) Zone(z string) *NodeBuilder { return b.Label(corev1.LabelTopologyZone, z) }

// Taint adds a taint.
func (b *NodeBuilder) Taint(key, value string, effect corev1.TaintEffect) *NodeBuilder {
	b.n.Spec.Taints = append(b.n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	return b
}

// Allocatable sets one allocatable resource.
func (b *NodeBuilder) Allocatable(name corev1.ResourceName, q string) *NodeBuilder {
	b.n.Status.Allocatable[name] = resource.MustParse(q)
	return b
}

// Unschedulable cordons the node.
func (b *NodeBuilder) Unschedulable() *NodeBuilder { b.n.Spec.Unschedulable = true; return b }

// Obj returns the node.
func (b *NodeBuilder) Obj() *corev1.Node { n := b.n.DeepCopy(); return n }

// PodBuilder builds a Pod.
type PodBuilder struct{ p corev1.Pod }

// Pod starts a pod with one container and no requests.
func Pod(namespace, name string) *PodBuilder {
	return &PodBuilder{p: corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(fmt.Sprintf("uid-%s-%s", namespace, name)), Labels: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "app"}}, SchedulerName: corev1.DefaultSchedulerName},
	}}
}

// Req sets the first container's cpu and memory requests ("" leaves one unset).
func (b *PodBuilder) Req(cpu, memory string) *PodBuilder {
	r := corev1.ResourceList{}
	if cpu != "" {
		r[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if memory != "" {
		r[corev1.ResourceMemory] = resource.MustParse(memory)
	}
	b.p.Spec.Containers[0].Resources.Requests = r
	return b
}

// Request sets one request of the first container.
func (b *PodBuilder) Request(name corev1.ResourceName, q string) *PodBuilder {
	if b.p.Spec.Containers[0].Resources.Requests == nil {
		b.p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{}
	}
	b.p.Spec.Containers[0].Resources.Requests[name] = resource.MustParse(q)
	return b
}

// Container adds a container with cpu/memory requests.
func (b *PodBuilder) Container(cpu, memory string) *PodBuilder {
	c := corev1.Container{Name: fmt.Sprintf("c%d", len(b.p.Spec.Containers)), Image: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}}
	b.p.Spec.Containers = append(b.p.Spec.Containers, c)
	return b
}

// Init adds an init container with cpu/memory requests; sidecar makes it restartable.
func (b *PodBuilder) Init(cpu, memory string, sidecar bool) *PodBuilder {
	c := corev1.Container{Name: fmt.Sprintf("i%d", len(b.p.Spec.InitContainers)), Image: "app", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}}}
	if sidecar {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, c)
	return b
}

// Overhead sets the pod overhead.
func (b *PodBuilder) Overhead(cpu, memory string) *PodBuilder {
	b.p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)}
	return b
}

// Label sets a label.
func (b *PodBuilder) Label(k, v string) *PodBuilder { b.p.Labels[k] = v; return b }

// UID sets the uid.
func (b *PodBuilder) UID(uid string) *PodBuilder { b.p.UID = types.UID(uid); return b }

// Node binds the pod to a node.
func (b *PodBuilder) Node(name string) *PodBuilder { b.p.Spec.NodeName = name; return b }

// NodeSelector sets spec.nodeSelector.
func (b *PodBuilder) NodeSelector(kv ...string) *PodBuilder {
	b.p.Spec.NodeSelector = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		b.p.Spec.NodeSelector[kv[i]] = kv[i+1]
	}
	return b
}

func (b *PodBuilder) affinity() *corev1.Affinity {
	if b.p.Spec.Affinity == nil {
		b.p.Spec.Affinity = &corev1.Affinity{}
	}
	return b.p.Spec.Affinity
}

// RequiredNodeAffinity appends a required node selector term.
func (b *PodBuilder) RequiredNodeAffinity(term corev1.NodeSelectorTerm) *PodBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	if a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	r := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	r.NodeSelectorTerms = append(r.NodeSelectorTerms, term)
	return b
}

// PreferredNodeAffinity appends a preferred node affinity term.
func (b *PodBuilder) PreferredNodeAffinity(weight int32, term corev1.NodeSelectorTerm) *PodBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.PreferredSchedulingTerm{Weight: weight, Preference: term})
	return b
}

// PodAffinity adds a required (weight 0) or preferred pod affinity term; anti selects
// anti-affinity. The term selects pods with label k=v.
func (b *PodBuilder) PodAffinity(anti bool, weight int32, topologyKey, k, v string) *PodBuilder {
	a := b.affinity()
	term := corev1.PodAffinityTerm{TopologyKey: topologyKey, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}}}
	if anti {
		if a.PodAntiAffinity == nil {
			a.PodAntiAffinity = &corev1.PodAntiAffinity{}
		}
		if weight == 0 {
			a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term)
		} else {
			a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
				corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term})
		}
		return b
	}
	if a.PodAffinity == nil {
		a.PodAffinity = &corev1.PodAffinity{}
	}
	if weight == 0 {
		a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term)
	} else {
		a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term})
	}
	return b
}

// Toleration adds a toleration.
func (b *PodBuilder) Toleration(key string, op corev1.TolerationOperator, value string, effect corev1.TaintEffect) *PodBuilder {
	b.p.Spec.Tolerations = append(b.p.Spec.Tolerations, corev1.Toleration{Key: key, Operator: op, Value: value, Effect: effect})
	return b
}

// HostPort adds a container port with a host port.
func (b *PodBuilder) HostPort(port int32, protocol corev1.Protocol, hostIP string) *PodBuilder {
	c := &b.p.Spec.Containers[0]
	c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: port, HostPort: port, Protocol: protocol, HostIP: hostIP})
	return b
}

// Spread adds a topology spread constraint selecting pods with label k=v.
func (b *PodBuilder) Spread(maxSkew int32, topologyKey string, when corev1.UnsatisfiableConstraintAction, k, v string) *PodBuilder {
	b.p.Spec.TopologySpreadConstraints = append(b.p.Spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: topologyKey, WhenUnsatisfiable: when,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{k: v}},
	})
	return b
}

// MinDomains sets minDomains on the last spread constraint.
func (b *PodBuilder) MinDomains(n int32) *PodBuilder {
	c := &b.p.Spec.TopologySpreadConstraints[len(b.p.Spec.TopologySpreadConstraints)-1]
	c.MinDomains = &n
	return b
}

// Owner sets a controller owner reference.
func (b *PodBuilder) Owner(kind, name, uid string) *PodBuilder {
	yes := true
	apiVersion := "apps/v1"
	if kind == "ReplicationController" {
		apiVersion = "v1"
	}
	b.p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}}
	return b
}

// Priority sets spec.priority.
func (b *PodBuilder) Priority(p int32) *PodBuilder { b.p.Spec.Priority = &p; return b }

// Obj returns the pod.
func (b *PodBuilder) Obj() *corev1.Pod { return b.p.DeepCopy() }
