package validation

import (
	"math"
	"path"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

// validateVolumes checks names (unique DNS labels) and that each volume has
// exactly one valid source. It returns the volumes that passed, by name, for
// the mount checks: a mount of a broken volume is reported as not found,
// as in Kubernetes.
func validateVolumes(volumes []corev1.Volume, podName string, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	valid := make(map[string]corev1.VolumeSource, len(volumes))
	allNames := sets.New[string]()
	for i := range volumes {
		vol := &volumes[i]
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, vol.Name, podName, idxPath)
		if vol.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, ValidateDNS1123Label(vol.Name, namePath)...)
		}
		if allNames.Has(vol.Name) {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			allNames.Insert(vol.Name)
			valid[vol.Name] = vol.VolumeSource
		} else {
			allErrs = append(allErrs, el...)
		}
	}
	return valid, allErrs
}

// volumeSourceFields lists the VolumeSource members in declaration order with
// their JSON names; every member is a pointer to one kind of source.
var volumeSourceFields = func() []string {
	t := reflect.TypeOf(corev1.VolumeSource{})
	names := make([]string, t.NumField())
	for i := range names {
		names[i] = strings.Split(t.Field(i).Tag.Get("json"), ",")[0]
	}
	return names
}()

func validateVolumeSource(src *corev1.VolumeSource, volName, podName string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	// Count every set source by reflection so that a source type added to
	// k8s.io/api later still counts towards "exactly one".
	v := reflect.ValueOf(src).Elem()
	numVolumes := 0
	for i, name := range volumeSourceFields {
		if v.Field(i).IsNil() {
			continue
		}
		if numVolumes > 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(name), "may not specify more than 1 volume type"))
			continue
		}
		numVolumes++
		allErrs = append(allErrs, validateOneVolumeSource(src, name, volName, podName, fldPath.Child(name))...)
	}
	if numVolumes == 0 {
		allErrs = append(allErrs, field.Required(fldPath, "must specify a volume type"))
	}
	return allErrs
}

// validateOneVolumeSource validates the source types berth can run; the
// cloud and legacy in-tree types are only counted.
func validateOneVolumeSource(src *corev1.VolumeSource, name, volName, podName string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch name {
	case "hostPath":
		if src.HostPath.Path == "" {
			return field.ErrorList{field.Required(fldPath.Child("path"), "")}
		}
		allErrs = append(allErrs, validatePathNoBacksteps(src.HostPath.Path, fldPath.Child("path"))...)
		allErrs = append(allErrs, validateHostPathType(src.HostPath.Type, fldPath.Child("type"))...)
	case "emptyDir":
		if src.EmptyDir.SizeLimit != nil && src.EmptyDir.SizeLimit.Sign() < 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
		if m := src.EmptyDir.Medium; m != corev1.StorageMediumDefault && m != corev1.StorageMediumMemory &&
			m != corev1.StorageMediumHugePages && !strings.HasPrefix(string(m), string(corev1.StorageMediumHugePagesPrefix)) {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("medium"), m,
				[]corev1.StorageMedium{corev1.StorageMediumDefault, corev1.StorageMediumMemory, corev1.StorageMediumHugePages}))
		}
	case "secret":
		s := src.Secret
		if s.SecretName == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("secretName"), ""))
		}
		allErrs = append(allErrs, validateFileMode(s.DefaultMode, fldPath.Child("defaultMode"))...)
		allErrs = append(allErrs, validateKeyToPaths(s.Items, fldPath.Child("items"), nil, nil)...)
	case "configMap":
		c := src.ConfigMap
		if c.Name == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
		}
		allErrs = append(allErrs, validateFileMode(c.DefaultMode, fldPath.Child("defaultMode"))...)
		allErrs = append(allErrs, validateKeyToPaths(c.Items, fldPath.Child("items"), nil, nil)...)
	case "persistentVolumeClaim":
		if src.PersistentVolumeClaim.ClaimName == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("claimName"), ""))
		}
	case "downwardAPI":
		allErrs = append(allErrs, validateFileMode(src.DownwardAPI.DefaultMode, fldPath.Child("defaultMode"))...)
		for i := range src.DownwardAPI.Items {
			allErrs = append(allErrs, validateDownwardAPIVolumeFile(&src.DownwardAPI.Items[i], fldPath.Child("items").Index(i))...)
		}
	case "projected":
		allErrs = append(allErrs, validateFileMode(src.Projected.DefaultMode, fldPath.Child("defaultMode"))...)
		allErrs = append(allErrs, validateProjectedSources(src.Projected, fldPath)...)
	case "nfs":
		if src.NFS.Server == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
		}
		if !path.IsAbs(src.NFS.Path) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
	case "csi":
		allErrs = append(allErrs, validateCSIDriverName(src.CSI.Driver, fldPath.Child("driver"))...)
		if ref := src.CSI.NodePublishSecretRef; ref != nil {
			if ref.Name == "" {
				allErrs = append(allErrs, field.Required(fldPath.Child("nodePublishSecretRef", "name"), ""))
			} else {
				allErrs = append(allErrs, validateNameWith(ValidateSecretName, ref.Name, fldPath.Child("nodePublishSecretRef", "name"))...)
			}
		}
	case "ephemeral":
		if src.Ephemeral.VolumeClaimTemplate == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("volumeClaimTemplate"), ""))
		} else {
			tmpl := src.Ephemeral.VolumeClaimTemplate
			allErrs = append(allErrs, ValidateLabels(tmpl.Labels, fldPath.Child("volumeClaimTemplate", "metadata", "labels"))...)
			if podName != "" && volName != "" {
				pvcName := podName + "-" + volName
				for _, msg := range NameIsDNSSubdomain(pvcName, false) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), volName, "PVC name \""+pvcName+"\": "+msg))
				}
			}
		}
	case "image":
		if src.Image.Reference == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("reference"), "must be set"))
		}
		switch src.Image.PullPolicy {
		case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("pullPolicy"), src.Image.PullPolicy,
				[]corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}))
		}
	case "gitRepo":
		if src.GitRepo.Repository == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("repository"), ""))
		}
		allErrs = append(allErrs, validateLocalDescendingPath(src.GitRepo.Directory, fldPath.Child("directory"))...)
	}
	return allErrs
}

