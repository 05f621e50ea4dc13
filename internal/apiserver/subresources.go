package apiserver

import (
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/berth/berth/internal/registry"
	"github.com/berth/berth/internal/registry/validation"
)

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

// scaleOf builds the autoscaling/v1 Scale view of a scalable object.
func scaleOf(st *registry.Store, obj runtime.Object) *autoscalingv1.Scale {
	a, _ := meta.Accessor(obj)
	spec, status, selector := st.Res.Scale.Get(obj)
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: a.GetName(), Namespace: a.GetNamespace(), UID: a.GetUID(),
			ResourceVersion: a.GetResourceVersion(), CreationTimestamp: a.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
}

// scaleTable is the Table of a Scale, with Kubernetes' columns for it (kubectl get
// --subresource=scale).
func scaleTable(r *http.Request, scale *autoscalingv1.Scale) *metav1.Table {
	row := metav1.TableRow{Cells: []any{scale.Name, int64(scale.Spec.Replicas), int64(scale.Status.Replicas)}}
	switch metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")) {
	case metav1.IncludeNone:
	case metav1.IncludeObject:
		row.Object = runtime.RawExtension{Object: scale}
	default:
		row.Object = runtime.RawExtension{Object: &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
			ObjectMeta: scale.ObjectMeta,
		}}
	}
	return &metav1.Table{
		TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: scale.ResourceVersion},
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
			{Name: "Desired", Type: "integer", Description: autoscalingv1.ScaleSpec{}.SwaggerDoc()["replicas"]},
			{Name: "Available", Type: "integer", Description: autoscalingv1.ScaleStatus{}.SwaggerDoc()["replicas"]},
		},
		Rows: []metav1.TableRow{row},
	}
}

func (s *Server) handleScale(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	out, err := s.negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	asTable, pretty := out.Kind == outputTable, out.Pretty
	out = s.outputFor(out.MediaType, outputObject)
	out.Pretty = pretty
	switch info.Verb {
	case "get":
		obj, err := st.Get(r.Context(), info.Namespace, info.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if asTable {
			s.writeObject(w, out, http.StatusOK, scaleTable(r, scaleOf(st, obj)))
			return
		}
		s.writeObject(w, out, http.StatusOK, scaleOf(st, obj))
		return
	case "update", "patch":
	default:
		s.writeError(w, r, methodNotAllowed(r.Method, info))
		return
	}
	params, err := parseWriteParams(r, info.Verb)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var patchType types.PatchType
	if info.Verb == "patch" {
		patchType = types.PatchType(contentType(r))
		if patchType == types.ApplyPatchType {
			s.writeError(w, r, unsupportedPatchType(string(patchType)))
			return
		}
	}
	scaleStore := &registry.Store{Res: &registry.Resource{GroupVersion: autoscalingv1.SchemeGroupVersion, Name: st.Res.Name, Kind: "Scale", New: func() runtime.Object { return &autoscalingv1.Scale{} }}}
	res, err := st.Update(r.Context(), info.Namespace, info.Name, func(current runtime.Object) (runtime.Object, error) {
		currentScale := scaleOf(st, current)
		var want *autoscalingv1.Scale
		if info.Verb == "patch" {
			patched, err := s.applyPatch(w, r, scaleStore, patchType, body, currentScale, params.FieldValidation)
			if err != nil {
				return nil, err
			}
			want = patched.(*autoscalingv1.Scale)
		} else {
			obj, err := s.decodeObject(w, r, body, scaleGVK, &autoscalingv1.Scale{}, params.FieldValidation)
			if err != nil {
				return nil, err
			}
			want = obj.(*autoscalingv1.Scale)
			if want.Name != info.Name {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", want.Name, info.Name))
			}
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), info.Name, fieldErrs("spec.replicas", want.Spec.Replicas, "must be greater than or equal to 0"))
		}
		next := current.DeepCopyObject()
		st.Res.Scale.Set(next, want.Spec.Replicas)
		a, _ := meta.Accessor(next)
		a.SetResourceVersion(want.ResourceVersion)
		if fm := s.fieldManagersFor(st.Res.GVR()).forSub(""); fm != nil {
			next = fm.UpdateNoErrors(current, next, params.FieldManager)
		}
		return next, nil
	}, registry.UpdateOptions{DryRun: params.DryRun})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, out, http.StatusOK, scaleOf(st, res.Object))
}

// handleBinding assigns a pod to a node (pods/binding), as the scheduler does.
func (s *Server) handleBinding(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	req, ok := s.readWrite(w, r, "create", corev1.SchemeGroupVersion.WithKind("Binding"), &corev1.Binding{})
	if !ok {
		return
	}
	params, obj := req.params, req.obj
	binding := obj.(*corev1.Binding)
	if binding.Name != "" && binding.Name != info.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", binding.Name, info.Name)))
		return
	}
	if errs := validation.ValidateBinding(binding); len(errs) > 0 {
		s.writeError(w, r, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), info.Name, errs))
		return
	}
	_, err := st.Update(r.Context(), info.Namespace, info.Name, func(current runtime.Object) (runtime.Object, error) {
		pod := current.(*corev1.Pod)
		if binding.UID != "" && binding.UID != pod.UID {
			return nil, apierrors.NewConflict(st.Res.GroupResource(), info.Name, fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", binding.UID, pod.UID))
		}
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(st.Res.GroupResource(), info.Name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", pod.Name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(st.Res.GroupResource(), info.Name, fmt.Errorf("pod %v is already assigned to node %q", pod.Name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = binding.Target.Name
		for k, v := range binding.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()})
		// A nomination (a preemptor waiting for its victims) is over once the pod is bound,
		// as kube-apiserver does since KEP-5278 (ClearingNominatedNodeNameAfterBinding).
		pod.Status.NominatedNodeName = ""
		return pod, nil
	}, registry.UpdateOptions{DryRun: params.DryRun, Subresource: "binding"})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, s.outputFor(mediaJSON, outputObject), http.StatusCreated, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated,
	})
}

func setCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

func contentType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	for i := 0; i < len(ct); i++ {
		if ct[i] == ';' {
			return ct[:i]
		}
	}
	return ct
}

// handleFinalize replaces a namespace's spec.finalizers (namespaces/finalize), the last
// step of namespace deletion.
func (s *Server) handleFinalize(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	req, ok := s.readWrite(w, r, "update", st.Res.GVK(), st.Res.New())
	if !ok {
		return
	}
	out, params, obj := req.out, req.params, req.obj
	want := obj.(*corev1.Namespace)
	res, err := st.Update(r.Context(), "", info.Name, func(current runtime.Object) (runtime.Object, error) {
		ns := current.(*corev1.Namespace)
		if want.ResourceVersion != "" && want.ResourceVersion != ns.ResourceVersion {
			return nil, apierrors.NewConflict(st.Res.GroupResource(), info.Name, fmt.Errorf(registry.OptimisticLockErrorMsg))
		}
		ns.Spec.Finalizers = want.Spec.Finalizers
		ns.ResourceVersion = ""
		return ns, nil
	}, registry.UpdateOptions{DryRun: params.DryRun, Subresource: "finalize"})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, out, http.StatusOK, res.Object, st)
}
