package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/storage"
)

// Finalizers the garbage collector acts on.
const (
	FinalizerOrphan     = "orphan"
	FinalizerForeground = "foregroundDeletion"
)

// DeleteResult says what a delete did.
type DeleteResult struct {
	Object runtime.Object
	// Deleted is false when the object only got a deletionTimestamp (graceful deletion
	// or finalizers pending).
	Deleted bool
}

// Delete removes one object, or marks it for deletion when finalizers or a grace period
// keep it for now.
func (s *Store) Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (DeleteResult, error) {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	if opts.PropagationPolicy != nil && opts.OrphanDependents != nil {
		return DeleteResult{}, apierrors.NewBadRequest("propagationPolicy and orphanDependents cannot both be set")
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
		default:
			return DeleteResult{}, apierrors.NewBadRequest(fmt.Sprintf("propagationPolicy: Unsupported value: %q: supported values: \"Orphan\", \"Background\", \"Foreground\"", *opts.PropagationPolicy))
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	for {
		current, kv, err := s.get(ctx, ns, name)
		if err != nil {
			return DeleteResult{}, err
		}
		if s.Res.CheckDelete != nil {
			if err := s.Res.CheckDelete(current); err != nil {
				return DeleteResult{}, err
			}
		}
		accessor, _ := meta.Accessor(current)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != accessor.GetUID() {
				return DeleteResult{}, apierrors.NewConflict(s.Res.GroupResource(), name,
					fmt.Errorf("the UID in the precondition (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", *p.UID, accessor.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != accessor.GetResourceVersion() {
				return DeleteResult{}, apierrors.NewConflict(s.Res.GroupResource(), name,
					fmt.Errorf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). The object might have been modified", *p.ResourceVersion, accessor.GetResourceVersion()))
			}
		}
		marked, keep := s.markForDeletion(current, accessor, opts)
		if keep {
			if !marked {
				return DeleteResult{Object: current}, nil
			}
			if dryRun {
				return DeleteResult{Object: current}, nil
			}
			data, err := s.codec.encode(s.Res, current)
			if err != nil {
				return DeleteResult{}, apierrors.NewInternalError(err)
			}
			rev, err := s.update(ctx, kv.Key, data, kv.ModRevision)
			if errors.Is(err, storage.ErrConflict) {
				continue
			}
			if err != nil {
				return DeleteResult{}, s.storageWriteError(err, name)
			}
			accessor.SetResourceVersion(formatRV(rev))
			return DeleteResult{Object: current}, nil
		}
		if dryRun {
			return DeleteResult{Object: current, Deleted: true}, nil
		}
		_, rev, err := s.storage.Delete(ctx, kv.Key, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return DeleteResult{}, s.storageWriteError(err, name)
		}
		accessor.SetResourceVersion(formatRV(rev))
		s.release(ctx, current)
		return DeleteResult{Object: current, Deleted: true}, nil
	}
}

// markForDeletion applies the delete options to obj. keep says the object must stay
// (finalizers or a grace period); marked says obj changed and must be written.
func (s *Store) markForDeletion(obj runtime.Object, accessor metav1.Object, opts *metav1.DeleteOptions) (marked, keep bool) {
	finalizers := accessor.GetFinalizers()
	orphan := opts.OrphanDependents != nil && *opts.OrphanDependents
	foreground := false
	if p := opts.PropagationPolicy; p != nil {
		orphan = *p == metav1.DeletePropagationOrphan
		foreground = *p == metav1.DeletePropagationForeground
	}
	want := slices.Clone(finalizers)
	if orphan || foreground || opts.PropagationPolicy != nil {
		want = slices.DeleteFunc(want, func(f string) bool { return f == FinalizerOrphan || f == FinalizerForeground })
	}
	if orphan {
		want = append(want, FinalizerOrphan)
	}
	if foreground {
		want = append(want, FinalizerForeground)
	}
	grace, graceful := int64(0), false
	if s.Res.GracefulDelete != nil {
		grace, graceful = s.Res.GracefulDelete(obj, opts.GracePeriodSeconds)
	}
	now := s.now()
	if dts := accessor.GetDeletionTimestamp(); dts != nil {
		// Already being deleted: a shorter grace period may move the deadline forward;
		// finalizer changes from propagation apply; grace 0 with no finalizers deletes.
		changed := !slices.Equal(want, finalizers)
		if graceful {
			cur := accessor.GetDeletionGracePeriodSeconds()
			if cur != nil && grace < *cur {
				t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
				if t.Before(dts) {
					accessor.SetDeletionTimestamp(&t)
				}
				accessor.SetDeletionGracePeriodSeconds(&grace)
				changed = true
			}
		}
		accessor.SetFinalizers(want)
		remaining := accessor.GetDeletionGracePeriodSeconds()
		if len(want) == 0 && (remaining == nil || *remaining == 0) && (s.Res.Finalized == nil || s.Res.Finalized(obj)) {
			return false, false
		}
		return changed, true
	}
	resourceKeep := s.Res.BeforeDelete != nil && s.Res.BeforeDelete(obj)
	if len(want) == 0 && (!graceful || grace == 0) && !resourceKeep {
		return false, false
	}
	if !graceful {
		grace = 0
	}
	t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
	accessor.SetDeletionTimestamp(&t)
	accessor.SetDeletionGracePeriodSeconds(&grace)
	accessor.SetFinalizers(want)
	if s.Res.TrackGeneration {
		accessor.SetGeneration(accessor.GetGeneration() + 1)
	}
	return true, true
}
