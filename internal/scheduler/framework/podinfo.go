package framework

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// HostPort is one host port a pod uses.
type HostPort struct {
	IP       string
	Protocol corev1.Protocol
	Port     int32
}

// conflicts reports whether two host ports cannot coexist on a node: same protocol and
// port, and either IP is the wildcard or they are equal.
func (p HostPort) conflicts(o HostPort) bool {
	if p.Port != o.Port || p.Protocol != o.Protocol {
		return false
	}
	return p.IP == o.IP || p.IP == "0.0.0.0" || o.IP == "0.0.0.0"
}

// PodInfo is a pod with everything the plugins derive from its spec computed once: the
// pod is scheduled (or counted on its node) many times, its spec parsed only here.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests is what NodeResourcesFit checks; NonZeroCPU/NonZeroMemory is what the
	// scoring plugins count (with defaults for missing requests).
	Requests                   Resource
	NonZeroCPU, NonZeroMemory  int64
	HostPorts                  []HostPort
	RequiredNodeAffinity       RequiredNodeAffinity
	PreferredNodeAffinity      []PreferredNodeTerm
	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm
	HardSpread, SoftSpread     []SpreadConstraint
	HasPodAffinity             bool
	// ControllerUID is the uid of the pod's controller owner (empty without one).
	ControllerUID types.UID
	// DefaultSpreadSelector selects the pods of the same services/ReplicaSet/RC as this
	// one, for system default spreading; nil when it has none. The caller fills it in
	// (it needs listers); the core never looks anything up.
	DefaultSpreadSelector labels.Selector
	// ParseErr records a spec the plugins cannot interpret (bad selector): the pod is
	// unschedulable with that message.
	ParseErr error
}

// NewPodInfo precomputes the scheduling view of pod.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod}
	pi.Requests = podRequests(pod, false)
	nz := podRequests(pod, true)
	pi.NonZeroCPU, pi.NonZeroMemory = nz.MilliCPU, nz.Memory
	pi.HostPorts = hostPorts(pod)
	pi.RequiredNodeAffinity = compileRequiredNodeAffinity(pod)
	pi.PreferredNodeAffinity = compilePreferredNodeAffinity(pod)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		pi.ControllerUID = ref.UID
	}
	var errs []error
	if a := pod.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				t, err := compileAffinityTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i])
				errs = append(errs, err)
				pi.RequiredAffinityTerms = append(pi.RequiredAffinityTerms, t)
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				t, err := compileAffinityTerm(pod, &w.PodAffinityTerm)
				errs = append(errs, err)
				pi.PreferredAffinityTerms = append(pi.PreferredAffinityTerms, WeightedAffinityTerm{AffinityTerm: t, Weight: w.Weight})
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for i := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				t, err := compileAffinityTerm(pod, &pa.RequiredDuringSchedulingIgnoredDuringExecution[i])
				errs = append(errs, err)
				pi.RequiredAntiAffinityTerms = append(pi.RequiredAntiAffinityTerms, t)
			}
			for i := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				w := &pa.PreferredDuringSchedulingIgnoredDuringExecution[i]
				t, err := compileAffinityTerm(pod, &w.PodAffinityTerm)
				errs = append(errs, err)
				pi.PreferredAntiAffinityTerms = append(pi.PreferredAntiAffinityTerms, WeightedAffinityTerm{AffinityTerm: t, Weight: w.Weight})
			}
		}
		pi.HasPodAffinity = a.PodAffinity != nil || a.PodAntiAffinity != nil
	}
	var err error
	pi.HardSpread, err = compileSpreadConstraints(pod, corev1.DoNotSchedule)
	errs = append(errs, err)
	pi.SoftSpread, err = compileSpreadConstraints(pod, corev1.ScheduleAnyway)
	errs = append(errs, err)
	pi.ParseErr = errors.Join(errs...)
	return pi
}

func hostPorts(pod *corev1.Pod) []HostPort {
	var out []HostPort
	add := func(cs []corev1.Container, sidecarsOnly bool) {
		for i := range cs {
			if sidecarsOnly && (cs[i].RestartPolicy == nil || *cs[i].RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := HostPort{IP: p.HostIP, Protocol: p.Protocol, Port: p.HostPort}
				if hp.IP == "" {
					hp.IP = "0.0.0.0"
				}
				if hp.Protocol == "" {
					hp.Protocol = corev1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	add(pod.Spec.InitContainers, true)
	add(pod.Spec.Containers, false)
	return out
}

// Terminating reports whether the pod is being deleted.
func (pi *PodInfo) Terminating() bool { return pi.Pod.DeletionTimestamp != nil }
