package validation

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Pod annotations with meaning to the API server.
const (
	MirrorPodAnnotationKey    = "kubernetes.io/config.mirror"
	PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"
	seccompPodAnnotationKey   = "seccomp.security.alpha.kubernetes.io/pod"
	seccompContainerPrefix    = "container.seccomp.security.alpha.kubernetes.io/"
)

func validateAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateAnnotations(annotations, fldPath)
}

// ValidatePod validates a pod on create.
func ValidatePod(pod *corev1.Pod) field.ErrorList {
	if errs := validateQuantitiesInRange(pod); len(errs) > 0 {
		return errs
	}
	allErrs := validatePodMetadataAndSpec(pod)
	specPath := field.NewPath("spec")
	if len(pod.Spec.EphemeralContainers) > 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	if pod.Spec.NodeName != "" && len(pod.Spec.SchedulingGates) != 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return allErrs
}

// validatePodMetadataAndSpec holds what create and update check alike.
func validatePodMetadataAndSpec(pod *corev1.Pod) field.ErrorList {
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	allErrs := ValidateObjectMeta(&pod.ObjectMeta, true, ValidatePodName, metaPath)
	allErrs = append(allErrs, validatePodSpecificAnnotations(pod.Annotations, &pod.Spec, metaPath.Child("annotations"))...)
	allErrs = append(allErrs, validatePodSpec(&pod.Spec, specOptions{podName: pod.Name, isPod: true}, specPath)...)
	if pod.Spec.ServiceAccountName == "" {
		for vi, vol := range pod.Spec.Volumes {
			if vol.Projected == nil {
				continue
			}
			for si, src := range vol.Projected.Sources {
				if src.ServiceAccountToken != nil {
					allErrs = append(allErrs, field.Forbidden(specPath.Child("volumes").Index(vi).Child("projected", "sources").Index(si).Child("serviceAccountToken"),
						"must not be specified when serviceAccountName is not set"))
				}
			}
		}
	}
	for i := range pod.Spec.Containers {
		allErrs = append(allErrs, validateContainerOnlyForPod(&pod.Spec.Containers[i], specPath.Child("containers").Index(i))...)
	}
	for i := range pod.Spec.InitContainers {
		allErrs = append(allErrs, validateContainerOnlyForPod(&pod.Spec.InitContainers[i], specPath.Child("initContainers").Index(i))...)
	}
	return allErrs
}

func validatePodSpecificAnnotations(annotations map[string]string, spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if value, isMirror := annotations[MirrorPodAnnotationKey]; isMirror && spec.NodeName == "" {
		allErrs = append(allErrs, field.Invalid(fldPath.Key(MirrorPodAnnotationKey), value, "must set spec.nodeName if mirror pod annotation is set"))
	}
	if value, ok := annotations[PodDeletionCostAnnotation]; ok {
		if _, err := strconv.ParseInt(value, 10, 32); err != nil {
			allErrs = append(allErrs, field.Invalid(fldPath.Key(PodDeletionCostAnnotation), value, "must be a 32bit integer"))
		}
	}
	for _, k := range sortedKeys(annotations) {
		if k == seccompPodAnnotationKey || strings.HasPrefix(k, seccompContainerPrefix) {
			allErrs = append(allErrs, validateSeccompAnnotation(annotations[k], fldPath.Child(k))...)
		}
	}
	return allErrs
}

func validateSeccompAnnotation(p string, fldPath *field.Path) field.ErrorList {
	switch {
	case p == "runtime/default" || p == "docker/default" || p == "unconfined":
		return nil
	case strings.HasPrefix(p, "localhost/"):
		return validateLocalDescendingPath(strings.TrimPrefix(p, "localhost/"), fldPath)
	}
	return field.ErrorList{field.Invalid(fldPath, p, "must be a valid seccomp profile")}
}

func validatePodSpecificAnnotationUpdates(newPod, oldPod *corev1.Pod, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	oldValue, oldMirror := oldPod.Annotations[MirrorPodAnnotationKey]
	newValue, newMirror := newPod.Annotations[MirrorPodAnnotationKey]
	switch {
	case oldMirror && (!newMirror || newValue != oldValue):
		allErrs = append(allErrs, field.Forbidden(fldPath.Key(MirrorPodAnnotationKey), "may not remove or update mirror pod annotation"))
	case !oldMirror && newMirror:
		allErrs = append(allErrs, field.Forbidden(fldPath.Key(MirrorPodAnnotationKey), "may not add mirror pod annotation"))
	}
	return allErrs
}

var updatablePodSpecFields = []string{
	"`spec.containers[*].image`",
	"`spec.initContainers[*].image`",
	"`spec.activeDeadlineSeconds`",
	"`spec.tolerations` (only additions to existing tolerations)",
	"`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
}

