package defaults

import corev1 "k8s.io/api/core/v1"

// The functions in this file reproduce what Kubernetes' v1 → internal → v1
// conversion does to aliased fields on every write (pkg/apis/core/v1
// conversion.go). berth stores the versioned object directly, so without
// them a client would read back something a real API server never returns.

// podSpecServiceAccount: serviceAccount is the deprecated alias of
// serviceAccountName. The new field wins when both are set, and responses
// always carry both.
func podSpecServiceAccount(spec *corev1.PodSpec) {
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName
}

// podStatusIPs keeps podIP/podIPs and hostIP/hostIPs consistent. The
// singular field is authoritative when the two disagree, for old clients.
func podStatusIPs(status *corev1.PodStatus) {
	if status.PodIP != "" && (len(status.PodIPs) == 0 || status.PodIPs[0].IP != status.PodIP) {
		status.PodIPs = []corev1.PodIP{{IP: status.PodIP}}
	}
	if len(status.PodIPs) > 0 {
		status.PodIP = status.PodIPs[0].IP
	}
	if status.HostIP != "" && (len(status.HostIPs) == 0 || status.HostIPs[0].IP != status.HostIP) {
		status.HostIPs = []corev1.HostIP{{IP: status.HostIP}}
	}
	if len(status.HostIPs) > 0 {
		status.HostIP = status.HostIPs[0].IP
	}
}

// nodePodCIDRs keeps spec.podCIDR and spec.podCIDRs consistent, podCIDR
// being authoritative when they disagree.
func nodePodCIDRs(spec *corev1.NodeSpec) {
	if spec.PodCIDR != "" && (len(spec.PodCIDRs) == 0 || spec.PodCIDRs[0] != spec.PodCIDR) {
		spec.PodCIDRs = []string{spec.PodCIDR}
	}
	if len(spec.PodCIDRs) > 0 {
		spec.PodCIDR = spec.PodCIDRs[0]
	}
}

// secretStringData merges the write-only stringData into data (stringData
// wins) and drops it: the internal Secret has no such field, so upstream
// never stores or returns it.
func secretStringData(secret *corev1.Secret) {
	if len(secret.StringData) > 0 {
		if secret.Data == nil {
			secret.Data = make(map[string][]byte, len(secret.StringData))
		}
		for key, value := range secret.StringData {
			secret.Data[key] = []byte(value)
		}
	}
	secret.StringData = nil
}
