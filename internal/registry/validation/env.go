package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Environment variable names follow the relaxed rule that Kubernetes made
// the default in 1.34 (RelaxedEnvironmentVariableValidation is GA): any
// printable ASCII character except '='.
func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ev := range vars {
		idxPath := fldPath.Index(i)
		if ev.Name == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		} else {
			allErrs = append(allErrs, messagesToErrors(validation.IsRelaxedEnvVarName(ev.Name), idxPath.Child("name"), ev.Name)...)
		}
		allErrs = append(allErrs, validateEnvVarValueFrom(&ev, idxPath.Child("valueFrom"))...)
	}
	return allErrs
}

// validEnvDownwardAPIFieldPaths are the pod fields an env var may expose.
var validEnvDownwardAPIFieldPaths = sets.New(
	"metadata.name",
	"metadata.namespace",
	"metadata.uid",
	"spec.nodeName",
	"spec.serviceAccountName",
	"status.hostIP",
	"status.hostIPs",
	"status.podIP",
	"status.podIPs",
)

// validVolumeDownwardAPIFieldPaths are the pod fields a downward API volume
// file may expose.
var validVolumeDownwardAPIFieldPaths = sets.New(
	"metadata.name",
	"metadata.namespace",
	"metadata.labels",
	"metadata.annotations",
	"metadata.uid",
)

var validContainerResourceFieldPaths = sets.New(
	"limits.cpu",
	"limits.memory",
	"limits.ephemeral-storage",
	"requests.cpu",
	"requests.memory",
	"requests.ephemeral-storage",
)

func validateEnvVarValueFrom(ev *corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	if ev.ValueFrom == nil {
		return nil
	}
	var allErrs field.ErrorList
	numSources := 0
	vf := ev.ValueFrom
	if vf.FieldRef != nil {
		numSources++
		allErrs = append(allErrs, validateObjectFieldSelector(vf.FieldRef, validEnvDownwardAPIFieldPaths, fldPath.Child("fieldRef"))...)
	}
	if vf.ResourceFieldRef != nil {
		numSources++
		allErrs = append(allErrs, validateContainerResourceFieldSelector(vf.ResourceFieldRef, false, fldPath.Child("resourceFieldRef"))...)
	}
	if vf.ConfigMapKeyRef != nil {
		numSources++
		allErrs = append(allErrs, validateKeySelector(vf.ConfigMapKeyRef.Name, vf.ConfigMapKeyRef.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if vf.SecretKeyRef != nil {
		numSources++
		allErrs = append(allErrs, validateKeySelector(vf.SecretKeyRef.Name, vf.SecretKeyRef.Key, fldPath.Child("secretKeyRef"))...)
	}
	if vf.FileKeyRef != nil {
		numSources++
		allErrs = append(allErrs, validateFileKeySelector(vf.FileKeyRef, fldPath.Child("fileKeyRef"))...)
	}
	switch {
	case numSources == 0:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case ev.Value != "":
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	case numSources > 1:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return allErrs
}

func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	allErrs := validateNameWith(NameIsDNSSubdomain, name, fldPath.Child("name"))
	if key == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("key"), ""))
	} else {
		allErrs = append(allErrs, messagesToErrors(validation.IsConfigMapKey(key), fldPath.Child("key"), key)...)
	}
	return allErrs
}

func validateFileKeySelector(s *corev1.FileKeySelector, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if s.VolumeName == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("volumeName"), ""))
	} else {
		allErrs = append(allErrs, ValidateDNS1123Label(s.VolumeName, fldPath.Child("volumeName"))...)
	}
	if s.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	} else {
		allErrs = append(allErrs, validateLocalNonReservedPath(s.Path, fldPath.Child("path"))...)
	}
	if s.Key == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("key"), ""))
	} else {
		allErrs = append(allErrs, messagesToErrors(validation.IsRelaxedEnvVarName(s.Key), fldPath.Child("key"), s.Key)...)
	}
	return allErrs
}

// splitSubscriptedPath splits "metadata.labels['key']" into its path and
// key. ok is false when fieldPath has no subscript.
func splitSubscriptedPath(fieldPath string) (p, subscript string, ok bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	s := strings.TrimSuffix(fieldPath, "']")
	parts := strings.SplitN(s, "['", 2)
	if len(parts) < 2 || len(parts[0]) == 0 {
		return fieldPath, "", false
	}
	return parts[0], parts[1], true
}

// downwardAPIFieldLabels are the field paths the v1 pod conversion accepts
// at all; which of them a given consumer may use is a narrower set.
var downwardAPIFieldLabels = sets.New(
	"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
	"status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
)