func validateHostPathType(t *corev1.HostPathType, fldPath *field.Path) field.ErrorList {
	if t == nil {
		return nil
	}
	valid := []corev1.HostPathType{corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
		corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev}
	for _, v := range valid {
		if *t == v {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(fldPath, *t, valid)}
}

func validateCSIDriverName(name string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if name == "" {
		allErrs = append(allErrs, field.Required(fldPath, ""))
	}
	if len(name) > 63 {
		allErrs = append(allErrs, field.TooLong(fldPath, "", 63))
	}
	return append(allErrs, ValidateDNS1123Subdomain(strings.ToLower(name), fldPath)...)
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0o777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

// validateKeyToPaths validates items of a secret or config map projection.
// When paths is not nil, file paths must also be unique across the sources
// sharing it, and conflict builds the error for a clash.
func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path, paths sets.Set[string], conflict func(string) *field.Error) field.ErrorList {
	var allErrs field.ErrorList
	for i, kp := range items {
		itemPath := fldPath.Index(i)
		if kp.Key == "" {
			allErrs = append(allErrs, field.Required(itemPath.Child("key"), ""))
		}
		if kp.Path == "" {
			allErrs = append(allErrs, field.Required(itemPath.Child("path"), ""))
		}
		allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, itemPath.Child("path"))...)
		allErrs = append(allErrs, validateFileMode(kp.Mode, itemPath.Child("mode"))...)
		if paths != nil && kp.Path != "" {
			if paths.Has(kp.Path) {
				allErrs = append(allErrs, conflict(kp.Path))
			}
			paths.Insert(kp.Path)
		}
	}
	return allErrs
}

func validateDownwardAPIVolumeFile(file *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if file.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(file.Path, fldPath.Child("path"))...)
	switch {
	case file.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(file.FieldRef, validVolumeDownwardAPIFieldPaths, fldPath.Child("fieldRef"))...)
		if file.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case file.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateContainerResourceFieldSelector(file.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		allErrs = append(allErrs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(allErrs, validateFileMode(file.Mode, fldPath.Child("mode"))...)
}

func validateProjectedSources(projection *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allPaths := sets.New[string]()
	conflictAt := func(value string) func(string) *field.Error {
		return func(string) *field.Error { return field.Invalid(fldPath, value, "conflicting duplicate paths") }
	}
	for i, source := range projection.Sources {
		numSources := 0
		srcPath := fldPath.Child("sources").Index(i)
		if s := source.Secret; s != nil {
			numSources++
			if s.Name == "" {
				allErrs = append(allErrs, field.Required(srcPath.Child("secret", "name"), ""))
			}
			allErrs = append(allErrs, validateKeyToPaths(s.Items, srcPath.Child("secret", "items"), allPaths, conflictAt(s.Name))...)
		}
		if c := source.ConfigMap; c != nil {
			numSources++
			if c.Name == "" {
				allErrs = append(allErrs, field.Required(srcPath.Child("configMap", "name"), ""))
			}
			allErrs = append(allErrs, validateKeyToPaths(c.Items, srcPath.Child("configMap", "items"), allPaths, conflictAt(c.Name))...)
		}
		if d := source.DownwardAPI; d != nil {
			numSources++
			for j := range d.Items {
				file := &d.Items[j]
				allErrs = append(allErrs, validateDownwardAPIVolumeFile(file, srcPath.Child("downwardAPI", "items").Index(j))...)
				if file.Path != "" {
					if allPaths.Has(file.Path) {
						allErrs = append(allErrs, field.Invalid(fldPath, file.Path, "conflicting duplicate paths"))
					}
					allPaths.Insert(file.Path)
				}
			}
		}
		if t := source.ServiceAccountToken; t != nil {
			numSources++
			tokenPath := srcPath.Child("serviceAccountToken")
			if t.ExpirationSeconds != nil {
				if *t.ExpirationSeconds < 10*60 {
					allErrs = append(allErrs, field.Invalid(tokenPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration less than 10 minutes"))
				}
				if *t.ExpirationSeconds > math.MaxUint32 {
					allErrs = append(allErrs, field.Invalid(tokenPath.Child("expirationSeconds"), *t.ExpirationSeconds, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if t.Path == "" {
				allErrs = append(allErrs, field.Required(tokenPath.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validateLocalNonReservedPath(t.Path, tokenPath.Child("path"))...)
				if allPaths.Has(t.Path) {
					allErrs = append(allErrs, field.Invalid(fldPath, t.Path, "conflicting duplicate paths"))
				}
				allPaths.Insert(t.Path)
			}
		}
		if source.ClusterTrustBundle != nil {
			numSources++
		}
		if source.PodCertificate != nil {
			numSources++
		}
		if numSources > 1 {
			allErrs = append(allErrs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}
