package apiserver

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"
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
			obj, err := fm.Apply(live, applied.DeepCopyObject(), params.FieldManager, params.Force)
			return obj, applyInputError(err)
		}
	} else {
		fn = func(current runtime.Object) (runtime.Object, error) {
			patched, err := s.applyPatch(w, r, st, patchType, body, current, params.FieldValidation)
			if err != nil {
				return nil, err
			}
			return s.fieldManagersFor(st.Res.GVR()).trackUpdate(sub, current, patched, params.FieldManager), nil
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
	if holdsQuantities(st.Res.New()) && hasHugeExponent(body) {
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
	// Unknown fields and values of the wrong type fail the field manager's typed
	// conversion, whatever fieldValidation says (applyInputError).
	return u, nil
}

// applyInputError turns the field manager's failure to convert an apply configuration
// to its schema (".bogus: field not declared in schema") into a 400 with Kubernetes'
// text; kube-apiserver answers it with a 500 (kubernetes/kubernetes#139253, the fix
// proposed there is this one), but bad input is never a server error here.
func applyInputError(err error) error {
	if err == nil {
		return nil
	}
	var apiStatus apierrors.APIStatus
	if !errors.As(err, &apiStatus) && strings.HasPrefix(err.Error(), "failed to create typed patch object") {
		return apierrors.NewBadRequest(err.Error())
	}
	return err
}

// maxJSONPatchOperations caps the operations of one JSON patch, as Kubernetes does.
const maxJSONPatchOperations = 10000

// jsonPatchOp is one JSON patch operation, for finding unknown fields in a patch.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	From  string `json:"from"`
	Value any    `json:"value"`
}

// applyPatch applies a JSON, merge or strategic merge patch to current and decodes the
// result into the resource's type, with Kubernetes' error codes and texts (patch.go of
// k8s.io/apiserver): a malformed patch is a 400, one that does not apply a 422, and an
// object that does not decode an Invalid error on the field "patch".
func (s *Server) applyPatch(w http.ResponseWriter, r *http.Request, st *registry.Store, pt types.PatchType, patch []byte, current runtime.Object, validation string) (runtime.Object, error) {
	strict := validation == "Strict" || validation == "Warn"
	var obj runtime.Object
	var strictErrs []error
	switch pt {
	case types.JSONPatchType, types.MergePatchType:
		currentJSON, err := runtime.Encode(s.jsonEncoder(), current)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		var patchedJSON []byte
		if patchedJSON, strictErrs, err = applyJSONPatch(pt, currentJSON, patch, strict); err != nil {
			return nil, err
		}
		decoded, _, err := s.jsonDecoder(strict).Decode(patchedJSON, nil, st.Res.New())
		if err != nil {
			decodeStrict, ok := runtime.AsStrictDecodingError(err)
			if !ok || decoded == nil {
				return nil, apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), string(patchedJSON), err.Error())})
			}
			strictErrs = append(strictErrs, decodeStrict.Errors()...)
		}
		if err := patchStrictErrors(w, strictErrs, validation, string(patchedJSON)); err != nil {
			return nil, err
		}
		obj = decoded
	case types.StrategicMergePatchType:
		patchMap := map[string]any{}
		var err error
		if strict {
			strictErrs, err = kjson.UnmarshalStrict(patch, &patchMap)
		} else {
			err = kjson.UnmarshalCaseSensitivePreserveInts(patch, &patchMap)
		}
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		currentMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patchedMap, err := strategicpatch.StrategicMergeMapPatch(currentMap, patchMap, st.Res.New())
		if err != nil {
			return nil, strategicMergePatchError(err)
		}
		obj = st.Res.New()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(patchedMap, obj, strict); err != nil {
			decodeStrict, ok := runtime.AsStrictDecodingError(err)
			if !ok {
				return nil, apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), fmt.Sprintf("%+v", patchMap), err.Error())})
			}
			strictErrs = append(strictErrs, decodeStrict.Errors()...)
		}
		if err := patchStrictErrors(w, strictErrs, validation, fmt.Sprintf("%+v", patchMap)); err != nil {
			return nil, err
		}
		if st.Res.Default != nil {
			st.Res.Default(obj)
		}
	default:
		return nil, unsupportedPatchType(string(pt))
	}
	obj.GetObjectKind().SetGroupVersionKind(st.Res.GVK())
	// A resourceVersion the patch did not change is no precondition: the update may be
	// retried against a newer object. One the patch changed must match.
	patchedMeta, err1 := meta.Accessor(obj)
	currentMeta, err2 := meta.Accessor(current)
	if err1 == nil && err2 == nil && patchedMeta.GetResourceVersion() == currentMeta.GetResourceVersion() {
		patchedMeta.SetResourceVersion("")
	}
	return obj, nil
}

