package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strconv"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth/berth/internal/storage"
)

// NamespaceCheck returns an API error when an object of resource gr named name (empty
// when generated) cannot be created in ns (missing or terminating).
type NamespaceCheck func(ctx context.Context, gr schema.GroupResource, ns, name string) error

// Admission is admission that needs more than the object: each step may read other
// resources and returns an API error to refuse. old is nil on create. Neither runs for
// subresource writes.
type Admission struct {
	// Mutate may change the object; it runs before the resource's rules (defaults,
	// validation), after the namespace check, as mutating admission does in Kubernetes.
	Mutate func(ctx context.Context, obj, old runtime.Object) error
	// Validate runs after the resource's validation, as validating admission does.
	Validate func(ctx context.Context, obj, old runtime.Object) error
}

// Store applies a resource's rules over storage. One Store serves one resource.
type Store struct {
	Res     *Resource
	storage storage.Interface
	codec   storageCodec
	log     *slog.Logger
	now     func() time.Time
	// NamespaceCheck guards creates of namespaced objects; nil allows all.
	NamespaceCheck NamespaceCheck
	// Admission holds the admission steps that read other objects (Kubernetes' Priority
	// plugin); the zero value admits all.
	Admission Admission
	// cache serves watches when started (StartWatchCache).
	cache *watchCache
	// BookmarkInterval is the least time between two bookmarks a watch sends from storage
	// progress (0: one per progress event).
	BookmarkInterval time.Duration
	// TTL, when set, makes each object expire that long after its last write, as
	// kube-apiserver does for events (--event-ttl); 0: objects stay until deleted.
	TTL time.Duration
}

// NewStore returns the store of res over st.
func NewStore(res *Resource, st storage.Interface, scheme *runtime.Scheme, log *slog.Logger) *Store {
	return &Store{Res: res, storage: st, codec: newStorageCodec(scheme), log: log, now: time.Now}
}

// create and update write to storage, with the store's TTL when it has one: every
// write restarts an object's clock, as kube-apiserver's TTL function for events does.
func (s *Store) create(ctx context.Context, key string, data []byte) (int64, error) {
	if s.TTL > 0 {
		return s.storage.CreateWithTTL(ctx, key, data, s.TTL)
	}
	return s.storage.Create(ctx, key, data)
}

func (s *Store) update(ctx context.Context, key string, data []byte, rev int64) (int64, error) {
	if s.TTL > 0 {
		return s.storage.UpdateWithTTL(ctx, key, data, rev, s.TTL)
	}
	return s.storage.Update(ctx, key, data, rev)
}

// Storage exposes the backend (for watch fan-out and health checks).
func (s *Store) Storage() storage.Interface { return s.storage }

// Get reads one object.
func (s *Store) Get(ctx context.Context, ns, name string) (runtime.Object, error) {
	obj, _, err := s.get(ctx, ns, name)
	return obj, err
}

func (s *Store) get(ctx context.Context, ns, name string) (runtime.Object, storage.KeyValue, error) {
	if !validKeySegment(name) {
		return nil, storage.KeyValue{}, apierrors.NewNotFound(s.Res.GroupResource(), name)
	}
	kv, err := s.storage.Get(ctx, s.Res.Key(ns, name))
	if err != nil {
		return nil, kv, s.storageError(err, name)
	}
	obj, err := s.codec.decode(s.Res, kv)
	if err != nil {
		return nil, kv, apierrors.NewInternalError(err)
	}
	return obj, kv, nil
}

// CreateOptions modify a create.
type CreateOptions struct {
	DryRun bool
}

