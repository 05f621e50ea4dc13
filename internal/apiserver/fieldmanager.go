package apiserver

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/berth/berth/internal/registry"
)

// fieldManagers track managedFields for the main resource and its status subresource.
type fieldManagers struct {
	main, status *managedfields.FieldManager
}

func (f *fieldManagers) forSub(sub string) *managedfields.FieldManager {
	if f == nil {
		return nil
	}
	if sub == "status" {
		return f.status
	}
	return f.main
}

type defaulterFunc func(runtime.Object)

func (d defaulterFunc) Default(obj runtime.Object) {
	if d != nil {
		d(obj)
	}
}

func newFieldManagers(tc managedfields.TypeConverter, codecs *registry.Codecs, res *registry.Resource) (*fieldManagers, error) {
	version := fieldpath.APIVersion(res.GroupVersion.String())
	var mainReset, statusReset map[fieldpath.APIVersion]fieldpath.Filter
	if res.HasStatus {
		mainReset = map[fieldpath.APIVersion]fieldpath.Filter{
			version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
		}
		statusReset = map[fieldpath.APIVersion]fieldpath.Filter{
			version: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata"))),
		}
	}
	def := defaulterFunc(res.Default)
	main, err := managedfields.NewDefaultFieldManager(tc, codecs.Scheme, def, codecs.Scheme, res.GVK(), res.GroupVersion, "", mainReset)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.Name, err)
	}
	fm := &fieldManagers{main: main}
	if res.HasStatus {
		if fm.status, err = managedfields.NewDefaultFieldManager(tc, codecs.Scheme, def, codecs.Scheme, res.GVK(), res.GroupVersion, "status", statusReset); err != nil {
			return nil, fmt.Errorf("status field manager for %s: %w", res.Name, err)
		}
	}
	return fm, nil
}
