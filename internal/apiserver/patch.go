package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/berth/berth/internal/registry"
)

const applyPatchYAML = "application/apply-patch+yaml"

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo, sub string) {
	out, err := s.negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	params, err := parseWriteParams(r, "patch")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		s.writeError(w, r, unsupportedPatchType(r.Header.Get("Content-Type")))
		return
	}
	patchType := types.PatchType(ct)
	switch patchType {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyPatchType:
	default:
		s.writeError(w, r, unsupportedPatchType(ct))
		return
	}
	if params.Force && patchType != types.ApplyPatchType {
		s.writeError(w, r, apierrors.NewBadRequest("force: Invalid value: force flag is only supported for apply patches"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	fm := s.fieldManagersFor(st.Res.GVR()).forSub(sub)
	var fn registry.UpdateFunc
	allowCreate := false
	if patchType == types.ApplyPatchType {
		if fm == nil {
			s.writeError(w, r, unsupportedPatchType(ct))
			return
		}
		if r.URL.Query().Get("fieldManager") == "" {
			s.writeError(w, r, apierrors.NewBadRequest("PATCH /apply requires fieldManager query parameter"))
			return
		}
		applied, err := s.decodeApply(body, st, info, params.FieldValidation)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		allowCreate = sub == ""
		fn = func(current runtime.Object) (runtime.Object, error) {
			live := current
			if live == nil {
				live = st.Res.New()
				live.GetObjectKind().SetGroupVersionKind(st.Res.GVK())
			}
			return fm.Apply(live, applied.DeepCopyObject(), params.FieldManager, params.Force)
		}
	} else {
		fn = func(current runtime.Object) (runtime.Object, error) {
			patched, err := s.applyPatch(w, r, st, patchType, body, current, params.FieldValidation)
			if err != nil {
				return nil, err
			}
			if fm != nil {
				patched = fm.UpdateNoErrors(current, patched, params.FieldManager)
			}
			return patched, nil
		}
	}
	res, err := st.Update(r.Context(), info.Namespace, info.Name, fn, registry.UpdateOptions{DryRun: params.DryRun, Subresource: sub, AllowCreate: allowCreate})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	code := http.StatusOK
	if res.Created {
		code = http.StatusCreated
	}
	s.writeResult(w, r, out, code, res.Object, st)
}

func unsupportedPatchType(ct string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s, %s", types.JSONPatchType, types.MergePatchType, types.ApplyPatchType, types.StrategicMergePatchType),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: ct}}},
	}}
}

// decodeApply reads an apply configuration (YAML or JSON) into an unstructured object
// checked against the resource's kind and the URL.
func (s *Server) decodeApply(body []byte, st *registry.Store, info requestInfo, validation string) (runtime.Object, error) {
	if holdsQuantities(st.Res.New()) && hugeExponent.Match(body) {
		return nil, apierrors.NewBadRequest("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' with an exponent of at most 5 digits")
	}
	jsonBody, err := yaml.YAMLToJSONStrict(body)
	if err != nil {
		if validation == "Strict" {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
		}
		if jsonBody, err = yaml.YAMLToJSON(body); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
		}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(jsonBody); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding apply configuration: %v", err))
	}
	gvk := st.Res.GVK()
	if u.GetAPIVersion() != gvk.GroupVersion().String() || u.GetKind() != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", u.GetAPIVersion(), gvk.GroupVersion().String()))
	}
	if u.GetName() != "" && u.GetName() != info.Name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", u.GetName(), info.Name))
	}
	if u.GetName() == "" {
		u.SetName(info.Name)
	}
	if st.Res.Namespaced {
		if ns := u.GetNamespace(); ns != "" && ns != info.Namespace {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
		u.SetNamespace(info.Namespace)
	}
	if validation == "Strict" {
		// Unknown fields fail the typed conversion in strict mode.
		typed := st.Res.New()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, typed, true); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("strict decoding error: %v", err))
		}
	}
	return u, nil
}

// applyPatch applies a JSON, merge or strategic merge patch to current and decodes the
// result into the resource's type.
func (s *Server) applyPatch(w http.ResponseWriter, r *http.Request, st *registry.Store, pt types.PatchType, patch []byte, current runtime.Object, validation string) (runtime.Object, error) {
	currentJSON, err := runtime.Encode(s.jsonEncoder(), current)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var patchedJSON []byte
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if patchedJSON, err = p.Apply(currentJSON); err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", st.Res.GroupResource(), "", err.Error(), 0, false)
		}
	case types.MergePatchType:
		if !json.Valid(patch) {
			return nil, apierrors.NewBadRequest("error decoding patch: invalid JSON")
		}
		if patchedJSON, err = jsonpatch.MergePatch(currentJSON, patch); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	case types.StrategicMergePatchType:
		var patchMap map[string]any
		if err := json.Unmarshal(patch, &patchMap); err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
		if patchedJSON, err = strategicpatch.StrategicMergePatch(currentJSON, patch, st.Res.New()); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	r2 := r.Clone(r.Context())
	r2.Header.Set("Content-Type", mediaJSON)
	obj, err := s.decodeObject(w, r2, patchedJSON, st.Res.GVK(), st.Res.New(), validation)
	if err != nil {
		return nil, err
	}
	// A resourceVersion the patch did not change is no precondition: the update may be
	// retried against a newer object. One the patch changed must match.
	patchedMeta, err1 := meta.Accessor(obj)
	currentMeta, err2 := meta.Accessor(current)
	if err1 == nil && err2 == nil && patchedMeta.GetResourceVersion() == currentMeta.GetResourceVersion() {
		patchedMeta.SetResourceVersion("")
	}
	return obj, nil
}

func (s *Server) jsonEncoder() runtime.Encoder {
	return s.outputFor(mediaJSON, outputObject).Info.Serializer
}
