package validation

import (
	"slices"

	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// unhealthyPodEvictionPolicies are the values spec.unhealthyPodEvictionPolicy may take.
var unhealthyPodEvictionPolicies = []string{string(policyv1.AlwaysAllow), string(policyv1.IfHealthyBudget)}

// ValidatePodDisruptionBudget validates a PodDisruptionBudget on create, with Kubernetes'
// messages.
func ValidatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := ValidateObjectMeta(&pdb.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validatePodDisruptionBudgetSpec(&pdb.Spec, field.NewPath("spec"))...)
}

// ValidatePodDisruptionBudgetUpdate validates an update: policy/v1 budgets are mutable.
func ValidatePodDisruptionBudgetUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validatePodDisruptionBudgetSpec(&pdb.Spec, field.NewPath("spec"))...)
}

// ValidatePodDisruptionBudgetStatusUpdate validates a status write (the disruption
// controller's, and the eviction API's decrement).
func ValidatePodDisruptionBudgetStatusUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	s, p := pdb.Status, field.NewPath("status")
	allErrs = append(allErrs, nonNegativeCounts(p, map[string]int32{
		"disruptionsAllowed": s.DisruptionsAllowed, "currentHealthy": s.CurrentHealthy,
		"desiredHealthy": s.DesiredHealthy, "expectedPods": s.ExpectedPods,
	})...)
	return append(allErrs, ValidateNonnegativeField(s.ObservedGeneration, p.Child("observedGeneration"))...)
}

func validatePodDisruptionBudgetSpec(spec *policyv1.PodDisruptionBudgetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	for _, b := range []struct {
		name string
		v    *intstr.IntOrString
	}{{"minAvailable", spec.MinAvailable}, {"maxUnavailable", spec.MaxUnavailable}} {
		name, v := b.name, b.v
		if v == nil {
			continue
		}
		allErrs = append(allErrs, validatePositiveIntOrPercent(*v, fldPath.Child(name))...)
		if n, isPercent := percentValue(*v); isPercent && n > 100 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child(name), *v, "must not be greater than 100%"))
		}
	}
	allErrs = append(allErrs, ValidateLabelSelector(spec.Selector, fldPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && !slices.Contains(unhealthyPodEvictionPolicies, string(*p)) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("unhealthyPodEvictionPolicy"), *p, unhealthyPodEvictionPolicies))
	}
	return allErrs
}
