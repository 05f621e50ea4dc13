package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// attemptToDeleteItem looks at one object: an owner deleting in the foreground gets its
// blocking dependents deleted (and its finalizer removed when none is left); a dependent
// whose owners are all gone or waiting is deleted; references to gone owners are removed
// from a dependent that keeps another owner.
func (gc *GarbageCollector) attemptToDeleteItem(ctx context.Context, uid types.UID) error {
	// The informer's state is enough to decide on: a delete is conditional on its
	// resourceVersion, and the owners are read live.
	n, ok := gc.graph.get(uid)
	if !ok {
		return nil
	}
	if n.deleting {
		if !n.foreground {
			return nil // already going; nothing to propagate from here
		}
		return gc.processDeletingDependents(ctx, n)
	}
	if len(n.owners) == 0 {
		return nil
	}
	var c classified
	for _, ref := range n.owners {
		state, err := gc.ownerState(ctx, ref, n.ref.Namespace)
		if err != nil {
			return err
		}
		c.add(ref, state)
	}
	has, oneDeletingDependents := gc.graph.dependentsState(uid)
	var finalizers []string
	if n.orphan {
		finalizers = append(finalizers, finalizerOrphan)
	}
	if n.foreground {
		finalizers = append(finalizers, finalizerForeground)
	}
	d := decide(c, dependentFacts{finalizers: finalizers, hasDependents: has, dependentDeletingDependents: oneDeletingDependents})
	switch d.action {
	case actionRemoveOwnerRefs:
		gc.log.Debug("removing references to gone or waiting owners", "object", n.ref, "owners", d.removeUIDs)
		return gc.removeOwnerRefs(ctx, n.ref, d.removeUIDs)
	case actionDelete:
		rv, owners := n.resourceVersion, n.owners
		if d.unblockFirst {
			// Its dependent waits for it and it would wait for that dependent: let the
			// owners it blocks go first.
			var err error
			if rv, err = gc.unblockOwnerRefs(ctx, n.ref, n.owners); err != nil || rv == "" {
				return err
			}
			owners = unblocked(owners)
		}
		gc.log.Debug("deleting", "object", n.ref, "propagation", d.policy)
		return gc.delete(ctx, n.ref, rv, owners, d.policy)
	}
	return nil
}

// processDeletingDependents handles an owner deleted in the foreground: its finalizer
// goes when no blocking dependent is left; until then the blocking dependents are
// (re)considered for deletion. Their delete events bring the owner back here.
func (gc *GarbageCollector) processDeletingDependents(ctx context.Context, owner node) error {
	blocking := gc.graph.blockingDependents(owner.ref.UID)
	if len(blocking) == 0 {
		gc.log.Debug("no blocking dependents left, removing finalizer", "object", owner.ref, "finalizer", finalizerForeground)
		return gc.removeFinalizer(ctx, owner.ref, finalizerForeground)
	}
	for _, dep := range blocking {
		if !dep.deletingDependents() {
			gc.attemptToDelete.Add(dep.ref.UID)
		}
	}
	return nil
}

// ownerState reads the owner ref names, by uid, with a live GET.
func (gc *GarbageCollector) ownerState(ctx context.Context, ref metav1.OwnerReference, dependentNamespace string) (ownerState, error) {
	info, ok := gc.resources.resolve(ref.APIVersion, ref.Kind)
	if !ok {
		return 0, fmt.Errorf("owner %s %s/%s: kind not served", ref.APIVersion, ref.Kind, ref.Name)
	}
	ns := ""
	if info.namespaced {
		if dependentNamespace == "" {
			// A cluster-scoped object cannot be owned by a namespaced one: the
			// reference resolves to nothing, as in Kubernetes.
			return ownerGone, nil
		}
		ns = dependentNamespace
	}
	key := absentKey{uid: ref.UID, namespace: ns}
	if gc.absent.has(key) {
		return ownerGone, nil
	}
	owner, err := gc.metadata.Resource(info.resource).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		gc.absent.add(key)
		return ownerGone, nil
	case err != nil:
		return 0, err
	case owner.UID != ref.UID:
		gc.absent.add(key)
		return ownerGone, nil
	case owner.DeletionTimestamp != nil && slices.Contains(owner.Finalizers, finalizerForeground):
		return ownerDeletingDependents, nil
	}
	return ownerPresent, nil
}

