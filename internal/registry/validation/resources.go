package validation

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const hugePagesPrefix = "hugepages-"

// standardResources are the unqualified resource names Kubernetes knows
// (compute, quota and storage).
var standardResources = sets.New(
	"cpu", "memory", "ephemeral-storage",
	"requests.cpu", "requests.memory", "requests.ephemeral-storage", "requests.storage",
	"limits.cpu", "limits.memory", "limits.ephemeral-storage",
	"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
	"persistentvolumeclaims", "storage", "services.nodeports", "services.loadbalancers",
)

var standardContainerResources = sets.New("cpu", "memory", "ephemeral-storage")

// integerResources must be whole numbers.
var integerResources = sets.New(
	"pods", "services", "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
	"persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
)

func isHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), hugePagesPrefix)
}

// isNativeResource: unqualified, or qualified with a kubernetes.io domain.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), "kubernetes.io/")
}

// isExtendedResourceName: a device-plugin style resource such as
// example.com/gpu.
func isExtendedResourceName(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), "requests.") {
		return false
	}
	return len(validation.IsQualifiedName("requests."+string(name))) == 0
}

// isOvercommitAllowed: extended resources and huge pages are handed out
// whole, so their requests must equal their limits.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePageResourceName(name)
}

func validateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := messagesToErrors(validation.IsQualifiedName(string(name)), fldPath, name)
	if len(allErrs) != 0 {
		return allErrs
	}
	if !strings.Contains(string(name), "/") && !standardResources.Has(string(name)) && !isHugePageResourceName(name) {
		return field.ErrorList{field.Invalid(fldPath, name, "must be a standard resource type or fully qualified")}
	}
	return nil
}

func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") {
		if !standardContainerResources.Has(string(name)) && !isHugePageResourceName(name) {
			return append(allErrs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && !isExtendedResourceName(name) {
		return append(allErrs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return allErrs
}

// Bounds on the magnitude and precision of a quantity. Arithmetic on a
// quantity such as "1e1000000000" (Value, MilliValue, Cmp, String) builds
// a billion-digit number, so such values are rejected before anything
// computes with them.
const (
	maxQuantityExponent = 40
	maxQuantityBits     = 256
)

// quantityInRange reports, cheaply, whether q can be computed with.
func quantityInRange(q resource.Quantity) bool {
	d := q.AsDec()
	return d.Scale() >= -maxQuantityExponent && d.Scale() <= maxQuantityExponent && d.UnscaledBig().BitLen() <= maxQuantityBits
}

// validateQuantityInRange reports a quantity out of range without printing
// it (printing it is what takes forever).
func validateQuantityInRange(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if quantityInRange(q) {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, fmt.Sprintf("%g", q.AsApproximateFloat64()), "must be a valid resource quantity")}
}

// ValidateResourceQuantityValue requires a non-negative quantity, and a
// whole number for resources counted in units.
func ValidateResourceQuantityValue(name corev1.ResourceName, value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if errs := validateQuantityInRange(value, fldPath); errs != nil {
		return errs
	}
	var allErrs field.ErrorList
	if value.Sign() < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, value.String(), isNegativeErrorMsg))
	}
	if integerResources.Has(string(name)) || isExtendedResourceName(name) {
		if value.MilliValue()%1000 != 0 {
			allErrs = append(allErrs, field.Invalid(fldPath, value.String(), isNotIntegerErrorMsg))
		}
	}
	return allErrs
}

func validateHugePageValue(name corev1.ResourceName, q resource.Quantity) error {
	pageSize, err := resource.ParseQuantity(strings.TrimPrefix(string(name), hugePagesPrefix))
	if err != nil || pageSize.Sign() <= 0 || !quantityInRange(pageSize) || pageSize.Value() <= 0 {
		return fmt.Errorf("%s is not a valid huge page size", strings.TrimPrefix(string(name), hugePagesPrefix))
	}
	if q.Value()%pageSize.Value() != 0 {
		return fmt.Errorf("%s is not positive integer multiple of %s", q.String(), name)
	}
	return nil
}

func validateContainerResources(req *corev1.ResourceRequirements, claimNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	return validateResourceRequirements(req, validateContainerResourceName, claimNames, fldPath)
}