// ValidatePodUpdate validates an update of a pod by a user. The spec is
// immutable except for container images, activeDeadlineSeconds (may only
// shrink), added tolerations (and tolerationSeconds of existing ones), and
// removed scheduling gates.
func ValidatePodUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	if errs := validateQuantitiesInRange(newPod); len(errs) > 0 {
		return errs
	}
	metaPath, specPath := field.NewPath("metadata"), field.NewPath("spec")
	allErrs := ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, metaPath)
	allErrs = append(allErrs, validatePodMetadataAndSpec(newPod)...)
	allErrs = append(allErrs, validatePodSpecificAnnotationUpdates(newPod, oldPod, metaPath.Child("annotations"))...)

	if len(newPod.Spec.Containers) != len(oldPod.Spec.Containers) {
		return append(allErrs, field.Forbidden(specPath.Child("containers"), "pod updates may not add or remove containers"))
	}
	if len(newPod.Spec.InitContainers) != len(oldPod.Spec.InitContainers) {
		return append(allErrs, field.Forbidden(specPath.Child("initContainers"), "pod updates may not add or remove containers"))
	}

	if newADS := newPod.Spec.ActiveDeadlineSeconds; newADS != nil {
		if *newADS < 0 || *newADS > math.MaxInt32 {
			return append(allErrs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *newADS, validation.InclusiveRangeError(0, math.MaxInt32)))
		}
		if oldADS := oldPod.Spec.ActiveDeadlineSeconds; oldADS != nil && *oldADS < *newADS {
			return append(allErrs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *newADS, "must be less than or equal to previous value"))
		}
	} else if oldPod.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Invalid(specPath.Child("activeDeadlineSeconds"), newPod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	allErrs = append(allErrs, validateOnlyAddedTolerations(newPod.Spec.Tolerations, oldPod.Spec.Tolerations, specPath.Child("tolerations"))...)
	allErrs = append(allErrs, validateOnlyDeletedSchedulingGates(newPod.Spec.SchedulingGates, oldPod.Spec.SchedulingGates, specPath.Child("schedulingGates"))...)

	if apiequality.Semantic.DeepEqual(newPod.Spec, oldPod.Spec) {
		return allErrs
	}
	// Put the updatable fields back to their old values; whatever still
	// differs may not change.
	munged := *newPod.Spec.DeepCopy()
	for i := range munged.Containers {
		munged.Containers[i].Image = oldPod.Spec.Containers[i].Image
	}
	for i := range munged.InitContainers {
		munged.InitContainers[i].Image = oldPod.Spec.InitContainers[i].Image
	}
	munged.ActiveDeadlineSeconds = oldPod.Spec.ActiveDeadlineSeconds
	munged.SchedulingGates = oldPod.Spec.SchedulingGates
	munged.Tolerations = oldPod.Spec.Tolerations
	if old := oldPod.Spec.TerminationGracePeriodSeconds; old != nil && *old < 0 &&
		munged.TerminationGracePeriodSeconds != nil && *munged.TerminationGracePeriodSeconds == 1 {
		munged.TerminationGracePeriodSeconds = old
	}
	if !apiequality.Semantic.DeepEqual(munged, oldPod.Spec) {
		allErrs = append(allErrs, field.Forbidden(specPath, fmt.Sprintf("pod updates may not change fields other than %s\n%s",
			strings.Join(updatablePodSpecFields, ","), describeSpecDiff(&oldPod.Spec, &munged))))
	}
	return allErrs
}

// describeSpecDiff names the top-level pod spec fields that differ, so the
// user learns what the update tried to change.
func describeSpecDiff(oldSpec, newSpec *corev1.PodSpec) string {
	var changed []string
	ov, nv := reflect.ValueOf(oldSpec).Elem(), reflect.ValueOf(newSpec).Elem()
	t := ov.Type()
	for i := 0; i < t.NumField(); i++ {
		if !apiequality.Semantic.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			changed = append(changed, "spec."+strings.Split(t.Field(i).Tag.Get("json"), ",")[0])
		}
	}
	return "changed: " + strings.Join(changed, ", ")
}

// validateOnlyAddedTolerations: existing tolerations may not change, except
// for their tolerationSeconds.
func validateOnlyAddedTolerations(newTolerations, oldTolerations []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	for _, old := range oldTolerations {
		found := false
		for _, n := range newTolerations {
			candidate := old
			candidate.TolerationSeconds = n.TolerationSeconds
			if reflect.DeepEqual(candidate, n) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return ValidateTolerations(newTolerations, fldPath)
}

func validateOnlyDeletedSchedulingGates(newGates, oldGates []corev1.PodSchedulingGate, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	old := sets.New[string]()
	for _, g := range oldGates {
		old.Insert(g.Name)
	}
	for i, g := range newGates {
		if !old.Has(g.Name) {
			allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("name"), fmt.Sprintf("only deletion is allowed, but found new scheduling gate '%s'", g.Name)))
		}
	}
	return allErrs
}