// Create stores a new object. ns is the namespace from the request path.
func (s *Store) Create(ctx context.Context, ns string, obj runtime.Object, opts CreateOptions) (runtime.Object, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if err := s.checkNamespace(accessor, ns); err != nil {
		return nil, err
	}
	// Kubernetes checks the namespace in admission, before validation.
	if s.Res.Namespaced && s.NamespaceCheck != nil {
		// A name still to be generated is reported by its generateName, as kube-apiserver's
		// admission does.
		name := accessor.GetName()
		if name == "" {
			name = accessor.GetGenerateName()
		}
		if err := s.NamespaceCheck(ctx, s.Res.GroupResource(), accessor.GetNamespace(), name); err != nil {
			return nil, err
		}
	}
	if s.Admission.Mutate != nil {
		if err := s.Admission.Mutate(ctx, obj, nil); err != nil {
			return nil, err
		}
	}
	s.prepareCreate(obj, accessor)
	if errs := s.validateCreate(obj, accessor); len(errs) > 0 {
		return nil, apierrors.NewInvalid(s.Res.GVK().GroupKind(), accessor.GetName(), errs)
	}
	if s.Admission.Validate != nil {
		if err := s.Admission.Validate(ctx, obj, nil); err != nil {
			return nil, err
		}
	}
	commit, undo, err := s.allocate(ctx, obj, nil, opts.DryRun)
	if err != nil {
		return nil, err
	}
	generated := accessor.GetName() == "" && accessor.GetGenerateName() != ""
	for attempt := 0; ; attempt++ {
		if generated {
			accessor.SetName(generateName(accessor.GetGenerateName()))
		}
		data, err := s.codec.encode(s.Res, obj)
		if err != nil {
			undo()
			return nil, apierrors.NewInternalError(err)
		}
		if opts.DryRun {
			// A dry run still reports a name clash.
			if _, err := s.storage.Get(ctx, s.Res.Key(accessor.GetNamespace(), accessor.GetName())); err == nil {
				if generated && attempt < 8 {
					continue
				}
				return nil, apierrors.NewAlreadyExists(s.Res.GroupResource(), accessor.GetName())
			}
			return obj, nil
		}
		rev, err := s.create(ctx, s.Res.Key(accessor.GetNamespace(), accessor.GetName()), data)
		if errors.Is(err, storage.ErrKeyExists) && generated && attempt < 8 {
			continue
		}
		if err != nil {
			undo()
			return nil, s.storageWriteError(err, accessor.GetName())
		}
		commit()
		accessor.SetResourceVersion(formatRV(rev))
		return obj, nil
	}
}

func (s *Store) checkNamespace(accessor metav1.Object, ns string) error {
	if !s.Res.Namespaced {
		accessor.SetNamespace("")
		return nil
	}
	switch objNS := accessor.GetNamespace(); {
	case objNS == "":
		accessor.SetNamespace(ns)
	case ns != "" && objNS != ns:
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

func (s *Store) prepareCreate(obj runtime.Object, accessor metav1.Object) {
	accessor.SetUID(uuid.NewUUID())
	accessor.SetCreationTimestamp(metav1.NewTime(s.now().Truncate(time.Second)))
	accessor.SetResourceVersion("")
	accessor.SetDeletionTimestamp(nil)
	accessor.SetDeletionGracePeriodSeconds(nil)
	accessor.SetSelfLink("")
	if s.Res.TrackGeneration {
		accessor.SetGeneration(1)
	} else {
		accessor.SetGeneration(0)
	}
	if s.Res.HasStatus && !s.Res.KeepStatusOnCreate {
		resetField(obj, "Status")
	}
	if s.Res.PrepareForCreate != nil {
		s.Res.PrepareForCreate(obj)
	}
	if s.Res.Default != nil {
		s.Res.Default(obj)
	}
}

func (s *Store) validateCreate(obj runtime.Object, accessor metav1.Object) field.ErrorList {
	var errs field.ErrorList
	if accessor.GetName() == "" && accessor.GetGenerateName() == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "name"), "name or generateName is required"))
	}
	if s.Res.Validate != nil {
		errs = append(errs, s.Res.Validate(obj)...)
	}
	return dedupe(errs)
}