// validateResourceRequirements checks names and quantities, and that every
// request fits its limit (equals it, for resources that cannot overcommit).
func validateResourceRequirements(req *corev1.ResourceRequirements, nameFn func(corev1.ResourceName, *field.Path) field.ErrorList,
	claimNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	cpuOrMemory, hugePages := false, false
	for _, name := range sortedResourceNames(req.Limits) {
		q := req.Limits[name]
		p := limPath.Key(string(name))
		allErrs = append(allErrs, nameFn(name, p)...)
		allErrs = append(allErrs, ValidateResourceQuantityValue(name, q, p)...)
		if !quantityInRange(q) {
			continue
		}
		if isHugePageResourceName(name) {
			hugePages = true
			if err := validateHugePageValue(name, q); err != nil {
				allErrs = append(allErrs, field.Invalid(p, q.String(), err.Error()))
			}
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			cpuOrMemory = true
		}
	}
	for _, name := range sortedResourceNames(req.Requests) {
		q := req.Requests[name]
		p := reqPath.Key(string(name))
		allErrs = append(allErrs, nameFn(name, p)...)
		allErrs = append(allErrs, ValidateResourceQuantityValue(name, q, p)...)
		if !quantityInRange(q) {
			continue
		}
		if limit, ok := req.Limits[name]; ok && quantityInRange(limit) {
			if q.Cmp(limit) != 0 && !isOvercommitAllowed(name) {
				allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
			} else if q.Cmp(limit) > 0 {
				allErrs = append(allErrs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
			}
		} else if !isOvercommitAllowed(name) {
			allErrs = append(allErrs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		if isHugePageResourceName(name) {
			hugePages = true
			if err := validateHugePageValue(name, q); err != nil {
				allErrs = append(allErrs, field.Invalid(p, q.String(), err.Error()))
			}
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			cpuOrMemory = true
		}
	}
	if hugePages && !cpuOrMemory {
		allErrs = append(allErrs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	return append(allErrs, validateResourceClaimNames(req.Claims, claimNames, fldPath.Child("claims"))...)
}

func validateResourceClaimNames(claims []corev1.ResourceClaim, podClaimNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, claim := range claims {
		if claim.Name == "" {
			allErrs = append(allErrs, field.Required(fldPath.Index(i), ""))
			continue
		}
		key := claim.Name
		if claim.Request != "" {
			allErrs = append(allErrs, ValidateDNS1123Label(claim.Request, fldPath.Index(i).Child("request"))...)
			key += "/" + claim.Request
		}
		if seen.Has(key) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), key))
		}
		seen.Insert(key)
		if !podClaimNames.Has(claim.Name) {
			e := field.NotFound(fldPath.Index(i), claim.Name)
			e.Detail = "must be one of the names in pod.spec.resourceClaims"
			if podClaimNames.Len() == 0 {
				e.Detail += " which is empty"
			} else {
				e.Detail += ": " + strings.Join(sets.List(podClaimNames), ", ")
			}
			allErrs = append(allErrs, e)
		}
	}
	return allErrs
}

func validatePodResourceClaims(claims []corev1.PodResourceClaim, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, claim := range claims {
		idxPath := fldPath.Index(i)
		switch {
		case claim.Name == "":
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		case seen.Has(claim.Name):
			allErrs = append(allErrs, field.Duplicate(idxPath.Child("name"), claim.Name))
		default:
			allErrs = append(allErrs, ValidateDNS1123Label(claim.Name, idxPath.Child("name"))...)
			seen.Insert(claim.Name)
		}
		switch {
		case claim.ResourceClaimName != nil && claim.ResourceClaimTemplateName != nil:
			allErrs = append(allErrs, field.Invalid(idxPath, claim, "at most one of `resourceClaimName` or `resourceClaimTemplateName` may be specified"))
		case claim.ResourceClaimName == nil && claim.ResourceClaimTemplateName == nil:
			allErrs = append(allErrs, field.Invalid(idxPath, claim, "must specify one of: `resourceClaimName`, `resourceClaimTemplateName`"))
		}
		if claim.ResourceClaimName != nil {
			allErrs = append(allErrs, validateNameWith(NameIsDNSSubdomain, *claim.ResourceClaimName, idxPath.Child("resourceClaimName"))...)
		}
		if claim.ResourceClaimTemplateName != nil {
			allErrs = append(allErrs, validateNameWith(NameIsDNSSubdomain, *claim.ResourceClaimTemplateName, idxPath.Child("resourceClaimTemplateName"))...)
		}
	}
	return allErrs
}

// validatePodLevelResources validates spec.resources: only cpu, memory and
// huge pages may be set at pod level.
func validatePodLevelResources(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if spec.Resources == nil {
		return nil
	}
	var allErrs field.ErrorList
	if spec.Resources.Claims != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("claims"), "claims cannot be set for Resources at pod-level"))
	}
	supported := []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	nameFn := func(name corev1.ResourceName, p *field.Path) field.ErrorList {
		errs := validateResourceName(name, p)
		if len(errs) == 0 && name != corev1.ResourceCPU && name != corev1.ResourceMemory && !isHugePageResourceName(name) {
			errs = append(errs, field.NotSupported(p, name, supported))
		}
		return errs
	}
	reqs := *spec.Resources
	reqs.Claims = nil
	return append(allErrs, validateResourceRequirements(&reqs, nameFn, nil, fldPath)...)
}

func sortedResourceNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for name := range list {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}