// ValidatePodStatusUpdate validates an update of the status subresource.
func ValidatePodStatusUpdate(newPod, oldPod *corev1.Pod) field.ErrorList {
	if errs := validateQuantitiesInRange(newPod); len(errs) > 0 {
		return errs
	}
	metaPath, statusPath := field.NewPath("metadata"), field.NewPath("status")
	allErrs := ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta, metaPath)
	allErrs = append(allErrs, validatePodSpecificAnnotationUpdates(newPod, oldPod, metaPath.Child("annotations"))...)
	system := sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized)
	for i, c := range newPod.Status.Conditions {
		if !system.Has(c.Type) {
			allErrs = append(allErrs, ValidateQualifiedName(string(c.Type), statusPath.Child("conditions").Index(i).Child("type"))...)
		}
	}
	if newPod.Spec.NodeName != oldPod.Spec.NodeName {
		allErrs = append(allErrs, field.Forbidden(statusPath.Child("nodeName"), "may not be changed directly"))
	}
	if n := newPod.Status.NominatedNodeName; n != oldPod.Status.NominatedNodeName && n != "" {
		allErrs = append(allErrs, validateNameWith(ValidateNodeName, n, statusPath.Child("nominatedNodeName"))...)
	}
	allErrs = append(allErrs, ValidateImmutableField(newPod.Status.QOSClass, oldPod.Status.QOSClass, statusPath.Child("qosClass"))...)
	allErrs = append(allErrs, validateContainerStateTransition(newPod.Status.ContainerStatuses, oldPod.Status.ContainerStatuses,
		oldPod.Spec.RestartPolicy, nil, statusPath.Child("containerStatuses"))...)
	allErrs = append(allErrs, validateContainerStateTransition(newPod.Status.InitContainerStatuses, oldPod.Status.InitContainerStatuses,
		oldPod.Spec.RestartPolicy, oldPod.Spec.InitContainers, statusPath.Child("initContainerStatuses"))...)
	// Ephemeral containers never restart.
	allErrs = append(allErrs, validateContainerStateTransition(newPod.Status.EphemeralContainerStatuses, oldPod.Status.EphemeralContainerStatuses,
		corev1.RestartPolicyNever, nil, statusPath.Child("ephemeralContainerStatuses"))...)
	allErrs = append(allErrs, validateStatusIPs(newPod.Status.PodIPs, statusPath.Child("podIPs"))...)
	if len(newPod.Status.HostIPs) > 0 {
		if newPod.Status.HostIP != newPod.Status.HostIPs[0].IP {
			allErrs = append(allErrs, field.Invalid(statusPath.Child("hostIPs").Index(0).Child("ip"), newPod.Status.HostIPs[0].IP, "must be equal to `hostIP`"))
		}
		ips := make([]corev1.PodIP, len(newPod.Status.HostIPs))
		for i, h := range newPod.Status.HostIPs {
			ips[i] = corev1.PodIP(h)
		}
		allErrs = append(allErrs, validateStatusIPs(ips, statusPath.Child("hostIPs"))...)
	}
	return allErrs
}

// validateContainerStateTransition forbids bringing a terminated container
// back unless the restart policy allows it.
func validateContainerStateTransition(newStatuses, oldStatuses []corev1.ContainerStatus, policy corev1.RestartPolicy,
	initContainers []corev1.Container, fldPath *field.Path) field.ErrorList {
	if policy == corev1.RestartPolicyAlways {
		return nil
	}
	restartable := sets.New[string]()
	for _, c := range initContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			restartable.Insert(c.Name)
		}
	}
	var allErrs field.ErrorList
	for i, old := range oldStatuses {
		if old.State.Terminated == nil || restartable.Has(old.Name) {
			continue
		}
		if old.State.Terminated.ExitCode != 0 && policy == corev1.RestartPolicyOnFailure {
			continue
		}
		for _, n := range newStatuses {
			if n.Name == old.Name && n.State.Terminated == nil {
				allErrs = append(allErrs, field.Forbidden(fldPath.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return allErrs
}

// validateStatusIPs: valid, unique, at most one per IP family.
func validateStatusIPs(ips []corev1.PodIP, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, ip := range ips {
		allErrs = append(allErrs, validation.IsValidIP(fldPath.Index(i), ip.IP)...)
	}
	if len(allErrs) > 0 || len(ips) < 2 {
		return allErrs
	}
	strs := make([]string, len(ips))
	for i, ip := range ips {
		strs[i] = ip.IP
	}
	if len(ips) > 2 || !isDualStack(strs) {
		allErrs = append(allErrs, field.Invalid(fldPath, ips, "may specify no more than one IP for each IP family"))
	}
	seen := sets.New[string]()
	for i, ip := range ips {
		if seen.Has(ip.IP) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Index(i), ip))
		}
		seen.Insert(ip.IP)
	}
	return allErrs
}

// ValidateBinding validates a pods/binding request: the target must be a
// node, named.
func ValidateBinding(b *corev1.Binding) field.ErrorList {
	var allErrs field.ErrorList
	if b.Name != "" {
		allErrs = append(allErrs, validateNameWith(NameIsPathSegment, b.Name, field.NewPath("metadata", "name"))...)
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("target", "name"), ""))
	} else {
		allErrs = append(allErrs, validateNameWith(ValidateNodeName, b.Target.Name, field.NewPath("target", "name"))...)
	}
	return allErrs
}