// UpdateFunc turns the current object (nil when absent and creation is allowed) into the
// desired one. It may return an API error to abort.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// UpdateOptions modify an update.
type UpdateOptions struct {
	DryRun bool
	// Subresource is "" or "status".
	Subresource string
	// AllowCreate lets the update create a missing object (PUT on some resources, apply).
	AllowCreate bool
	// Put says the caller sent the whole object (a PUT, not a patch or apply): resources
	// with RequireResourceVersion then refuse it without metadata.resourceVersion.
	Put bool
	// ReadsCurrent says fn only reads the current object and returns one of its own, so
	// it is given the update's own copy instead of another deep copy of it.
	ReadsCurrent bool
}

// UpdateResult says what an update did.
type UpdateResult struct {
	Object  runtime.Object
	Created bool
	// Deleted is true when the update removed the last finalizer of an object being
	// deleted, so the object is gone.
	Deleted bool
	// unchanged: the update asked for no change, so nothing was written.
	unchanged bool
}

// cached returns a private copy of the watch cache's newest state of an object, with the
// key and revision to write against; false when the cache has none.
func (s *Store) cached(ns, name string) (runtime.Object, storage.KeyValue, bool) {
	if s.cache == nil || !validKeySegment(name) {
		return nil, storage.KeyValue{}, false
	}
	ev, ok := s.cache.get(s.Res.Key(ns, name))
	if !ok {
		return nil, storage.KeyValue{}, false
	}
	// Events are shared by every watcher; the update path mutates what it is given.
	return ev.obj.DeepCopyObject(), storage.KeyValue{Key: ev.key, ModRevision: ev.rev}, true
}

// Update reads, transforms and writes one object with optimistic concurrency. A stale
// resourceVersion given by the caller is a 409; races with other writers are retried.
//
// The first attempt starts from the watch cache's copy of the object when it has one, as
// kube-apiserver's GuaranteedUpdate does: a linearizable read from etcd waits for every
// write before it to be applied, which under load cost as long as the write itself (tens
// of ms per binding or status update). The write is conditional on the copy's revision,
// so a stale copy cannot win; any answer other than a successful write — a conflict, an
// error from fn or the rules, or "nothing changed" — is worked out again from storage.
func (s *Store) Update(ctx context.Context, ns, name string, fn UpdateFunc, opts UpdateOptions) (UpdateResult, error) {
	fromCache := !opts.DryRun // a dry run answers from the latest state, writing nothing to check it
	for {
		if fromCache {
			fromCache = false
			if current, kv, ok := s.cached(ns, name); ok {
				res, retry, err := s.tryUpdate(ctx, current, kv, fn, opts)
				switch {
				case err == nil && !retry && !res.unchanged:
					return res, nil
				case err != nil && storageFailed(err):
					// The write may have happened: do not write again on a fresh read.
					return res, err
				}
			}
		}
		current, kv, err := s.get(ctx, ns, name)
		if apierrors.IsNotFound(err) && opts.AllowCreate && validKeySegment(name) {
			obj, err := fn(nil)
			if err != nil {
				return UpdateResult{}, err
			}
			accessor, err := meta.Accessor(obj)
			if err != nil {
				return UpdateResult{}, apierrors.NewBadRequest(err.Error())
			}
			if accessor.GetName() == "" {
				accessor.SetName(name)
			}
			if accessor.GetResourceVersion() != "" {
				return UpdateResult{}, apierrors.NewNotFound(s.Res.GroupResource(), name)
			}
			created, err := s.Create(ctx, ns, obj, CreateOptions{DryRun: opts.DryRun})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			return UpdateResult{Object: created, Created: true}, err
		}
		if err != nil {
			return UpdateResult{}, err
		}
		res, retry, err := s.tryUpdate(ctx, current, kv, fn, opts)
		if retry {
			continue
		}
		return res, err
	}
}

