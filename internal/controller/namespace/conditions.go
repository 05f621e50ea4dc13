package namespace

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// conditionTypes are the namespace conditions this controller owns, as in Kubernetes.
var conditionTypes = []corev1.NamespaceConditionType{
	corev1.NamespaceDeletionDiscoveryFailure,
	corev1.NamespaceDeletionGVParsingFailure,
	corev1.NamespaceDeletionContentFailure,
	corev1.NamespaceContentRemaining,
	corev1.NamespaceFinalizersRemaining,
}

// okConditions are the reason and message Kubernetes gives each condition when all is well.
var okConditions = map[corev1.NamespaceConditionType][2]string{
	corev1.NamespaceDeletionDiscoveryFailure: {"ResourcesDiscovered", "All resources successfully discovered"},
	corev1.NamespaceDeletionGVParsingFailure: {"ParsedGroupVersions", "All legacy kube types successfully parsed"},
	corev1.NamespaceDeletionContentFailure:   {"ContentDeleted", "All content successfully deleted, may be waiting on finalization"},
	corev1.NamespaceContentRemaining:         {"ContentRemoved", "All content successfully removed"},
	corev1.NamespaceFinalizersRemaining:      {"ContentRemoved", "All content successfully removed"},
}

// contentResult is what one pass over a terminating namespace found.
type contentResult struct {
	discoveryErr error
	deleteErrs   []error
	// remaining counts the objects left per resource.
	remaining map[schema.GroupVersionResource]int
	// finalizers counts the objects left per finalizer they wait for.
	finalizers map[string]int
}

func (r contentResult) remainingObjects() int {
	total := 0
	for _, n := range r.remaining {
		total += n
	}
	return total
}

// failedConditions returns the conditions that report a problem; every other owned
// condition is in its ok state.
func (r contentResult) failedConditions() map[corev1.NamespaceConditionType]corev1.NamespaceCondition {
	out := map[corev1.NamespaceConditionType]corev1.NamespaceCondition{}
	add := func(t corev1.NamespaceConditionType, reason, msg string) {
		out[t] = corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg}
	}
	if r.discoveryErr != nil {
		add(corev1.NamespaceDeletionDiscoveryFailure, "DiscoveryFailed", r.discoveryErr.Error())
	}
	if len(r.deleteErrs) > 0 {
		msgs := make([]string, 0, len(r.deleteErrs))
		for _, err := range r.deleteErrs {
			msgs = append(msgs, err.Error())
		}
		sort.Strings(msgs)
		add(corev1.NamespaceDeletionContentFailure, "ContentDeletionFailed",
			fmt.Sprintf("Failed to delete all resource types, %d remaining: %v", len(msgs), strings.Join(msgs, ", ")))
	}
	var resources []string
	for gvr, n := range r.remaining {
		if n > 0 {
			resources = append(resources, fmt.Sprintf("%s.%s has %d resource instances", gvr.Resource, gvr.Group, n))
		}
	}
	if len(resources) > 0 {
		sort.Strings(resources)
		add(corev1.NamespaceContentRemaining, "SomeResourcesRemain", "Some resources are remaining: "+strings.Join(resources, ", "))
	}
	var finalizers []string
	for f, n := range r.finalizers {
		if n > 0 {
			finalizers = append(finalizers, fmt.Sprintf("%s in %d resource instances", f, n))
		}
	}
	if len(finalizers) > 0 {
		sort.Strings(finalizers)
		add(corev1.NamespaceFinalizersRemaining, "SomeFinalizerRemain", "Some finalizers are remaining: "+strings.Join(finalizers, ", "))
	}
	return out
}

// applyConditions sets the owned conditions of status from failed (the others to their
// ok state) and says whether anything changed. A namespace that never had a problem gets
// no conditions at all: the common, quick deletion costs no status write.
func applyConditions(status *corev1.NamespaceStatus, failed map[corev1.NamespaceConditionType]corev1.NamespaceCondition, now metav1.Time) bool {
	if len(failed) == 0 && !hasOwnedConditions(status) {
		return false
	}
	changed := false
	for _, t := range conditionTypes {
		want, bad := failed[t]
		if !bad {
			ok := okConditions[t]
			want = corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: ok[0], Message: ok[1]}
		}
		cur := findCondition(status, t)
		if cur == nil {
			want.LastTransitionTime = now
			status.Conditions = append(status.Conditions, want)
			changed = true
			continue
		}
		if cur.Status == want.Status && cur.Reason == want.Reason && cur.Message == want.Message {
			continue
		}
		if cur.Status != want.Status {
			cur.LastTransitionTime = now
		}
		cur.Status, cur.Reason, cur.Message = want.Status, want.Reason, want.Message
		changed = true
	}
	return changed
}

func hasOwnedConditions(status *corev1.NamespaceStatus) bool {
	for _, t := range conditionTypes {
		if findCondition(status, t) != nil {
			return true
		}
	}
	return false
}

func findCondition(status *corev1.NamespaceStatus, t corev1.NamespaceConditionType) *corev1.NamespaceCondition {
	for i := range status.Conditions {
		if status.Conditions[i].Type == t {
			return &status.Conditions[i]
		}
	}
	return nil
}
