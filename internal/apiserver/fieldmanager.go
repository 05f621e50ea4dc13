package apiserver

import (
	"bytes"
	"cmp"
	"fmt"
	"reflect"
	"slices"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/berth/berth/internal/registry"
)

// fieldManagers track managedFields for the main resource and its status subresource.
type fieldManagers struct {
	main, status *managedfields.FieldManager
	// creates remembers recent creates of pods: controllers stamp them out of templates.
	// Other objects are rarely created alike (events never: each says something else),
	// and remembering them would only cost — for a ConfigMap, its whole data as a key.
	creates         createFields
	rememberCreates bool
}

// trackCreate records manager's create of obj in its managedFields; empty is a new,
// empty object of obj's type.
func (f *fieldManagers) trackCreate(empty, obj runtime.Object, manager string) runtime.Object {
	if !f.rememberCreates {
		return f.main.UpdateNoErrors(empty, obj, manager)
	}
	return f.creates.track(f.main, empty, obj, manager)
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

// trackUpdate records manager's update of live to next in next's managedFields and
// returns next. The status subresource's field manager ignores spec and metadata
// (statusReset): what a status update owns, and what it takes from others, never depends
// on them. So for it the objects are compared without their spec and with no metadata
// but the managed fields (which it reads from live) — the same outcome, for a fraction
// of the work: the spec is most of an object, and a pod's status update otherwise walked
// every container, label and owner reference of both versions.
func (f *fieldManagers) trackUpdate(sub string, live, next runtime.Object, manager string) runtime.Object {
	fm := f.forSub(sub)
	if fm == nil {
		return next
	}
	if sub != "status" {
		return fm.UpdateNoErrors(live, next, manager)
	}
	liveLite, ok1 := statusView(live)
	nextLite, ok2 := statusView(next)
	nextMeta, err1 := meta.Accessor(next)
	liteMeta, err2 := meta.Accessor(liveLite)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return fm.UpdateNoErrors(live, next, manager)
	}
	kept, tracked, split := splitForStatus(liteMeta.GetManagedFields())
	if split {
		liteMeta.SetManagedFields(tracked)
	}
	out, err := meta.Accessor(fm.UpdateNoErrors(liveLite, nextLite, manager))
	if err != nil {
		return fm.UpdateNoErrors(live, next, manager)
	}
	entries := out.GetManagedFields()
	if split {
		entries = sortManagedFields(append(kept, entries...))
	}
	nextMeta.SetManagedFields(entries)
	return next
}

// maxUpdateManagers is the field managers' cap on entries of updates (the library's
// DefaultMaxUpdateManagers, which it does not export).
const maxUpdateManagers = 10

// splitForStatus divides a live object's managed fields for a status write: the entries
// of the status subresource, which the write may change, and the others, which it cannot
// — the main resource's managers own no status field (mainReset) — and which are kept as
// they are instead of being decoded and encoded again on every status write (a pod's
// creator's entry, its whole template, was most of that work). false when the split could
// give another result than the whole: another entry claims a status field (written before
// the reset filters), or the write could take the entries past the cap on update
// managers, where the oldest of all are merged.
func splitForStatus(entries []metav1.ManagedFieldsEntry) (kept, tracked []metav1.ManagedFieldsEntry, ok bool) {
	updates := 0
	for _, e := range entries {
		if e.Operation == metav1.ManagedFieldsOperationUpdate {
			updates++
		}
		if e.Subresource == "status" {
			tracked = append(tracked, e)
			continue
		}
		if e.FieldsV1 != nil && bytes.Contains(e.FieldsV1.Raw, []byte(`"f:status"`)) {
			return nil, nil, false
		}
		kept = append(kept, e)
	}
	if updates+1 > maxUpdateManagers {
		return nil, nil, false
	}
	return kept, tracked, true
}

// sortManagedFields orders entries as the field managers write them: by operation, time
// (seconds), manager, API version and subresource.
func sortManagedFields(entries []metav1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	seconds := func(t *metav1.Time) int64 {
		if t == nil {
			return 0
		}
		return t.Unix()
	}
	slices.SortStableFunc(entries, func(p, q metav1.ManagedFieldsEntry) int {
		return cmp.Or(
			cmp.Compare(p.Operation, q.Operation),
			cmp.Compare(seconds(p.Time), seconds(q.Time)),
			cmp.Compare(p.Manager, q.Manager),
			cmp.Compare(p.APIVersion, q.APIVersion),
			cmp.Compare(p.Subresource, q.Subresource),
		)
	})
	return entries
}

// statusView returns a shallow copy of obj (a pointer to a struct) with its Spec field
// zeroed and its metadata reduced to the managed fields; false when it has no Spec or
// ObjectMeta.
func statusView(obj runtime.Object) (runtime.Object, bool) {
	out, ok := shallowCopy(obj)
	if !ok {
		return nil, false
	}
	cp := reflect.ValueOf(out)
	spec := cp.Elem().FieldByName("Spec")
	om := cp.Elem().FieldByName("ObjectMeta")
	if !spec.IsValid() || !spec.CanSet() || !om.IsValid() || !om.CanSet() || om.Type() != reflect.TypeFor[metav1.ObjectMeta]() {
		return nil, false
	}
	spec.Set(reflect.Zero(spec.Type()))
	m := om.Addr().Interface().(*metav1.ObjectMeta)
	*m = metav1.ObjectMeta{ManagedFields: m.ManagedFields}
	return out, true
}

// shallowCopy returns a copy of the struct obj points to (sharing everything the struct
// refers to); false when obj is not a pointer to a struct.
func shallowCopy(obj runtime.Object) (runtime.Object, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	out, ok := cp.Interface().(runtime.Object)
	return out, ok
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
	// The managers only read the objects they convert to their own version, which every
	// object given here already has: as kube-apiserver does, they convert without a deep
	// copy of each (every live and new object they are given is the handler's own).
	conv := runtime.UnsafeObjectConvertor(codecs.Scheme)
	main, err := managedfields.NewDefaultFieldManager(tc, conv, def, codecs.Scheme, res.GVK(), res.GroupVersion, "", mainReset)
	if err != nil {
		return nil, fmt.Errorf("field manager for %s: %w", res.Name, err)
	}
	fm := &fieldManagers{main: main, rememberCreates: res.Name == "pods" && res.GroupVersion.Group == ""}
	if res.HasStatus {
		if fm.status, err = managedfields.NewDefaultFieldManager(tc, conv, def, codecs.Scheme, res.GVK(), res.GroupVersion, "status", statusReset); err != nil {
			return nil, fmt.Errorf("status field manager for %s: %w", res.Name, err)
		}
	}
	return fm, nil
}
