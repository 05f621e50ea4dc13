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
	"k8s.io/apimachinery/pkg/selection"
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

	matchOnce sync.Once
	// equals is the selector as key=value pairs when it is only equalities (every
	// matchLabels selector); equalsOK false when it is not.
	equals   [][2]string
	equalsOK bool
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

// matches says whether the selector selects set. A sync claims every pod of its
// ReplicaSet, tens of thousands in a big one, and equalities are matched with one lookup
// each instead of the general requirements' several.
func (c *Claimer) matches(set map[string]string) bool {
	c.matchOnce.Do(func() { c.equals, c.equalsOK = equalities(c.Selector) })
	if !c.equalsOK {
		return c.Selector.Matches(labels.Set(set))
	}
	for _, kv := range c.equals {
		if v, ok := set[kv[0]]; !ok || v != kv[1] {
			return false
		}
	}
	return true
}

// equalities returns a selector's requirements as key=value pairs when every one is an
// equality with a single value; false otherwise (and for a selector that selects nothing).
func equalities(s labels.Selector) ([][2]string, bool) {
	reqs, selectable := s.Requirements()
	if !selectable {
		return nil, false
	}
	pairs := make([][2]string, 0, len(reqs))
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
		default:
			return nil, false
		}
		vals := r.ValuesUnsorted()
		if len(vals) != 1 {
			return nil, false
		}
		pairs = append(pairs, [2]string{r.Key(), vals[0]})
	}
	return pairs, true
}

func (c *Claimer) claim(ctx context.Context, obj metav1.Object) (bool, error) {
	if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
		if ref.UID != c.Owner.GetUID() {
			return false, nil
		}
		if c.matches(obj.GetLabels()) {
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
	if !c.matches(obj.GetLabels()) || c.Owner.GetDeletionTimestamp() != nil || obj.GetDeletionTimestamp() != nil ||
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
