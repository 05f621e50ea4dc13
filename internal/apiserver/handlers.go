package apiserver

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/berth/berth/internal/registry"
)

// serveAPI routes everything under /api/ and /apis/.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(r.URL.Path)
	if len(parts) <= 3 && r.Method == http.MethodGet && s.serveDiscovery(w, r, parts) {
		return
	}
	info, ok := parseResourcePath(r)
	if !ok {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	if info.Group == authorizationv1.GroupName {
		s.serveAccessReview(w, r, info)
		return
	}
	if info.Group == authenticationv1.GroupName {
		s.serveIdentityReview(w, r, info)
		return
	}
	st := s.storeFor(info)
	if st == nil {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	if !st.Res.Namespaced && info.Namespace != "" && info.Resource != "namespaces" {
		s.writeError(w, r, notFoundPath(r.URL.Path))
		return
	}
	if u, ok := userFrom(r.Context()); ok {
		if err := s.authorize(r.Context(), u, info); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if info.Subresource != "" {
		s.serveSubresource(w, r, st, info)
		return
	}
	switch info.Verb {
	case "get":
		s.handleGet(w, r, st, info)
	case "list":
		s.handleList(w, r, st, info)
	case "watch":
		s.handleWatch(w, r, st, info)
	case "create":
		if info.Name != "" {
			s.writeError(w, r, methodNotAllowed("create", info))
			return
		}
		s.handleCreate(w, r, st, info)
	case "update":
		s.handleUpdate(w, r, st, info, "")
	case "patch":
		s.handlePatch(w, r, st, info, "")
	case "delete":
		s.handleDelete(w, r, st, info)
	case "deletecollection":
		if !servesDeleteCollection(st.Res) {
			s.writeError(w, r, methodNotAllowed(r.Method, info))
			return
		}
		s.handleDeleteCollection(w, r, st, info)
	default:
		s.writeError(w, r, methodNotAllowed(r.Method, info))
	}
}

func (s *Server) serveSubresource(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	switch {
	case info.Subresource == "status" && st.Res.HasStatus:
		switch info.Verb {
		case "get":
			s.handleGet(w, r, st, info)
		case "update":
			s.handleUpdate(w, r, st, info, "status")
		case "patch":
			s.handlePatch(w, r, st, info, "status")
		default:
			s.writeError(w, r, methodNotAllowed(r.Method, info))
		}
	case info.Subresource == "scale" && st.Res.Scale != nil:
		s.handleScale(w, r, st, info)
	case info.Subresource == "eviction" && hasSub(st, "eviction") && info.Verb == "create":
		s.handleEviction(w, r, st, info)
	case info.Subresource == "binding" && hasSub(st, "binding") && info.Verb == "create":
		s.handleBinding(w, r, st, info)
	case info.Subresource == "token" && hasSub(st, "token") && info.Verb == "create":
		s.handleToken(w, r, info)
	case info.Subresource == "finalize" && hasSub(st, "finalize") && info.Verb == "update":
		s.handleFinalize(w, r, st, info)
	case isPodStream(st, info):
		s.servePodStream(w, r, st, info)
	case oneVerbSubresource(st, info.Subresource):
		// The subresource exists, not with this method (GET of pods/x/binding).
		s.writeError(w, r, methodNotAllowed(r.Method, info))
	default:
		s.writeError(w, r, notFoundPath(r.URL.Path))
	}
}

// oneVerbSubresource: st serves sub, which takes one verb only (create, or update for
// finalize).
func oneVerbSubresource(st *registry.Store, sub string) bool {
	switch sub {
	case "eviction", "binding", "token", "finalize":
		return hasSub(st, sub)
	}
	return false
}

func hasSub(st *registry.Store, sub string) bool {
	for _, x := range st.Res.Subresources {
		if x == sub {
			return true
		}
	}
	return false
}

func (s *Server) handleGet(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	out, err := s.negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	obj, err := st.Get(r.Context(), info.Namespace, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, out, http.StatusOK, obj, st)
}

// listOptions parses the query of a list or watch.
func (s *Server) listOptions(r *http.Request, st *registry.Store) (metav1.ListOptions, registry.ListOptions, error) {
	var raw metav1.ListOptions
	if err := s.params.DecodeParameters(r.URL.Query(), schema.GroupVersion{Version: "v1"}, &raw); err != nil {
		return raw, registry.ListOptions{}, apierrors.NewBadRequest(err.Error())
	}
	opts := registry.ListOptions{
		Limit: raw.Limit, Continue: raw.Continue,
		ResourceVersion: raw.ResourceVersion, ResourceVersionMatch: raw.ResourceVersionMatch,
	}
	internal := metainternalversion.ListOptions{
		Watch: raw.Watch, AllowWatchBookmarks: raw.AllowWatchBookmarks, ResourceVersion: raw.ResourceVersion,
		ResourceVersionMatch: raw.ResourceVersionMatch, Limit: raw.Limit, Continue: raw.Continue,
		SendInitialEvents: raw.SendInitialEvents,
	}
	if errs := metainternalversionvalidation.ValidateListOptions(&internal, true); len(errs) > 0 {
		return raw, opts, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	if raw.Limit < 0 {
		return raw, opts, apierrors.NewBadRequest(fmt.Sprintf("limit: Invalid value: %d: must be greater than or equal to 0", raw.Limit))
	}
	if raw.LabelSelector != "" {
		sel, err := labels.Parse(raw.LabelSelector)
		if err != nil {
			return raw, opts, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", strings.TrimPrefix(err.Error(), "unable to parse requirement: ")))
		}
		opts.Label = sel
	}
	if raw.FieldSelector != "" {
		sel, err := fields.ParseSelector(raw.FieldSelector)
		if err != nil {
			return raw, opts, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		if st.Res.ConvertFields != nil {
			if sel, err = st.Res.ConvertFields(sel); err != nil {
				return raw, opts, apierrors.NewBadRequest(err.Error())
			}
		}
		opts.Field = sel
	}
	return raw, opts, nil
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	out, err := s.negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	_, opts, err := s.listOptions(r, st)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := st.List(r.Context(), info.Namespace, opts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResult(w, r, out, http.StatusOK, list, st)
}

// readBodyPrealloc bounds the buffer a request's Content-Length alone makes readBody
// allocate.
const readBodyPrealloc = 1 << 20

// readBody reads a request body within the size limit.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	// A body of a declared length is read into one buffer of that size (io.ReadAll grows
	// from 512 bytes, allocating about three times the body); the declared length only
	// sizes the buffer, it is not trusted past readBodyPrealloc.
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 {
		buf.Grow(int(min(n, readBodyPrealloc)) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(r.Body)
	data := buf.Bytes()
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", tooLarge.Limit))
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading request body: %v", err))
	}
	return data, nil
}

// writeParams are the common query parameters of writes.
type writeParams struct {
	DryRun          bool
	FieldManager    string
	FieldValidation string
	Force           bool
}

func parseWriteParams(r *http.Request, verb string) (writeParams, error) {
	q := r.URL.Query()
	p := writeParams{FieldManager: q.Get("fieldManager"), FieldValidation: q.Get("fieldValidation")}
	for _, d := range q["dryRun"] {
		if d != metav1.DryRunAll {
			return p, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun: Unsupported value: %q: supported values: \"All\"", d))
		}
		p.DryRun = true
	}
	switch p.FieldValidation {
	case "", "Strict", "Warn", "Ignore":
	default:
		return p, apierrors.NewBadRequest(fmt.Sprintf("Invalid fieldValidation: Unsupported value: %q: supported values: \"Ignore\", \"Warn\", \"Strict\"", p.FieldValidation))
	}
	if p.FieldValidation == "" {
		p.FieldValidation = "Warn"
	}
	if f := q.Get("force"); f != "" {
		if verb != "patch" {
			return p, apierrors.NewBadRequest("force: Invalid value: force flag is only supported for apply patches")
		}
		p.Force = f == "true" || f == "1"
	}
	if len(p.FieldManager) > 128 {
		return p, apierrors.NewBadRequest("fieldManager: Too long: may not be more than 128 bytes")
	}
	if p.FieldManager == "" {
		p.FieldManager = userAgentManager(r)
	}
	return p, nil
}

// decodeObject decodes a request body into the resource's type, honouring
// fieldValidation: Strict fails on unknown/duplicate fields, Warn adds Warning headers.
func (s *Server) decodeObject(w http.ResponseWriter, r *http.Request, body []byte, gvk schema.GroupVersionKind, into runtime.Object, validation string) (runtime.Object, error) {
	dec, mt, err := s.decoderFor(r, validation != "Ignore")
	if err != nil {
		return nil, err
	}
	if len(body) == 0 {
		return nil, apierrors.NewBadRequest("the request body is empty")
	}
	if holdsQuantities(into) && hasHugeExponent(body) {
		return nil, apierrors.NewBadRequest("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$' with an exponent of at most 5 digits")
	}
	// A protobuf body of the expected kind (what client-go's typed clients send) is
	// unmarshalled in place; anything else, and any error, goes through the serializer,
	// which words the errors.
	if mt == mediaProtobuf {
		if ok, err := registry.UnmarshalProtobuf(body, gvk, into); ok && err == nil {
			into.GetObjectKind().SetGroupVersionKind(gvk)
			return into, nil
		}
	}
	obj, actual, err := dec.Decode(body, &gvk, into)
	if strictErr, ok := runtime.AsStrictDecodingError(err); ok && obj != nil && validation != "Strict" {
		for _, e := range strictErr.Errors() {
			addWarning(w, e.Error())
		}
		err = nil
	}
	if err != nil {
		return nil, decodeError(err, gvk.Kind, actual, body)
	}
	if actual != nil && (actual.GroupVersion() != gvk.GroupVersion()) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)", actual.GroupVersion().String(), gvk.GroupVersion().String()))
	}
	if actual != nil && actual.Kind != gvk.Kind {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", actual.Kind, gvk.Kind))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

// decodeError words a body that does not decode as Kubernetes' transformDecodeError does.
func decodeError(err error, kind string, actual *schema.GroupVersionKind, body []byte) error {
	if actual != nil && actual.Kind != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", actual.Kind, actual.Version, kind, err))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v (%s)", kind, err, summarizeData(body, 30)))
}

// summarizeData shows the start of a body that could not be decoded.
func summarizeData(data []byte, maxLength int) string {
	switch {
	case len(data) == 0:
		return "<empty>"
	case data[0] == '{':
		if len(data) > maxLength {
			return string(data[:maxLength]) + " ..."
		}
		return string(data)
	default:
		if len(data) > maxLength {
			return hex.EncodeToString(data[:maxLength]) + " ..."
		}
		return hex.EncodeToString(data)
	}
}

// addWarning adds a Warning header once per message, as kube-apiserver's recorder does
// (an update that is retried on a conflict decodes its object again).
func addWarning(w http.ResponseWriter, msg string) {
	v := fmt.Sprintf("299 - %q", msg)
	for _, have := range w.Header().Values("Warning") {
		if have == v {
			return
		}
	}
	w.Header().Add("Warning", v)
}

// decodedWrite is what a write handler reads before it acts.
type decodedWrite struct {
	out    output
	params writeParams
	obj    runtime.Object
	// exchange, when set, brought obj from an in-process client and takes the result.
	exchange *objectExchange
}

// readWrite negotiates the response format, parses the write parameters and decodes the
// body as gvk into into. When it returns false it has already answered the request.
func (s *Server) readWrite(w http.ResponseWriter, r *http.Request, verb string, gvk schema.GroupVersionKind, into runtime.Object) (decodedWrite, bool) {
	var req decodedWrite
	var err error
	if req.out, err = s.negotiateOutput(r); err == nil {
		if req.params, err = parseWriteParams(r, verb); err == nil {
			if ex := takeObjectExchange(r, verb, into); ex != nil {
				req.obj, req.exchange = ex.in, ex
				req.obj.GetObjectKind().SetGroupVersionKind(gvk)
			} else {
				var body []byte
				if body, err = readBody(r); err == nil {
					req.obj, err = s.decodeObject(w, r, body, gvk, into, req.params.FieldValidation)
				}
			}
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return req, false
	}
	return req, true
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	req, ok := s.readWrite(w, r, "create", st.Res.GVK(), st.Res.New())
	if !ok {
		return
	}
	out, params, obj := req.out, req.params, req.obj
	if u, ok := userFrom(r.Context()); ok {
		if err := nodeRestriction(u, info, obj); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if st.Res.Default != nil {
		st.Res.Default(obj)
	}
	if fm := s.fieldManagersFor(st.Res.GVR()); fm != nil {
		obj = fm.trackCreate(st.Res.New(), obj, params.FieldManager)
	}
	created, err := st.Create(r.Context(), info.Namespace, obj, registry.CreateOptions{DryRun: params.DryRun})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.exchange != nil && out.Kind == outputObject {
		req.exchange.give(w, http.StatusCreated, created)
		return
	}
	s.writeResult(w, r, out, http.StatusCreated, created, st)
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo, sub string) {
	req, ok := s.readWrite(w, r, "update", st.Res.GVK(), st.Res.New())
	if !ok {
		return
	}
	out, params, obj := req.out, req.params, req.obj
	accessor, err := meta.Accessor(obj)
	if err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	}
	if accessor.GetName() != info.Name {
		s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", accessor.GetName(), info.Name)))
		return
	}
	if st.Res.Namespaced && accessor.GetNamespace() != "" && accessor.GetNamespace() != info.Namespace {
		s.writeError(w, r, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	if st.Res.Default != nil {
		st.Res.Default(obj)
	}
	fms := s.fieldManagersFor(st.Res.GVR())
	res, err := st.Update(r.Context(), info.Namespace, info.Name, func(current runtime.Object) (runtime.Object, error) {
		live := current
		if live == nil {
			live = st.Res.New()
		}
		return fms.trackUpdate(sub, live, obj.DeepCopyObject(), params.FieldManager), nil
	}, registry.UpdateOptions{DryRun: params.DryRun, Subresource: sub, AllowCreate: st.Res.AllowCreateOnUpdate && sub == "", Put: true,
		ReadsCurrent: true}) // the field managers only read live
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

// newOptionsCodecs decodes DeleteOptions bodies, which clients send as meta.k8s.io/v1
// (kubectl) or in the group version of the resource (older clients); Kubernetes takes both.
func newOptionsCodecs(gvs []schema.GroupVersion) serializer.CodecFactory {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	for _, gv := range gvs {
		metav1.AddToGroupVersion(scheme, gv)
	}
	return serializer.NewCodecFactory(scheme)
}

// deleteOptions reads DeleteOptions from the body (JSON, YAML or protobuf) and the query.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, bool, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, false, err
	}
	if len(body) > 0 {
		_, mt, err := s.decoderFor(r, false)
		if err != nil {
			return nil, false, err
		}
		info, ok := runtime.SerializerInfoForMediaType(s.optionsCodecs.SupportedMediaTypes(), mt)
		if !ok {
			return nil, false, unsupportedMediaType(r.Header.Get("Content-Type"))
		}
		gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
		obj, _, err := info.Serializer.Decode(body, &gvk, opts)
		if err != nil {
			return nil, false, apierrors.NewBadRequest(err.Error())
		}
		o, ok := obj.(*metav1.DeleteOptions)
		if !ok {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("expected DeleteOptions, got %T", obj))
		}
		opts = o
	}
	q := r.URL.Query()
	if len(q) > 0 {
		fromQuery := &metav1.DeleteOptions{}
		if err := s.params.DecodeParameters(q, schema.GroupVersion{Version: "v1"}, fromQuery); err != nil {
			return nil, false, apierrors.NewBadRequest(err.Error())
		}
		if fromQuery.GracePeriodSeconds != nil {
			opts.GracePeriodSeconds = fromQuery.GracePeriodSeconds
		}
		if fromQuery.PropagationPolicy != nil {
			opts.PropagationPolicy = fromQuery.PropagationPolicy
		}
		if fromQuery.OrphanDependents != nil {
			opts.OrphanDependents = fromQuery.OrphanDependents
		}
		opts.DryRun = append(opts.DryRun, fromQuery.DryRun...)
	}
	dry := false
	for _, d := range opts.DryRun {
		if d != metav1.DryRunAll {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dryRun: Unsupported value: %q: supported values: \"All\"", d))
		}
		dry = true
	}
	return opts, dry, nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	out, err := s.negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := st.Delete(r.Context(), info.Namespace, info.Name, opts, dry)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Deleted && out.Kind == outputObject {
		s.writeObject(w, out, http.StatusOK, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details: &metav1.StatusDetails{
				Name: info.Name, Group: info.Group, Kind: info.Resource, UID: registry.ObjectUID(res.Object),
			},
		})
		return
	}
	s.writeResult(w, r, out, http.StatusOK, res.Object, st)
}

func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	out, err := s.negotiateOutput(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	_, listOpts, err := s.listOptions(r, st)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, dry, err := s.deleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := st.List(r.Context(), info.Namespace, listOpts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, _ := meta.ExtractList(list)
	var deleted []runtime.Object
	for _, item := range items {
		a, _ := meta.Accessor(item)
		res, err := st.Delete(r.Context(), a.GetNamespace(), a.GetName(), opts.DeepCopy(), dry)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		deleted = append(deleted, res.Object)
	}
	_ = meta.SetList(list, deleted)
	s.writeResult(w, r, out, http.StatusOK, list, st)
}