func (s *Store) tryUpdate(ctx context.Context, current runtime.Object, kv storage.KeyValue, fn UpdateFunc, opts UpdateOptions) (UpdateResult, bool, error) {
	oldAccessor, _ := meta.Accessor(current)
	arg := current
	if !opts.ReadsCurrent {
		arg = current.DeepCopyObject()
	}
	obj, err := fn(arg)
	if err != nil {
		return UpdateResult{}, false, err
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return UpdateResult{}, false, apierrors.NewBadRequest(err.Error())
	}
	name := oldAccessor.GetName()
	if accessor.GetName() != name {
		return UpdateResult{}, false, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", accessor.GetName(), name))
	}
	callerRV := accessor.GetResourceVersion()
	if callerRV != "" && callerRV != oldAccessor.GetResourceVersion() {
		return UpdateResult{}, false, apierrors.NewConflict(s.Res.GroupResource(), name, errors.New(OptimisticLockErrorMsg))
	}
	if opts.Put && callerRV == "" && s.Res.RequireResourceVersion {
		// Kubernetes names the resource where the kind goes in this one message.
		gk := schema.GroupKind{Group: s.Res.GroupVersion.Group, Kind: s.Res.Name}
		return UpdateResult{}, false, apierrors.NewInvalid(gk, name, field.ErrorList{
			field.Invalid(field.NewPath("metadata", "resourceVersion"), uint64(0), "must be specified for an update")})
	}
	if s.Res.Namespaced && accessor.GetNamespace() == "" {
		accessor.SetNamespace(oldAccessor.GetNamespace())
	}
	if accessor.GetUID() == "" {
		accessor.SetUID(oldAccessor.GetUID())
	}
	if ts := accessor.GetCreationTimestamp(); ts.IsZero() {
		accessor.SetCreationTimestamp(oldAccessor.GetCreationTimestamp())
	}
	// The write is conditional on the version read, whether or not the caller gave one.
	accessor.SetResourceVersion(oldAccessor.GetResourceVersion())
	// Deletion state belongs to the server.
	accessor.SetDeletionTimestamp(oldAccessor.GetDeletionTimestamp())
	accessor.SetDeletionGracePeriodSeconds(oldAccessor.GetDeletionGracePeriodSeconds())
	accessor.SetGeneration(oldAccessor.GetGeneration())

	var errs field.ErrorList
	switch opts.Subresource {
	case "status":
		copyField(obj, current, "Spec")
		resetMetaForStatus(accessor, oldAccessor)
		if s.Res.Default != nil {
			s.Res.Default(obj)
		}
		if s.Res.ValidateStatusUpdate != nil {
			errs = s.Res.ValidateStatusUpdate(obj, current)
		}
	case "binding", "finalize":
		// The binding handler changed only spec.nodeName, annotations and the
		// PodScheduled condition; finalize only spec.finalizers. Their handlers check.
	default:
		if s.Admission.Mutate != nil {
			if err := s.Admission.Mutate(ctx, obj, current); err != nil {
				return UpdateResult{}, false, err
			}
		}
		if s.Res.HasStatus {
			copyField(obj, current, "Status")
		}
		if s.Res.PrepareForUpdate != nil {
			s.Res.PrepareForUpdate(obj, current)
		}
		if s.Res.Default != nil {
			s.Res.Default(obj)
		}
		if s.Res.TrackGeneration && s.specChanged(obj, current) {
			accessor.SetGeneration(oldAccessor.GetGeneration() + 1)
		}
		if s.Res.ValidateUpdate != nil {
			errs = s.Res.ValidateUpdate(obj, current)
		}
	}
	if errs = dedupe(errs); len(errs) > 0 {
		return UpdateResult{}, false, apierrors.NewInvalid(s.Res.GVK().GroupKind(), name, errs)
	}
	if opts.Subresource == "" && s.Admission.Validate != nil {
		if err := s.Admission.Validate(ctx, obj, current); err != nil {
			return UpdateResult{}, false, err
		}
	}
	if oldAccessor.GetDeletionTimestamp() != nil && len(accessor.GetFinalizers()) == 0 && gracePeriodDone(oldAccessor) &&
		(s.Res.Finalized == nil || s.Res.Finalized(obj)) {
		if opts.DryRun {
			return UpdateResult{Object: obj, Deleted: true}, false, nil
		}
		_, _, err := s.storage.Delete(ctx, kv.Key, kv.ModRevision)
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			return UpdateResult{}, true, nil
		}
		if err != nil {
			return UpdateResult{}, false, s.storageWriteError(err, name)
		}
		s.release(ctx, current)
		return UpdateResult{Object: obj, Deleted: true}, false, nil
	}
	data, err := s.codec.encode(s.Res, obj)
	if err != nil {
		return UpdateResult{}, false, apierrors.NewInternalError(err)
	}
	// Nothing changed: no write, no new resourceVersion. As in Kubernetes, "nothing" is
	// judged on the stored bytes (protobuf encoding is deterministic), which costs a
	// fraction of a reflective comparison of the objects.
	stored := kv.Value
	if stored == nil {
		if stored, err = s.codec.encode(s.Res, current); err != nil {
			return UpdateResult{}, false, apierrors.NewInternalError(err)
		}
	}
	if bytes.Equal(data, stored) {
		return UpdateResult{Object: current, unchanged: true}, false, nil
	}
	commit, undo := func() {}, func() {}
	if opts.Subresource == "" && s.Res.Allocator != nil {
		if commit, undo, err = s.allocate(ctx, obj, current, opts.DryRun); err != nil {
			return UpdateResult{}, false, err
		}
		// Allocation may have filled in fields (a service's ports, say).
		if data, err = s.codec.encode(s.Res, obj); err != nil {
			undo()
			return UpdateResult{}, false, apierrors.NewInternalError(err)
		}
	}
	if opts.DryRun {
		return UpdateResult{Object: obj}, false, nil
	}
	rev, err := s.update(ctx, kv.Key, data, kv.ModRevision)
	if err != nil {
		undo()
	} else {
		commit()
	}
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		if callerRV != "" {
			return UpdateResult{}, false, apierrors.NewConflict(s.Res.GroupResource(), name, errors.New(OptimisticLockErrorMsg))
		}
		return UpdateResult{}, true, nil
	}
	if err != nil {
		return UpdateResult{}, false, s.storageWriteError(err, name)
	}
	accessor.SetResourceVersion(formatRV(rev))
	return UpdateResult{Object: obj}, false, nil
}