// applyJSONPatch applies a JSON patch or a JSON merge patch; with strict set it also
// returns the unknown and duplicate fields of the patch itself.
func applyJSONPatch(pt types.PatchType, doc, patch []byte, strict bool) ([]byte, []error, error) {
	var strictErrs []error
	if pt == types.JSONPatchType {
		if strict {
			var ops []jsonPatchOp
			var err error
			if strictErrs, err = kjson.UnmarshalStrict(patch, &ops); err != nil {
				// kube-apiserver declares jsonPatchOp in its package handlers, which the
				// error names ("... of type []handlers.jsonPatchOp").
				msg := strings.ReplaceAll(err.Error(), "apiserver.jsonPatchOp", "handlers.jsonPatchOp")
				return nil, nil, apierrors.NewBadRequest("error decoding patch: " + msg)
			}
			for i, e := range strictErrs {
				strictErrs[i] = fmt.Errorf("json patch %v", e)
			}
		}
		ops, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, nil, apierrors.NewBadRequest(err.Error())
		}
		if len(ops) > maxJSONPatchOperations {
			return nil, nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(ops)))
		}
		patched, err := ops.Apply(doc)
		if err != nil {
			return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return patched, strictErrs, nil
	}
	if strict {
		var err error
		if strictErrs, err = kjson.UnmarshalStrict(patch, &map[string]any{}); err != nil {
			return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("error decoding patch: %v", err))
		}
	}
	patched, err := jsonpatch.MergePatch(doc, patch)
	if err != nil {
		// Kubernetes answers 500 for errors other than ErrBadJSONPatch; bad input is a 400 here.
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	return patched, strictErrs, nil
}

// patchStrictErrors turns the unknown or duplicate fields of a patch into warnings
// (fieldValidation=Warn) or an Invalid error on the field "patch" (Strict).
func patchStrictErrors(w http.ResponseWriter, errs []error, validation, value string) error {
	if len(errs) == 0 {
		return nil
	}
	if validation == "Warn" {
		for _, e := range errs {
			addWarning(w, e.Error())
		}
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{field.Invalid(field.NewPath("patch"), value, runtime.NewStrictDecodingError(errs).Error())})
}

// strategicMergePatchError gives the status codes Kubernetes gives strategic merge
// patch errors (interpretStrategicMergePatchError); other errors are bad input too.
func strategicMergePatchError(err error) error {
	switch err {
	case mergepatch.ErrNoListOfLists, mergepatch.ErrPatchContentNotMatchRetainKeys:
		return apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
	}
	return apierrors.NewBadRequest(err.Error())
}

func (s *Server) jsonEncoder() runtime.Encoder {
	return s.outputFor(mediaJSON, outputObject).Info.Serializer
}

// jsonDecoder decodes JSON, reporting unknown and duplicate fields when strict.
func (s *Server) jsonDecoder(strict bool) runtime.Decoder {
	if strict {
		if info, ok := runtime.SerializerInfoForMediaType(s.codecs.Strict.SupportedMediaTypes(), mediaJSON); ok && info.StrictSerializer != nil {
			return info.StrictSerializer
		}
	}
	return s.outputFor(mediaJSON, outputObject).Info.Serializer
}
