package defaults

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// The functions in this file are not API defaulting upstream but admission
// plugins or create-time strategy steps. Apply does not call them: the
// registry runs them on create, after Apply, as Kubernetes does.

// tolerationSeconds is the kube-apiserver default of
// --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds.
const tolerationSeconds = 300

// mirrorPodAnnotation marks static pods a kubelet mirrors into the API.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// DefaultTolerationSeconds is the DefaultTolerationSeconds admission plugin:
// a pod that does not already tolerate the not-ready or unreachable NoExecute
// taint (a toleration with that key or no key, and effect NoExecute or no
// effect) gets an Exists toleration for it with tolerationSeconds 300, so
// its pods are evicted five minutes after a node fails.
func DefaultTolerationSeconds(pod *corev1.Pod) {
	var notReady, unreachable bool
	for _, t := range pod.Spec.Tolerations {
		if t.Effect != corev1.TaintEffectNoExecute && t.Effect != "" {
			continue
		}
		if t.Key == corev1.TaintNodeNotReady || t.Key == "" {
			notReady = true
		}
		if t.Key == corev1.TaintNodeUnreachable || t.Key == "" {
			unreachable = true
		}
	}
	if !notReady {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, nodeFailureToleration(corev1.TaintNodeNotReady))
	}
	if !unreachable {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, nodeFailureToleration(corev1.TaintNodeUnreachable))
	}
}

func nodeFailureToleration(key string) corev1.Toleration {
	return corev1.Toleration{
		Key:               key,
		Operator:          corev1.TolerationOpExists,
		Effect:            corev1.TaintEffectNoExecute,
		TolerationSeconds: ptr.To[int64](tolerationSeconds),
	}
}

// DefaultServiceAccount is the defaulting half of the ServiceAccount
// admission plugin on pod create: a pod naming no service account runs as
// "default". Mirror pods are left alone, as upstream. The plugin itself
// (registry.ServiceAccountAdmission, which reads ServiceAccounts) sets the
// same name first and mounts the token; this keeps the name right when that
// admission is off (an API-only server, where no controller creates
// "default").
func DefaultServiceAccount(pod *corev1.Pod) {
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = "default"
	}
	podSpecServiceAccount(&pod.Spec)
}

// NamespaceOnCreate is the namespace strategy's PrepareForCreate: status is
// reset to Active and the "kubernetes" finalizer is required. It must not
// run on update: the namespace controller removes that finalizer through
// the finalize subresource, and adding it back would block deletion.
func NamespaceOnCreate(ns *corev1.Namespace) {
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return
		}
	}
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
}
