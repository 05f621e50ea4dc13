package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Claimer decides which objects (pods of a ReplicaSet, ReplicaSets of a Deployment) a
// controller owns: it keeps what it controls and still selects, adopts matching orphans and
// releases what it controls but no longer selects. Ownership changes are strategic merge
// patches carrying the child's UID, so a child deleted and recreated under the same name
// is never adopted or released by mistake.
type Claimer struct {
	Owner    metav1.Object
	OwnerGVK schema.GroupVersionKind
	Selector labels.Selector
	// CanAdopt is called once, before the first adoption: it re-reads the owner from the
	// API and fails when the owner is gone or being deleted (the cache may be stale).
	CanAdopt func(ctx context.Context) error
	// Patch applies a strategic merge patch to the named child.
	Patch func(ctx context.Context, namespace, name string, patch []byte) error

	once      sync.Once
	adoptable error
}

// Claim returns the objects the owner controls after adopting and releasing.
func Claim[T metav1.Object](ctx context.Context, c *Claimer, objs []T) ([]T, error) {
	var claimed []T
	var errs []error
	for _, obj := range objs {
		ok, err := c.claim(ctx, obj)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			claimed = append(claimed, obj)
		}
	}
	return claimed, errors.Join(errs...)
}

func (c *Claimer) claim(ctx context.Context, obj metav1.Object) (bool, error) {
	matches := c.Selector.Matches(labels.Set(obj.GetLabels()))
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		if ref.UID != c.Owner.GetUID() {
			return false, nil
		}
		if matches {
			return true, nil
		}
		// Owned but no longer selected: let it go, unless the owner is being deleted (the
		// garbage collector will handle it then).
		if c.Owner.GetDeletionTimestamp() != nil {
			return false, nil
		}
		if err := c.release(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		return false, nil
	}
	if !matches || c.Owner.GetDeletionTimestamp() != nil || obj.GetDeletionTimestamp() != nil ||
		obj.GetNamespace() != c.Owner.GetNamespace() {
		return false, nil
	}
	if err := c.adopt(ctx, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func (c *Claimer) adopt(ctx context.Context, obj metav1.Object) error {
	c.once.Do(func() {
		if c.CanAdopt != nil {
			c.adoptable = c.CanAdopt(ctx)
		}
	})
	if c.adoptable != nil {
		return fmt.Errorf("can't adopt %s/%s: %w", obj.GetNamespace(), obj.GetName(), c.adoptable)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*ControllerRef(c.Owner, c.OwnerGVK)},
		"uid":             obj.GetUID(),
	}})
	if err != nil {
		return err
	}
	return c.Patch(ctx, obj.GetNamespace(), obj.GetName(), patch)
}

func (c *Claimer) release(ctx context.Context, obj metav1.Object) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []map[string]any{{"$patch": "delete", "uid": c.Owner.GetUID()}},
		"uid":             obj.GetUID(),
	}})
	if err != nil {
		return err
	}
	err = c.Patch(ctx, obj.GetNamespace(), obj.GetName(), patch)
	// Invalid: the child was recreated under the same name (uid differs) or lost the
	// reference meanwhile; either way it is not ours any more.
	if apierrors.IsInvalid(err) {
		return nil
	}
	return err
}

// ControllerRef is the ownerReference a controller puts on what it creates or adopts:
// controller=true and blockOwnerDeletion=true.
func ControllerRef(owner metav1.Object, gvk schema.GroupVersionKind) *metav1.OwnerReference {
	yes := true
	return &metav1.OwnerReference{
		APIVersion:         gvk.GroupVersion().String(),
		Kind:               gvk.Kind,
		Name:               owner.GetName(),
		UID:                owner.GetUID(),
		Controller:         &yes,
		BlockOwnerDeletion: &yes,
	}
}

// RecheckOwner builds a CanAdopt that re-reads the owner with get and refuses when it was
// replaced (another UID) or is being deleted.
func RecheckOwner(uid types.UID, get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		if fresh.GetUID() != uid {
			return fmt.Errorf("original %s/%s is gone: got uid %s, wanted %s", fresh.GetNamespace(), fresh.GetName(), fresh.GetUID(), uid)
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s/%s has just been deleted at %v", fresh.GetNamespace(), fresh.GetName(), fresh.GetDeletionTimestamp())
		}
		return nil
	}
}