// allocate runs the resource's allocator, if any.
func (s *Store) allocate(ctx context.Context, obj, old runtime.Object, dryRun bool) (commit, undo func(), err error) {
	if s.Res.Allocator == nil {
		return func() {}, func() {}, nil
	}
	return s.Res.Allocator.Allocate(ctx, obj, old, dryRun)
}

// release frees what a deleted object held.
func (s *Store) release(ctx context.Context, obj runtime.Object) {
	if s.Res.Allocator != nil {
		s.Res.Allocator.Release(context.WithoutCancel(ctx), obj)
	}
}

// storageFailed: storage could not do or confirm a write (not a conflict, not a rule).
func storageFailed(err error) bool {
	return apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err)
}

// OptimisticLockErrorMsg is Kubernetes' text for a stale resourceVersion.
const OptimisticLockErrorMsg = "the object has been modified; please apply your changes to the latest version and try again"

// gracePeriodDone is true when an object being deleted has no grace period left to wait
// for (finalizer-only deletions set it to 0).
func gracePeriodDone(m metav1.Object) bool {
	g := m.GetDeletionGracePeriodSeconds()
	return g == nil || *g == 0
}

// resetMetaForStatus keeps the metadata a status write may not change. Annotations may
// change, as the workload and pod status strategies of Kubernetes allow (the deployment
// controller records its revision there); labels, finalizers, owners and deletion state
// may not.
func resetMetaForStatus(meta, old metav1.Object) {
	meta.SetDeletionTimestamp(old.GetDeletionTimestamp())
	meta.SetGeneration(old.GetGeneration())
	meta.SetSelfLink(old.GetSelfLink())
	meta.SetLabels(old.GetLabels())
	meta.SetFinalizers(old.GetFinalizers())
	meta.SetOwnerReferences(old.GetOwnerReferences())
}