func validateObjectFieldSelector(fs *corev1.ObjectFieldSelector, allowed sets.Set[string], fldPath *field.Path) field.ErrorList {
	// An empty apiVersion defaults to "v1".
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath,
			fmt.Sprintf("error converting fieldPath: unsupported pod version: %s", fs.APIVersion))}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(fldPath.Child("fieldPath"), "")}
	}
	fieldPath := fs.FieldPath
	if fieldPath == "spec.host" {
		fieldPath = "spec.nodeName"
	}
	if p, subscript, ok := splitSubscriptedPath(fieldPath); ok {
		switch p {
		case "metadata.annotations":
			return ValidateQualifiedName(strings.ToLower(subscript), fldPath)
		case "metadata.labels":
			return ValidateQualifiedName(subscript, fldPath)
		default:
			return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath,
				fmt.Sprintf("error converting fieldPath: field label does not support subscript: %s", fs.FieldPath))}
		}
	}
	if !downwardAPIFieldLabels.Has(fieldPath) {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath,
			fmt.Sprintf("error converting fieldPath: field label not supported: %s", fs.FieldPath))}
	}
	if !allowed.Has(fieldPath) {
		return field.ErrorList{field.NotSupported(fldPath.Child("fieldPath"), fieldPath, sets.List(allowed))}
	}
	return nil
}

func validateContainerResourceFieldSelector(fs *corev1.ResourceFieldSelector, volume bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case volume && fs.ContainerName == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("containerName"), ""))
	case fs.Resource == "":
		allErrs = append(allErrs, field.Required(fldPath.Child("resource"), ""))
	case !validContainerResourceFieldPaths.Has(fs.Resource) &&
		!strings.HasPrefix(fs.Resource, "requests.hugepages-") && !strings.HasPrefix(fs.Resource, "limits.hugepages-"):
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("resource"), fs.Resource, sets.List(validContainerResourceFieldPaths)))
	}
	return append(allErrs, validateContainerResourceDivisor(fs.Resource, fs.Divisor, fldPath)...)
}

var (
	validCPUDivisors    = sets.New("1m", "1")
	validMemoryDivisors = sets.New("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")
)

const memoryDivisorList = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"

func validateContainerResourceDivisor(rName string, divisor resource.Quantity, fldPath *field.Path) field.ErrorList {
	if divisor.IsZero() {
		return nil
	}
	if errs := validateQuantityInRange(divisor, fldPath.Child("divisor")); errs != nil {
		return errs
	}
	d := divisor.String()
	var msg string
	switch {
	case rName == "limits.cpu" || rName == "requests.cpu":
		if !validCPUDivisors.Has(d) {
			msg = "only divisor's values 1m and 1 are supported with the cpu resource"
		}
	case rName == "limits.memory" || rName == "requests.memory":
		if !validMemoryDivisors.Has(d) {
			msg = "only divisor's values " + memoryDivisorList + " are supported with the memory resource"
		}
	case rName == "limits.ephemeral-storage" || rName == "requests.ephemeral-storage":
		if !validMemoryDivisors.Has(d) {
			msg = "only divisor's values " + memoryDivisorList + " are supported with the local ephemeral storage resource"
		}
	case strings.HasPrefix(rName, "requests.hugepages-") || strings.HasPrefix(rName, "limits.hugepages-"):
		if !validMemoryDivisors.Has(d) {
			msg = "only divisor's values " + memoryDivisorList + " are supported with the hugepages resource"
		}
	}
	if msg == "" {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath.Child("divisor"), rName, msg)}
}

func validateEnvFrom(sources []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ef := range sources {
		idxPath := fldPath.Index(i)
		if ef.Prefix != "" {
			allErrs = append(allErrs, messagesToErrors(validation.IsRelaxedEnvVarName(ef.Prefix), idxPath.Child("prefix"), ef.Prefix)...)
		}
		numSources := 0
		if ef.ConfigMapRef != nil {
			numSources++
			allErrs = append(allErrs, validateEnvSourceName(ef.ConfigMapRef.Name, idxPath.Child("configMapRef"))...)
		}
		if ef.SecretRef != nil {
			numSources++
			allErrs = append(allErrs, validateEnvSourceName(ef.SecretRef.Name, idxPath.Child("secretRef"))...)
		}
		switch {
		case numSources == 0:
			allErrs = append(allErrs, field.Invalid(idxPath, "", "must specify one of: `configMapRef` or `secretRef`"))
		case numSources > 1:
			allErrs = append(allErrs, field.Invalid(idxPath, "", "may not have more than one field specified at a time"))
		}
	}
	return allErrs
}

func validateEnvSourceName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath.Child("name"), "")}
	}
	// Kubernetes checks these names as generateName prefixes.
	return messagesToErrors(NameIsDNSSubdomain(name, true), fldPath.Child("name"), name)
}
