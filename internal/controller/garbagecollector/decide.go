package garbagecollector

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownerState is what a live GET found for the owner an ownerReference names.
type ownerState int

const (
	// ownerPresent: the owner exists with the referenced uid and does not wait.
	ownerPresent ownerState = iota
	// ownerGone: no object, or one with the same name and another uid.
	ownerGone
	// ownerDeletingDependents: the owner is being deleted in the foreground.
	ownerDeletingDependents
)

// classified sorts a dependent's ownerReferences by the state of their owners.
type classified struct {
	// solid references keep the dependent alive.
	solid []metav1.OwnerReference
	// dangling references name owners that are gone.
	dangling []metav1.OwnerReference
	// waiting references block an owner that deletes its dependents in the foreground.
	waiting []metav1.OwnerReference
}

// classify puts ref into the class its owner's state gives it. A non-blocking reference
// to an owner deleting in the foreground stays solid: such dependents go after the owner.
func (c *classified) add(ref metav1.OwnerReference, state ownerState) {
	switch {
	case state == ownerGone:
		c.dangling = append(c.dangling, ref)
	case state == ownerDeletingDependents && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion:
		c.waiting = append(c.waiting, ref)
	default:
		c.solid = append(c.solid, ref)
	}
}

type action int

const (
	actionNone action = iota
	// actionRemoveOwnerRefs patches the references in removeUIDs out of the dependent.
	actionRemoveOwnerRefs
	// actionDelete deletes the dependent with policy; unblockFirst clears its
	// blockOwnerDeletion flags before (breaking a foreground cycle).
	actionDelete
)

// decision is what to do with one dependent.
type decision struct {
	action       action
	removeUIDs   []types.UID
	policy       metav1.DeletionPropagation
	unblockFirst bool
}

// dependentFacts is what the graph knows of a dependent's own dependents.
type dependentFacts struct {
	finalizers []string
	// hasDependents: the item owns observed objects.
	hasDependents bool
	// dependentDeletingDependents: one of them deletes in the foreground itself.
	dependentDeletingDependents bool
}

// decide says what to do with a dependent whose references were classified:
//   - any solid owner keeps it; references to gone or waiting owners are removed so
//     those owners do not wait for it;
//   - waiting owners with no solid one: it goes in the foreground when it has dependents
//     itself (so the wait propagates down), else at once;
//   - only gone owners: it goes, honouring a propagation finalizer it already has,
//     Background otherwise.
func decide(c classified, facts dependentFacts) decision {
	switch {
	case len(c.solid) > 0:
		if len(c.dangling) == 0 && len(c.waiting) == 0 {
			return decision{action: actionNone}
		}
		var uids []types.UID
		for _, ref := range append(slices.Clone(c.dangling), c.waiting...) {
			uids = append(uids, ref.UID)
		}
		return decision{action: actionRemoveOwnerRefs, removeUIDs: uids}
	case len(c.waiting) > 0 && facts.hasDependents:
		return decision{action: actionDelete, policy: metav1.DeletePropagationForeground, unblockFirst: facts.dependentDeletingDependents}
	case len(c.waiting) > 0 || len(c.dangling) > 0:
		policy := metav1.DeletePropagationBackground
		switch {
		case slices.Contains(facts.finalizers, finalizerOrphan):
			policy = metav1.DeletePropagationOrphan
		case slices.Contains(facts.finalizers, finalizerForeground):
			policy = metav1.DeletePropagationForeground
		}
		return decision{action: actionDelete, policy: policy}
	default:
		return decision{action: actionNone}
	}
}