// storageWriteError is storageError for writes: when storage could not say whether a
// write was applied (a timeout inside etcd), the answer is a 500 without Retry-After, so
// clients do not blindly repeat a create or update that may have happened.
func (s *Store) storageWriteError(err error, name string) error {
	if errors.Is(err, storage.ErrUnavailable) {
		return apierrors.NewInternalError(fmt.Errorf("storage did not confirm the write of %q (it may or may not have been applied): %w", name, err))
	}
	return s.storageError(err, name)
}

func (s *Store) storageError(err error, name string) error {
	gr := s.Res.GroupResource()
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrKeyExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New(OptimisticLockErrorMsg))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	case errors.Is(err, storage.ErrFuture):
		return tooLargeResourceVersion("Too large resource version")
	case errors.Is(err, context.DeadlineExceeded):
		return apierrors.NewTimeoutError("request did not complete within the allowed duration", 1)
	case errors.Is(err, storage.ErrUnavailable):
		return apierrors.NewServiceUnavailable("storage is unavailable")
	}
	s.log.Error("storage error", "resource", gr.String(), "name", name, "err", err)
	return apierrors.NewInternalError(err)
}

// tooLargeResourceVersion is Kubernetes' answer to a resourceVersion newer than the store:
// a 504 whose ResourceVersionTooLarge cause tells client-go's reflector to relist.
func tooLargeResourceVersion(msg string) error {
	err := apierrors.NewTimeoutError(msg, 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// formatRV and ParseRV convert revisions to resourceVersions.
func formatRV(rev int64) string { return strconv.FormatInt(rev, 10) }

// ParseRV parses a resourceVersion; "" and "0" give 0.
func ParseRV(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %q", rv))
	}
	return n, nil
}

// specChanged reports whether an update changes what metadata.generation counts: the
// Spec, or the Resource's GenerationFields for kinds without one.
func (s *Store) specChanged(obj, old runtime.Object) bool {
	fields := s.Res.GenerationFields
	if len(fields) == 0 {
		fields = []string{"Spec"}
	}
	for _, f := range fields {
		if !apiequality.Semantic.DeepEqual(fieldOf(obj, f), fieldOf(old, f)) {
			return true
		}
	}
	return false
}

func fieldOf(obj runtime.Object, name string) any {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName(name)
	if !f.IsValid() {
		return nil
	}
	return f.Interface()
}

func copyField(dst, src runtime.Object, name string) {
	d := reflect.ValueOf(dst).Elem().FieldByName(name)
	s := reflect.ValueOf(src).Elem().FieldByName(name)
	if d.IsValid() && s.IsValid() && d.CanSet() {
		d.Set(s)
	}
}

func resetField(obj runtime.Object, name string) {
	f := reflect.ValueOf(obj).Elem().FieldByName(name)
	if f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

func dedupe(errs field.ErrorList) field.ErrorList {
	if len(errs) < 2 {
		return errs
	}
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		k := e.Error()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, e)
	}
	return out
}

// ObjectUID returns the uid of obj (for delete preconditions).
func ObjectUID(obj runtime.Object) types.UID {
	a, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return a.GetUID()
}

// generateName names an object from its generateName as kube-apiserver's
// SimpleNameGenerator does: the prefix cut to 58 characters, then 5 random ones, so a
// generated name is at most 63 characters (a valid DNS label, e.g. a pod's hostname).
func generateName(prefix string) string {
	const randomLength, maxGeneratedPrefix = 5, 63 - 5
	if len(prefix) > maxGeneratedPrefix {
		prefix = prefix[:maxGeneratedPrefix]
	}
	return prefix + utilrand.String(randomLength)
}
