package framework

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Defaults the scoring plugins assume for containers without cpu/memory requests, so that
// best-effort pods still spread (kube-scheduler's DefaultMilliCPURequest/DefaultMemoryRequest).
const (
	DefaultMilliCPURequest int64 = 100
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024
)

// Resource is an amount of every schedulable resource.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is only meaningful for node allocatable.
	AllowedPodNumber int64
	// Scalar holds extended resources and hugepages; nil when there are none.
	Scalar map[corev1.ResourceName]int64
}

// IsZero reports whether r requests nothing.
func (r *Resource) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.Scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

// Add adds o to r.
func (r *Resource) Add(o *Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	r.AllowedPodNumber += o.AllowedPodNumber
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[name] += v
	}
}

// Sub subtracts o from r.
func (r *Resource) Sub(o *Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	r.AllowedPodNumber -= o.AllowedPodNumber
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[name] -= v
	}
}

// setMax raises every field of r to at least o's.
func (r *Resource) setMax(o *Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for name, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[name] = max(r.Scalar[name], v)
	}
}

// ResourceFromList converts a ResourceList (node allocatable, container requests).
func ResourceFromList(list corev1.ResourceList) Resource {
	var r Resource
	for name, q := range list {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU = q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory = q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage = q.Value()
		case corev1.ResourcePods:
			r.AllowedPodNumber = q.Value()
		default:
			if isScalarResource(name) {
				if r.Scalar == nil {
					r.Scalar = map[corev1.ResourceName]int64{}
				}
				r.Scalar[name] = q.Value()
			}
		}
	}
	return r
}

// isScalarResource: extended and prefixed resources (any domain-qualified name),
// hugepages and attachable volume counts — what NodeResourcesFit checks besides the
// built-in four.
func isScalarResource(name corev1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) || strings.HasPrefix(s, "attachable-volumes-") {
		return true
	}
	return strings.Contains(s, "/")
}

// podRequests computes what a pod asks of a node: the sum of its containers and sidecars,
// at least the peak of any init container (running beside the sidecars started before it),
// plus the pod overhead. Pod-level requests (spec.resources) replace the container sum for
// cpu and memory. With nonZero, containers without a cpu or memory request count the
// scoring defaults.
func podRequests(pod *corev1.Pod, nonZero bool) Resource {
	var containers, sidecars, initPeak Resource
	for i := range pod.Spec.Containers {
		c := containerRequests(&pod.Spec.Containers[i], nonZero)
		containers.Add(&c)
	}
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		c := containerRequests(ic, nonZero)
		if ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars.Add(&c)
			initPeak.setMax(&sidecars)
			continue
		}
		c.Add(&sidecars)
		initPeak.setMax(&c)
	}
	total := containers
	total.Add(&sidecars)
	total.setMax(&initPeak)
	if pl := pod.Spec.Resources; pl != nil {
		if q, ok := pl.Requests[corev1.ResourceCPU]; ok {
			total.MilliCPU = q.MilliValue()
		}
		if q, ok := pl.Requests[corev1.ResourceMemory]; ok {
			total.Memory = q.Value()
		}
	}
	if pod.Spec.Overhead != nil {
		o := ResourceFromList(pod.Spec.Overhead)
		o.AllowedPodNumber = 0
		total.Add(&o)
	}
	total.AllowedPodNumber = 0
	return total
}

func containerRequests(c *corev1.Container, nonZero bool) Resource {
	r := ResourceFromList(c.Resources.Requests)
	r.AllowedPodNumber = 0
	if nonZero {
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			r.MilliCPU = DefaultMilliCPURequest
		}
		if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
			r.Memory = DefaultMemoryRequest
		}
	}
	return r
}
