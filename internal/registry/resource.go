package registry

import (
	"context"
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one served resource: its names, its rules and its subresources.
// Function fields left nil mean "nothing to do".
type Resource struct {
	GroupVersion schema.GroupVersion
	// Name is the plural resource name ("pods").
	Name       string
	Kind       string
	Singular   string
	ShortNames []string
	Categories []string
	Namespaced bool
	// StorageResource names the storage key segment when it differs from Name (events
	// served from two groups share one store).
	StorageResource string
	// StorageForm, when set, stores objects as another type (events.k8s.io/v1 Events are
	// kept as core/v1 Events, so both APIs see the same events).
	StorageForm *StorageForm

	New     func() runtime.Object
	NewList func() runtime.Object

	// Default fills defaults in place (on create, update and patch results).
	Default func(obj runtime.Object)
	// PrepareForCreate sets server-owned fields on create (status phase, ...), after
	// the generic rules have reset status.
	PrepareForCreate func(obj runtime.Object)
	// PrepareForUpdate carries server-owned values from old into a main-resource update
	// (e.g. an allocated clusterIP the client omitted), before defaults and validation.
	PrepareForUpdate func(newObj, oldObj runtime.Object)
	// Allocator reserves cluster-wide values the object holds (service IPs, node ports).
	Allocator Allocator
	// Validate and ValidateUpdate check the object; field paths as Kubernetes reports them.
	Validate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate func(newObj, oldObj runtime.Object) field.ErrorList
	// ValidateStatusUpdate checks a write through the status subresource.
	ValidateStatusUpdate func(newObj, oldObj runtime.Object) field.ErrorList
	// NameValidation checks metadata.name (or generateName when prefix is true).
	NameValidation func(name string, prefix bool) []string

	// HasStatus means the resource has a status subresource: writes to the main resource
	// keep the stored status and writes to status keep the stored spec and metadata.
	HasStatus bool
	// KeepStatusOnCreate lets a create set status (nodes register with theirs, as in
	// Kubernetes); other resources start with an empty status.
	KeepStatusOnCreate bool
	// TrackGeneration bumps metadata.generation when the spec changes (or, for kinds
	// without a spec, one of GenerationFields: EndpointSlice's addressType, endpoints
	// and ports, as Kubernetes' strategy does).
	TrackGeneration  bool
	GenerationFields []string
	// Scale, when set, serves the scale subresource.
	Scale *ScaleAccess
	// Fields returns the field set field selectors match against.
	Fields func(obj runtime.Object) fields.Set
	// ConvertFields checks a field selector against the labels the resource supports and
	// rewrites legacy labels; its error is the client's fault (400).
	ConvertFields func(sel fields.Selector) (fields.Selector, error)
	// Table builds the server-side table (kubectl get columns) for objects.
	Table func(objs []runtime.Object, opts TableOptions) (*metav1.Table, error)
	// GracefulDelete returns the grace period for deleting obj when the request gave none
	// (and whether graceful deletion applies at all); only pods use it.
	GracefulDelete func(obj runtime.Object, requested *int64) (grace int64, graceful bool)
	// CheckDelete refuses deletes the resource never allows (Kubernetes' immortal
	// namespaces); nil allows all.
	CheckDelete func(obj runtime.Object) error
	// BeforeDelete may keep an object being deleted (namespaces wait for their content to
	// go); it may change obj, which is then written.
	BeforeDelete func(obj runtime.Object) (keep bool)
	// Finalized reports whether resource-specific finalization is done (namespaces: no
	// spec finalizers left); nil means always.
	Finalized func(obj runtime.Object) bool
	// Subresources lists served subresources besides status and scale ("binding", ...).
	Subresources []string
	// AllowCreateOnUpdate lets PUT create a missing object, as the Kubernetes strategy's
	// AllowCreateOnUpdate does (true for services, endpoints, events of both APIs, leases).
	AllowCreateOnUpdate bool
	// RequireResourceVersion refuses a PUT (UpdateOptions.Put) of an existing object without
	// metadata.resourceVersion (422), as a Kubernetes strategy whose
	// AllowUnconditionalUpdate is false does (leases).
	RequireResourceVersion bool
}

// Allocator reserves cluster-wide resources objects hold (service IPs, node ports) in
// storage, so that no two objects get the same one, even under concurrent writes.
type Allocator interface {
	// Allocate reserves what obj needs that old (nil on create) does not hold and fills
	// the assigned values into obj. After the object is written, commit releases what old
	// held that obj no longer does; if the write fails, undo releases what Allocate took.
	// A dry run reserves nothing.
	Allocate(ctx context.Context, obj, old runtime.Object, dryRun bool) (commit, undo func(), err error)
	// Release frees everything a deleted obj held.
	Release(ctx context.Context, obj runtime.Object)
}

// StorageForm converts between a served type and the type kept in storage.
type StorageForm struct {
	GVK         schema.GroupVersionKind
	New         func() runtime.Object
	ToStorage   func(obj runtime.Object) runtime.Object
	FromStorage func(stored runtime.Object) runtime.Object
}

// TableOptions are passed through to table printers.
type TableOptions struct {
	NoHeaders bool
}

// ScaleAccess reads and writes the replica fields of a scalable resource.
type ScaleAccess struct {
	// Get returns spec.replicas, status.replicas and the selector in string form.
	Get func(obj runtime.Object) (specReplicas, statusReplicas int32, selector string)
	// Set writes spec.replicas.
	Set func(obj runtime.Object, replicas int32)
}

// GVR returns the group/version/resource.
func (r *Resource) GVR() schema.GroupVersionResource {
	return r.GroupVersion.WithResource(r.Name)
}

// GVK returns the group/version/kind of one object.
func (r *Resource) GVK() schema.GroupVersionKind { return r.GroupVersion.WithKind(r.Kind) }

// GroupResource returns the group/resource used in API errors.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.GroupVersion.Group, Resource: r.Name}
}

// KeyPrefix returns the storage prefix for the resource in namespace ns ("" = all).
func (r *Resource) KeyPrefix(ns string) string {
	seg := r.StorageResource
	if seg == "" {
		seg = r.Name
	}
	p := "/registry/" + seg + "/"
	if r.Namespaced && ns != "" {
		p += ns + "/"
	}
	return p
}

// Key returns the storage key of one object.
func (r *Resource) Key(ns, name string) string {
	return r.KeyPrefix(ns) + name
}

// validKeySegment guards against names that would escape their key prefix.
func validKeySegment(s string) bool {
	return s != "" && s != "." && s != ".." && path.Base(s) == s
}