// attemptToOrphanItem releases the dependents of an owner deleted with the orphan
// policy (removes the ownerReference to it from each), then removes its finalizer.
func (gc *GarbageCollector) attemptToOrphanItem(ctx context.Context, uid types.UID) error {
	n, ok := gc.graph.get(uid)
	if !ok {
		return nil
	}
	latest, err := gc.get(ctx, n.ref)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if latest.UID != uid || latest.DeletionTimestamp == nil || !slices.Contains(latest.Finalizers, finalizerOrphan) {
		return nil
	}
	dependents := gc.graph.dependentsOf(uid)
	gc.log.Debug("orphaning dependents", "object", n.ref, "dependents", len(dependents))
	if err := forEach(dependents, patchParallelism, func(dep node) error {
		return gc.removeOwnerRefs(ctx, dep.ref, []types.UID{uid})
	}); err != nil {
		return fmt.Errorf("orphan dependents of %s: %w", n.ref, err)
	}
	return gc.removeFinalizer(ctx, n.ref, finalizerOrphan)
}

func (gc *GarbageCollector) get(ctx context.Context, ref objectRef) (*metav1.PartialObjectMetadata, error) {
	return gc.metadata.Resource(ref.Resource).Namespace(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
}

// delete deletes ref unless it changed since rv was read. A conflict caused by a change
// that left its ownerReferences as owners (the decision's basis) is retried at the live
// resourceVersion: pods, for one, change status often.
func (gc *GarbageCollector) delete(ctx context.Context, ref objectRef, rv string, owners []metav1.OwnerReference, policy metav1.DeletionPropagation) error {
	client := gc.metadata.Resource(ref.Resource).Namespace(ref.Namespace)
	uid := ref.UID
	for attempt := 0; ; attempt++ {
		err := client.Delete(ctx, ref.Name, metav1.DeleteOptions{
			Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
			PropagationPolicy: &policy,
		})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) || attempt == conflictRetries {
			return err
		}
		live, getErr := client.Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(getErr) {
			return nil
		}
		if getErr != nil {
			return getErr
		}
		if live.UID != uid {
			return nil
		}
		if !apiequality.Semantic.DeepEqual(live.OwnerReferences, owners) {
			return err // decide again on the new owners
		}
		rv = live.ResourceVersion
	}
}

// Patches are strategic merge patches keyed by uid, so they need no resourceVersion and
// never undo a concurrent change; the object's own uid in the patch makes them fail on
// a namesake.

// removeOwnerRefs patches the references to owners out of ref.
func (gc *GarbageCollector) removeOwnerRefs(ctx context.Context, ref objectRef, owners []types.UID) error {
	refs := make([]map[string]any, 0, len(owners))
	for _, uid := range owners {
		refs = append(refs, map[string]any{"$patch": "delete", "uid": uid})
	}
	_, err := gc.patch(ctx, ref, map[string]any{"ownerReferences": refs})
	return err
}

// unblockOwnerRefs sets blockOwnerDeletion=false on every reference of ref and returns
// the new resourceVersion.
func (gc *GarbageCollector) unblockOwnerRefs(ctx context.Context, ref objectRef, owners []metav1.OwnerReference) (string, error) {
	refs := make([]map[string]any, 0, len(owners))
	for _, o := range owners {
		if o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
			refs = append(refs, map[string]any{"apiVersion": o.APIVersion, "kind": o.Kind, "name": o.Name, "uid": o.UID, "blockOwnerDeletion": false})
		}
	}
	return gc.patch(ctx, ref, map[string]any{"ownerReferences": refs})
}

// unblocked returns owners with every blockOwnerDeletion=true turned false.
func unblocked(owners []metav1.OwnerReference) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, len(owners))
	no := false
	for i, o := range owners {
		out[i] = o
		if o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
			out[i].BlockOwnerDeletion = &no
		}
	}
	return out
}

// removeFinalizer patches finalizer out of ref; with no finalizer left, the API server
// completes the deletion.
func (gc *GarbageCollector) removeFinalizer(ctx context.Context, ref objectRef, finalizer string) error {
	_, err := gc.patch(ctx, ref, map[string]any{"$deleteFromPrimitiveList/finalizers": []string{finalizer}})
	return err
}

// patch applies a strategic merge patch to ref's metadata and returns the new
// resourceVersion ("" when ref is gone).
func (gc *GarbageCollector) patch(ctx context.Context, ref objectRef, metadata map[string]any) (string, error) {
	metadata["uid"] = ref.UID
	body, err := json.Marshal(map[string]any{"metadata": metadata})
	if err != nil {
		return "", err
	}
	out, err := gc.metadata.Resource(ref.Resource).Namespace(ref.Namespace).Patch(ctx, ref.Name, types.StrategicMergePatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("patch %s: %w", ref, err)
	}
	return out.ResourceVersion, nil
}

// forEach runs fn over items with at most limit running at once and joins the errors.
func forEach[T any](items []T, limit int, fn func(T) error) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, limit)
	)
	for _, item := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(item); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
