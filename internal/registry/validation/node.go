package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podCIDRs returns spec.podCIDRs, or [podCIDR] when only the singular field
// is set.
func podCIDRs(node *corev1.Node) []string {
	if len(node.Spec.PodCIDRs) == 0 && node.Spec.PodCIDR != "" {
		return []string{node.Spec.PodCIDR}
	}
	return node.Spec.PodCIDRs
}

// ValidateNode validates a node on create. Status fields are optional but
// must be valid when set.
func ValidateNode(node *corev1.Node) field.ErrorList {
	if errs := validateQuantitiesInRange(node); len(errs) > 0 {
		return errs
	}
	allErrs := ValidateObjectMeta(&node.ObjectMeta, false, ValidateNodeName, field.NewPath("metadata"))
	return append(allErrs, validateNodeSpecAndStatus(node)...)
}

func validateNodeSpecAndStatus(node *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	// Kubernetes reports taint errors under metadata.taints; berth uses the
	// path the field has.
	allErrs = append(allErrs, validateTaints(node.Spec.Taints, field.NewPath("spec", "taints"))...)
	allErrs = append(allErrs, validateNodeResources(node)...)
	if node.Spec.PodCIDR != "" && len(node.Spec.PodCIDRs) == 0 {
		allErrs = append(allErrs, validation.IsValidCIDR(field.NewPath("spec", "podCIDR"), node.Spec.PodCIDR)...)
	}
	cidrsPath := field.NewPath("spec", "podCIDRs")
	for i, cidr := range node.Spec.PodCIDRs {
		allErrs = append(allErrs, validation.IsValidCIDR(cidrsPath.Index(i), cidr)...)
	}
	if cidrs := node.Spec.PodCIDRs; len(cidrs) > 1 {
		if len(cidrs) > 2 || !isDualStack(cidrs) {
			allErrs = append(allErrs, field.Invalid(cidrsPath, cidrs, "may specify no more than one CIDR for each IP family"))
		}
		seen := sets.New[string]()
		for i, c := range cidrs {
			if seen.Has(c) {
				allErrs = append(allErrs, field.Duplicate(cidrsPath.Index(i), c))
			}
			seen.Insert(c)
		}
	}
	if len(node.Spec.PodCIDRs) > 0 && node.Spec.PodCIDR != "" && node.Spec.PodCIDR != node.Spec.PodCIDRs[0] {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "podCIDR"), node.Spec.PodCIDR, "must match the first value of `podCIDRs`"))
	}
	return allErrs
}

func validateNodeResources(node *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	for _, name := range sortedResourceNames(node.Status.Capacity) {
		allErrs = append(allErrs, ValidateResourceQuantityValue(name, node.Status.Capacity[name], field.NewPath("status", "capacity", string(name)))...)
	}
	for _, name := range sortedResourceNames(node.Status.Allocatable) {
		allErrs = append(allErrs, ValidateResourceQuantityValue(name, node.Status.Allocatable[name], field.NewPath("status", "allocatable", string(name)))...)
	}
	return allErrs
}

// ValidateNodeUpdate validates a node update (spec or status). Pod CIDRs and
// provider ID may be set once, then never changed.
func ValidateNodeUpdate(node, oldNode *corev1.Node) field.ErrorList {
	if errs := validateQuantitiesInRange(node); len(errs) > 0 {
		return errs
	}
	allErrs := validateMetaUpdate(&node.ObjectMeta, &oldNode.ObjectMeta)
	allErrs = append(allErrs, validateNodeSpecAndStatus(node)...)
	addresses := map[corev1.NodeAddress]bool{}
	for i, a := range node.Status.Addresses {
		if addresses[a] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		addresses[a] = true
	}
	oldCIDRs, newCIDRs := podCIDRs(oldNode), podCIDRs(node)
	if len(oldCIDRs) > 0 {
		changed := len(oldCIDRs) != len(newCIDRs)
		for i := 0; !changed && i < len(oldCIDRs); i++ {
			changed = oldCIDRs[i] != newCIDRs[i]
		}
		if changed {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
		}
	}
	if oldNode.Spec.ProviderID != "" && oldNode.Spec.ProviderID != node.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	if node.Spec.DoNotUseExternalID != oldNode.Spec.DoNotUseExternalID {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return allErrs
}

// ValidateNamespace validates a namespace on create: the name is a DNS label
// and spec finalizers are qualified names.
func ValidateNamespace(ns *corev1.Namespace) field.ErrorList {
	allErrs := ValidateObjectMeta(&ns.ObjectMeta, false, ValidateNamespaceName, field.NewPath("metadata"))
	for i := range ns.Spec.Finalizers {
		allErrs = append(allErrs, validateFinalizerName(string(ns.Spec.Finalizers[i]), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return allErrs
}

// ValidateNamespaceUpdate validates a namespace update. As in Kubernetes,
// spec.finalizers change only through the finalize subresource: the strategy
// must carry the old spec over before calling this.
func ValidateNamespaceUpdate(ns, oldNs *corev1.Namespace) field.ErrorList {
	return validateMetaUpdate(&ns.ObjectMeta, &oldNs.ObjectMeta)
}

// ValidateNamespaceStatusUpdate validates a status update: the phase must
// agree with whether deletion has started.
func ValidateNamespaceStatusUpdate(ns, oldNs *corev1.Namespace) field.ErrorList {
	allErrs := validateMetaUpdate(&ns.ObjectMeta, &oldNs.ObjectMeta)
	phasePath := field.NewPath("status", "phase")
	if ns.DeletionTimestamp.IsZero() {
		if ns.Status.Phase != "" && ns.Status.Phase != corev1.NamespaceActive {
			allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if ns.Status.Phase != corev1.NamespaceTerminating {
		allErrs = append(allErrs, field.Invalid(phasePath, ns.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return allErrs
}

// ValidateNamespaceFinalizeUpdate validates an update through the finalize
// subresource, which may change spec.finalizers.
func ValidateNamespaceFinalizeUpdate(ns, oldNs *corev1.Namespace) field.ErrorList {
	allErrs := validateMetaUpdate(&ns.ObjectMeta, &oldNs.ObjectMeta)
	for i := range ns.Spec.Finalizers {
		allErrs = append(allErrs, validateFinalizerName(string(ns.Spec.Finalizers[i]), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return allErrs
}
