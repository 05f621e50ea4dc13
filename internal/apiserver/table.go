package apiserver

import (
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/registry"
)

// asTable renders obj (one object or a list) as a meta.k8s.io/v1 Table with the
// resource's columns; includeObject says what each row carries.
func (s *Server) asTable(r *http.Request, obj runtime.Object, st *registry.Store) (*metav1.Table, error) {
	policy := metav1.IncludeMetadata
	if p := r.URL.Query().Get("includeObject"); p != "" {
		policy = metav1.IncludeObjectPolicy(p)
		switch policy {
		case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		default:
			return nil, apierrors.NewBadRequest(fmt.Sprintf("includeObject: Unsupported value: %q: supported values: \"None\", \"Metadata\", \"Object\"", p))
		}
	}
	var items []runtime.Object
	isList := meta.IsListType(obj)
	if isList {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
	} else {
		items = []runtime.Object{obj}
	}
	if st.Res.Table == nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("no table for %s", st.Res.Name))
	}
	table, err := st.Res.Table(items, registry.TableOptions{NoHeaders: r.URL.Query().Get("noHeaders") == "true"})
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	table.Kind, table.APIVersion = "Table", "meta.k8s.io/v1"
	if isList {
		if lm, err := meta.ListAccessor(obj); err == nil {
			table.ResourceVersion, table.Continue, table.RemainingItemCount = lm.GetResourceVersion(), lm.GetContinue(), lm.GetRemainingItemCount()
		}
	} else if a, err := meta.Accessor(obj); err == nil {
		table.ResourceVersion = a.GetResourceVersion()
	}
	for i := range table.Rows {
		if i >= len(items) {
			break
		}
		switch policy {
		case metav1.IncludeNone:
			table.Rows[i].Object = runtime.RawExtension{}
		case metav1.IncludeObject:
			item := items[i]
			item.GetObjectKind().SetGroupVersionKind(st.Res.GVK())
			table.Rows[i].Object = runtime.RawExtension{Object: item}
		default:
			p, err := asPartial(items[i])
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			table.Rows[i].Object = runtime.RawExtension{Object: p}
		}
	}
	return table, nil
}
