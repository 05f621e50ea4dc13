package validation

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func replicasOrDefault(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// validateTemplateForController validates the pod template of a replicating
// controller: it must match the selector, restart always, and have no
// deadline. kind names the controller in the deadline message.
func validateTemplateForController(tmpl *corev1.PodTemplateSpec, selector labels.Selector, kind string, fldPath *field.Path) field.ErrorList {
	if tmpl == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var allErrs field.ErrorList
	if !selector.Empty() && !selector.Matches(labels.Set(tmpl.Labels)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`"))
	}
	allErrs = append(allErrs, ValidatePodTemplateSpec(tmpl, fldPath)...)
	if p := tmpl.Spec.RestartPolicy; p != "" && p != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("spec", "restartPolicy"), p, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if tmpl.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return allErrs
}

// validateWorkloadSelector validates a required, non-empty label selector
// and returns it parsed (nil when it cannot be parsed).
func validateWorkloadSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) (labels.Selector, field.ErrorList) {
	if sel == nil {
		return nil, field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := ValidateLabelSelector(sel, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, append(allErrs, field.Invalid(fldPath, sel, "invalid label selector"))
	}
	return selector, allErrs
}

// ValidateDeployment validates a deployment on create.
func ValidateDeployment(d *appsv1.Deployment) field.ErrorList {
	if errs := validateQuantitiesInRange(d); len(errs) > 0 {
		return errs
	}
	allErrs := ValidateObjectMeta(&d.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateDeploymentSpec(&d.Spec, field.NewPath("spec"))...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	allErrs := ValidateNonnegativeField(int64(replicasOrDefault(spec.Replicas)), fldPath.Child("replicas"))
	// Kubernetes says "deployment" for replica sets too; keep its words.
	selector, errs := validateWorkloadSelector(spec.Selector, "deployment", fldPath.Child("selector"))
	allErrs = append(allErrs, errs...)
	if selector != nil {
		allErrs = append(allErrs, validateTemplateForController(&spec.Template, selector, "ReplicaSet", fldPath.Child("template"))...)
	}
	allErrs = append(allErrs, validateDeploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	allErrs = append(allErrs, ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		allErrs = append(allErrs, ValidateNonnegativeField(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	if pds := spec.ProgressDeadlineSeconds; pds != nil {
		allErrs = append(allErrs, ValidateNonnegativeField(int64(*pds), fldPath.Child("progressDeadlineSeconds"))...)
		if *pds <= spec.MinReadySeconds {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), *pds, "must be greater than minReadySeconds"))
		}
	}
	return allErrs
}

func validateDeploymentStrategy(strategy *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if strategy.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"),
				fmt.Sprintf("may not be specified when strategy `type` is '%s'", appsv1.RecreateDeploymentStrategyType))}
		}
	case "", appsv1.RollingUpdateDeploymentStrategyType:
		// A missing rollingUpdate is defaulted to 25%/25%.
		if strategy.RollingUpdate != nil {
			return validateRollingUpdateDeployment(strategy.RollingUpdate, fldPath.Child("rollingUpdate"))
		}
	default:
		return field.ErrorList{field.NotSupported(fldPath.Child("type"), strategy.Type,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType})}
	}
	return nil
}

func validateRollingUpdateDeployment(ru *appsv1.RollingUpdateDeployment, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	unavailablePath, surgePath := fldPath.Child("maxUnavailable"), fldPath.Child("maxSurge")
	if ru.MaxUnavailable != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxUnavailable, unavailablePath)...)
		if v, isPercent := percentValue(*ru.MaxUnavailable); isPercent && v > 100 {
			allErrs = append(allErrs, field.Invalid(unavailablePath, *ru.MaxUnavailable, "must not be greater than 100%"))
		}
	}
	if ru.MaxSurge != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxSurge, surgePath)...)
	}
	// Unset values default to 25%, so only explicit zeros can stall a rollout.
	if ru.MaxUnavailable != nil && ru.MaxSurge != nil && intOrPercentValue(*ru.MaxUnavailable) == 0 && intOrPercentValue(*ru.MaxSurge) == 0 {
		allErrs = append(allErrs, field.Invalid(unavailablePath, *ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
	}
	return allErrs
}

func validatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		return messagesToErrors(validation.IsValidPercent(v.StrVal), fldPath, v)
	case intstr.Int:
		return ValidateNonnegativeField(int64(v.IntValue()), fldPath)
	default:
		return field.ErrorList{field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')")}
	}
}

func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	return n, err == nil
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, isPercent := percentValue(v); isPercent {
		return n
	}
	if v.Type == intstr.Int {
		return v.IntValue()
	}
	return -1 // invalid, reported elsewhere
}

// ValidateDeploymentUpdate validates a deployment update through apps/v1:
// the selector is immutable.
func ValidateDeploymentUpdate(d, oldD *appsv1.Deployment) field.ErrorList {
	if errs := validateQuantitiesInRange(d); len(errs) > 0 {
		return errs
	}
	allErrs := validateMetaUpdate(&d.ObjectMeta, &oldD.ObjectMeta)
	allErrs = append(allErrs, validateDeploymentSpec(&d.Spec, field.NewPath("spec"))...)
	return append(allErrs, ValidateImmutableField(d.Spec.Selector, oldD.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// ValidateDeploymentStatusUpdate validates an update of a deployment status.
func ValidateDeploymentStatusUpdate(d, oldD *appsv1.Deployment) field.ErrorList {
	allErrs := validateMetaUpdate(&d.ObjectMeta, &oldD.ObjectMeta)
	p := field.NewPath("status")
	s := d.Status
	allErrs = append(allErrs, nonNegativeCounts(p, map[string]int32{
		"replicas": s.Replicas, "updatedReplicas": s.UpdatedReplicas, "readyReplicas": s.ReadyReplicas,
		"availableReplicas": s.AvailableReplicas, "unavailableReplicas": s.UnavailableReplicas,
	})...)
	allErrs = append(allErrs, ValidateNonnegativeField(s.ObservedGeneration, p.Child("observedGeneration"))...)
	const msg = "cannot be greater than status.replicas"
	if s.UpdatedReplicas > s.Replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("updatedReplicas"), s.UpdatedReplicas, msg))
	}
	if s.ReadyReplicas > s.Replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, msg))
	}
	if s.AvailableReplicas > s.Replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, msg))
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return append(allErrs, validateCollisionCount(s.CollisionCount, oldD.Status.CollisionCount, p.Child("collisionCount"))...)
}

func validateCollisionCount(n, old *int32, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if n != nil {
		allErrs = append(allErrs, ValidateNonnegativeField(int64(*n), fldPath)...)
	}
	if (n == nil && old != nil) || (n != nil && old != nil && *n < *old) {
		var v int32
		if n != nil {
			v = *n
		}
		allErrs = append(allErrs, field.Invalid(fldPath, v, "cannot be decremented"))
	}
	return allErrs
}

func nonNegativeCounts(p *field.Path, counts map[string]int32) field.ErrorList {
	var allErrs field.ErrorList
	for _, name := range sortedKeys(counts) {
		allErrs = append(allErrs, ValidateNonnegativeField(int64(counts[name]), p.Child(name))...)
	}
	return allErrs
}

// ValidateReplicaSet validates a replica set on create.
func ValidateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	if errs := validateQuantitiesInRange(rs); len(errs) > 0 {
		return errs
	}
	allErrs := ValidateObjectMeta(&rs.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := ValidateNonnegativeField(int64(replicasOrDefault(spec.Replicas)), fldPath.Child("replicas"))
	allErrs = append(allErrs, ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	selector, errs := validateWorkloadSelector(spec.Selector, "deployment", fldPath.Child("selector"))
	allErrs = append(allErrs, errs...)
	if selector != nil {
		allErrs = append(allErrs, validateTemplateForController(&spec.Template, selector, "ReplicaSet", fldPath.Child("template"))...)
	}
	return allErrs
}

// ValidateReplicaSetUpdate validates a replica set update through apps/v1:
// the selector is immutable.
func ValidateReplicaSetUpdate(rs, oldRs *appsv1.ReplicaSet) field.ErrorList {
	if errs := validateQuantitiesInRange(rs); len(errs) > 0 {
		return errs
	}
	allErrs := validateMetaUpdate(&rs.ObjectMeta, &oldRs.ObjectMeta)
	allErrs = append(allErrs, validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
	return append(allErrs, ValidateImmutableField(rs.Spec.Selector, oldRs.Spec.Selector, field.NewPath("spec", "selector"))...)
}

// ValidateReplicaSetStatusUpdate validates an update of a replica set status.
func ValidateReplicaSetStatusUpdate(rs, oldRs *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateMetaUpdate(&rs.ObjectMeta, &oldRs.ObjectMeta)
	s := rs.Status
	return append(allErrs, validateReplicaCounts(s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration)...)
}

func validateReplicaCounts(replicas, fullyLabeled, ready, available int32, observedGeneration int64) field.ErrorList {
	p := field.NewPath("status")
	allErrs := nonNegativeCounts(p, map[string]int32{
		"replicas": replicas, "fullyLabeledReplicas": fullyLabeled, "readyReplicas": ready, "availableReplicas": available,
	})
	allErrs = append(allErrs, ValidateNonnegativeField(observedGeneration, p.Child("observedGeneration"))...)
	const msg = "cannot be greater than status.replicas"
	if fullyLabeled > replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("fullyLabeledReplicas"), fullyLabeled, msg))
	}
	if ready > replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("readyReplicas"), ready, msg))
	}
	if available > replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), available, msg))
	}
	if available > ready {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), available, "cannot be greater than readyReplicas"))
	}
	return allErrs
}

// ValidateReplicationController validates a replication controller on create.
func ValidateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	if errs := validateQuantitiesInRange(rc); len(errs) > 0 {
		return errs
	}
	allErrs := ValidateObjectMeta(&rc.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateReplicationControllerSpec(&rc.Spec, field.NewPath("spec"))...)
}

func validateReplicationControllerSpec(spec *corev1.ReplicationControllerSpec, fldPath *field.Path) field.ErrorList {
	allErrs := ValidateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))
	selector := labels.Set(spec.Selector).AsSelector()
	if selector.Empty() {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	}
	allErrs = append(allErrs, ValidateLabels(spec.Selector, fldPath.Child("selector"))...)
	allErrs = append(allErrs, ValidateNonnegativeField(int64(replicasOrDefault(spec.Replicas)), fldPath.Child("replicas"))...)
	return append(allErrs, validateTemplateForController(spec.Template, selector, "ReplicationController", fldPath.Child("template"))...)
}

// ValidateReplicationControllerUpdate validates a replication controller
// update (its selector may change, as in Kubernetes).
func ValidateReplicationControllerUpdate(rc, oldRc *corev1.ReplicationController) field.ErrorList {
	if errs := validateQuantitiesInRange(rc); len(errs) > 0 {
		return errs
	}
	allErrs := validateMetaUpdate(&rc.ObjectMeta, &oldRc.ObjectMeta)
	return append(allErrs, validateReplicationControllerSpec(&rc.Spec, field.NewPath("spec"))...)
}

// ValidateReplicationControllerStatusUpdate validates a status update.
func ValidateReplicationControllerStatusUpdate(rc, oldRc *corev1.ReplicationController) field.ErrorList {
	allErrs := validateMetaUpdate(&rc.ObjectMeta, &oldRc.ObjectMeta)
	s := rc.Status
	return append(allErrs, validateReplicaCounts(s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration)...)
}

// ValidateScale validates an autoscaling/v1 Scale sent to a scale
// subresource.
func ValidateScale(scale *autoscalingv1.Scale) field.ErrorList {
	allErrs := ValidateObjectMeta(&scale.ObjectMeta, true, NameIsDNSSubdomain, field.NewPath("metadata"))
	if scale.Spec.Replicas < 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, isNegativeErrorMsg))
	}
	return allErrs
}
