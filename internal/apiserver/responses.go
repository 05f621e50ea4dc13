package apiserver

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth/berth/internal/registry"
)

// statusFor turns any error into the Status the client sees. Errors that are not API
// errors are internal (500) — they should not happen and are logged.
func (s *Server) statusFor(err error) *metav1.Status {
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		st := apiStatus.Status()
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		st.Kind, st.APIVersion = "Status", "v1"
		return &st
	}
	s.log.Error("internal error", "err", err)
	st := apierrors.NewInternalError(err).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

// writeError writes err as a Status in the format the client accepts (JSON when it
// accepts nothing the server speaks).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := s.statusFor(err)
	out := s.outputFor(mediaJSON, outputObject)
	if o, err := s.negotiateOutput(r); err == nil {
		out = s.outputFor(o.MediaType, outputObject)
		out.Pretty = o.Pretty
	}
	// A 429 says when to retry only if its Details do, as Kubernetes: client-go waits
	// and retries on the header, and a refused eviction (a spent disruption budget) is
	// the caller's to retry — kubectl drain does, every 5 s.
	switch {
	case st.Code == http.StatusTooManyRequests && st.Details != nil && st.Details.RetryAfterSeconds > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	case st.Code == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "1")
	}
	s.writeObject(w, out, int(st.Code), st)
}

// writeObject encodes obj with the negotiated serializer.
func (s *Server) writeObject(w http.ResponseWriter, out output, code int, obj runtime.Object) {
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		if gvks, _, err := s.codecs.Scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
			obj.GetObjectKind().SetGroupVersionKind(gvks[0])
		}
	}
	w.Header().Set("Content-Type", out.MediaType)
	w.WriteHeader(code)
	enc := out.Info.Serializer
	if out.Pretty && out.Info.PrettySerializer != nil {
		enc = out.Info.PrettySerializer
	}
	if err := enc.Encode(obj, w); err != nil {
		s.log.Debug("encode response", "err", err)
	}
}

// writeResult writes an API object in the shape the client asked for (object, Table or
// PartialObjectMetadata).
func (s *Server) writeResult(w http.ResponseWriter, r *http.Request, out output, code int, obj runtime.Object, st *registry.Store) {
	switch out.Kind {
	case outputTable:
		table, err := s.asTable(r, obj, st)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, out, code, table)
		return
	case outputPartial:
		p, err := asPartial(obj)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeObject(w, out, code, p)
		return
	}
	if meta.IsListType(obj) {
		stripItemKinds(obj)
	}
	s.writeObject(w, out, code, obj)
}

// stripItemKinds clears apiVersion/kind of list items, as Kubernetes lists carry them
// only on the list.
func stripItemKinds(list runtime.Object) {
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
		return nil
	})
}

func asPartial(obj runtime.Object) (runtime.Object, error) {
	if meta.IsListType(obj) {
		list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}}
		lm, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, err
		}
		list.ResourceVersion, list.Continue, list.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
		err = meta.EachListItem(obj, func(o runtime.Object) error {
			p, err := partialCopy(o, false)
			if err != nil {
				return err
			}
			list.Items = append(list.Items, *p)
			return nil
		})
		return list, err
	}
	return partialCopy(obj, false)
}

// partialCopy returns a copy of o's metadata as PartialObjectMetadata, without its
// managedFields when drop is set (they are then not copied at all).
func partialCopy(o runtime.Object, drop bool) (*metav1.PartialObjectMetadata, error) {
	oma, ok := o.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	om, ok := oma.GetObjectMeta().(*metav1.ObjectMeta)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	if drop {
		shallow := *om
		shallow.ManagedFields = nil
		om = &shallow
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
		ObjectMeta: *om.DeepCopy(),
	}, nil
}

func notFoundPath(path string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: fmt.Sprintf("404 page not found: %s", path)}}},
	}}
}

func methodNotAllowed(verb string, info requestInfo) error {
	return apierrors.NewMethodNotSupported(schema.GroupResource{Group: info.Group, Resource: info.Resource}, verb)
}

func fieldErrs(path string, value any, detail string) field.ErrorList {
	return field.ErrorList{field.Invalid(field.NewPath(path), value, detail)}
}
