package validation

import (
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateLease validates a coordination.k8s.io/v1 Lease.
func ValidateLease(lease *coordinationv1.Lease) field.ErrorList {
	allErrs := ValidateObjectMeta(&lease.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
}

// ValidateLeaseUpdate validates a Lease update.
func ValidateLeaseUpdate(lease, oldLease *coordinationv1.Lease) field.ErrorList {
	allErrs := validateMetaUpdate(&lease.ObjectMeta, &oldLease.ObjectMeta)
	return append(allErrs, validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if d := spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if t := spec.LeaseTransitions; t != nil && *t < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseTransitions"), *t, isNegativeErrorMsg))
	}
	if s := spec.Strategy; s != nil {
		p := fldPath.Child("strategy")
		switch {
		case *s == coordinationv1.OldestEmulationVersion:
		case *s == "":
			allErrs = append(allErrs, field.Required(p, ""))
		case strings.Contains(string(*s), "/"):
			// Strategies outside Kubernetes must be domain-qualified.
			allErrs = append(allErrs, ValidateQualifiedName(string(*s), p)...)
		default:
			allErrs = append(allErrs, field.NotSupported(p, *s, []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}))
		}
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}
