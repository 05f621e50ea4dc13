package validation

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateNameFunc checks a name for one kind of resource. prefix is true when
// the name is a generateName prefix (a suffix will be appended), in which case
// a trailing dash is allowed. It returns one message per violated rule.
type ValidateNameFunc func(name string, prefix bool) []string

// Name rules per resource, as Kubernetes defines them.
var (
	NameIsDNSSubdomain         ValidateNameFunc = apimachineryvalidation.NameIsDNSSubdomain
	NameIsDNSLabel             ValidateNameFunc = apimachineryvalidation.NameIsDNSLabel
	NameIsDNS1035Label         ValidateNameFunc = apimachineryvalidation.NameIsDNS1035Label
	NameIsPathSegment          ValidateNameFunc = pathSegmentName
	ValidateNamespaceName                       = NameIsDNSLabel
	ValidateServiceName                         = NameIsDNS1035Label
	ValidateNodeName                            = NameIsDNSSubdomain
	ValidatePodName                             = NameIsDNSSubdomain
	ValidateSecretName                          = NameIsDNSSubdomain
	ValidateConfigMapName                       = NameIsDNSSubdomain
	ValidateServiceAccountName                  = NameIsDNSSubdomain
)

// Messages shared by several resources.
const (
	isNegativeErrorMsg     = apimachineryvalidation.IsNegativeErrorMsg
	fieldImmutableErrorMsg = apimachineryvalidation.FieldImmutableErrorMsg
	isNotPositiveErrorMsg  = "must be greater than zero"
	isNotIntegerErrorMsg   = "must be an integer"
)

// pathSegmentName is the rule every stored object obeys whatever its kind:
// the name becomes one segment of a storage key and of a URL, so "/", "%",
// "." and ".." would let it escape its place.
func pathSegmentName(name string, prefix bool) []string {
	if prefix {
		return content.IsPathSegmentPrefix(name)
	}
	return content.IsPathSegmentName(name)
}

// safeNameFunc runs nameFn and, when it accepts the name, the path-segment
// rule as well, so that no name rule can be loose enough to allow a path
// traversal and no name is reported twice.
func safeNameFunc(nameFn ValidateNameFunc) apimachineryvalidation.ValidateNameFunc {
	return func(name string, prefix bool) []string {
		if nameFn != nil {
			if msgs := nameFn(name, prefix); len(msgs) > 0 {
				return msgs
			}
		}
		return pathSegmentName(name, prefix)
	}
}

// ValidateObjectMeta validates the metadata of an object being created:
// name (required unless generateName is set, checked with nameFn and the
// path-segment rule), generateName as a prefix, namespace (required exactly
// when namespaced), labels, annotations (total size at most 256 KiB),
// ownerReferences and finalizers.
func ValidateObjectMeta(meta *metav1.ObjectMeta, namespaced bool, nameFn ValidateNameFunc, fldPath *field.Path) field.ErrorList {
	if meta == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := apimachineryvalidation.ValidateObjectMeta(meta, namespaced, safeNameFunc(nameFn), fldPath)
	if meta.Name == "" && meta.GenerateName != "" {
		// The name is generated after validation in berth's create path.
		allErrs = dropError(allErrs, fldPath.Child("name").String(), field.ErrorTypeRequired)
	}
	for i := range meta.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(meta.Finalizers[i], fldPath.Child("finalizers").Index(i))...)
	}
	return allErrs
}

// ValidateObjectMetaUpdate validates metadata on update: name, namespace,
// uid, creationTimestamp, deletionTimestamp and deletionGracePeriodSeconds
// are immutable, resourceVersion is required, generation may not decrease,
// no finalizer may be added once deletion started, and the mutable parts
// must still be valid.
func ValidateObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	if newMeta == nil || oldMeta == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, fldPath)
	for i := range newMeta.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(newMeta.Finalizers[i], fldPath.Child("finalizers").Index(i))...)
	}
	return allErrs
}

// validateMetaUpdate validates top-level metadata on update.
func validateMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta) field.ErrorList {
	return ValidateObjectMetaUpdate(newMeta, oldMeta, field.NewPath("metadata"))
}

var standardFinalizers = map[string]bool{
	"kubernetes":                     true,
	metav1.FinalizerOrphanDependents: true,
	metav1.FinalizerDeleteDependents: true,
}

// validateKubeFinalizerName rejects unqualified finalizer names that are not
// one of the few Kubernetes itself defines.
func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers[name] {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// validateFinalizerName is the full rule for a namespace spec finalizer.
func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateFinalizerName(name, fldPath)
	return append(allErrs, validateKubeFinalizerName(name, fldPath)...)
}

// ValidateLabelSelector validates a label selector strictly (label values in
// expressions must be valid label values).
func ValidateLabelSelector(ps *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabelSelector(ps, metav1validation.LabelSelectorValidationOptions{}, fldPath)
}

// ValidateLabels validates label keys and values.
func ValidateLabels(labels map[string]string, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(labels, fldPath)
}

// ValidateImmutableField reports "field is immutable" when newVal and oldVal
// differ semantically.
func ValidateImmutableField(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

// ValidateNonnegativeField reports "must be greater than or equal to 0".
func ValidateNonnegativeField(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

// ValidateDNS1123Label validates value as an RFC 1123 label.
func ValidateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	return messagesToErrors(validation.IsDNS1123Label(value), fldPath, value)
}

// ValidateDNS1123Subdomain validates value as an RFC 1123 subdomain.
func ValidateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	return messagesToErrors(validation.IsDNS1123Subdomain(value), fldPath, value)
}

// ValidateQualifiedName validates value as a Kubernetes qualified name
// (optional DNS prefix and "/", then a name of at most 63 characters).
func ValidateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	return messagesToErrors(validation.IsQualifiedName(value), fldPath, value)
}

// validateNameWith turns the messages of a name rule into Invalid errors.
func validateNameWith(nameFn ValidateNameFunc, name string, fldPath *field.Path) field.ErrorList {
	return messagesToErrors(nameFn(name, false), fldPath, name)
}

func messagesToErrors(msgs []string, fldPath *field.Path, value any) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range msgs {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// dropError removes the errors of one type at one path.
func dropError(errs field.ErrorList, path string, typ field.ErrorType) field.ErrorList {
	kept := errs[:0]
	for _, e := range errs {
		if e.Field == path && e.Type == typ {
			continue
		}
		kept = append(kept, e)
	}
	return kept
}
