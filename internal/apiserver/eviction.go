package apiserver

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/registry"
)

var evictionGVK = policyv1.SchemeGroupVersion.WithKind("Eviction")

// handleEviction serves pods/eviction (policy/v1 Eviction), what `kubectl drain` uses:
// a pod delete that honours the eviction's deleteOptions (grace period, preconditions,
// dryRun) and the pod's PodDisruptionBudget (admitEviction); the pod first gets the
// DisruptionTarget condition, as in Kubernetes, so its owner can tell an eviction from a
// failure.
func (s *Server) handleEviction(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	req, ok := s.readWrite(w, r, "create", evictionGVK, &policyv1.Eviction{})
	if !ok {
		return
	}
	params, obj := req.params, req.obj
	eviction := obj.(*policyv1.Eviction)
	if eviction.Name != "" && eviction.Name != info.Name {
		s.writeError(w, r, apierrors.NewBadRequest("name in URL does not match name in Eviction object"))
		return
	}
	if eviction.Namespace != "" && eviction.Namespace != info.Namespace {
		s.writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	opts := &metav1.DeleteOptions{}
	if eviction.DeleteOptions != nil {
		opts = eviction.DeleteOptions.DeepCopy()
	}
	dry := params.DryRun
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun: Unsupported value: %q: supported values: \"All\"", d)))
			return
		}
		dry = true
	}
	ctx := r.Context()
	current, err := st.Get(ctx, info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod := current.(*corev1.Pod)
	// A dry-run delete checks the preconditions (409) without writing.
	if _, err := st.Delete(ctx, info.Namespace, info.Name, opts.DeepCopy(), true); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.admitEviction(ctx, pod, dry); err != nil {
		s.writeError(w, r, err)
		return
	}
	if !dry && pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		res, err := st.Update(ctx, info.Namespace, info.Name, func(current runtime.Object) (runtime.Object, error) {
			p := current.(*corev1.Pod)
			if p.UID != pod.UID {
				return nil, apierrors.NewConflict(st.Res.GroupResource(), info.Name, fmt.Errorf("the pod was replaced while being evicted"))
			}
			markDisruptionTarget(p)
			return p, nil
		}, registry.UpdateOptions{Subresource: "status"})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// The condition bumped the resourceVersion; a precondition on it meant the
		// version the caller saw, which the check above confirmed.
		if p := opts.Preconditions; p != nil && p.ResourceVersion != nil {
			if a, err := meta.Accessor(res.Object); err == nil {
				rv := a.GetResourceVersion()
				p.ResourceVersion = &rv
			}
		}
	}
	if _, err := st.Delete(ctx, info.Namespace, info.Name, opts, dry); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, s.outputFor(mediaJSON, outputObject), http.StatusCreated, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated,
	})
}

func markDisruptionTarget(p *corev1.Pod) {
	cond := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "EvictionByEvictionAPI", Message: "Eviction API: evicting", LastTransitionTime: metav1.Now(),
	}
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
			if p.Status.Conditions[i].Status == corev1.ConditionTrue {
				return
			}
			p.Status.Conditions[i] = cond
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, cond)
}
