package apiserver

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// createFields remembers the managed fields that recent creates produced, by what the
// field manager sees of the object. Controllers create many objects from one template
// (a ReplicaSet's pods differ only in name and uid, which managed fields never record),
// and working out the fields of an object walks all of it: that was half of a pod
// create. The key is the manager and the object's JSON encoding with the metadata the
// field manager strips left out. The field manager sees an object through the same JSON
// names and omitempty rules, so an entry is reused only for an object it would see
// exactly the same, and its result is a pure function of that. (Protobuf is cheaper but
// blurs an empty list with a missing one, which managed fields tell apart.)
type createFields struct {
	mu      sync.Mutex
	entries map[string][]metav1.ManagedFieldsEntry
	order   []string // insertion order, oldest first, for eviction
}

// createFieldsSize bounds the remembered creates: a few templates being scaled at once;
// createFieldsMaxKey the size of one (a pod's JSON is a few KB).
const (
	createFieldsSize   = 64
	createFieldsMaxKey = 32 << 10
)

// track records manager's create of obj in its managedFields, as
// fm.UpdateNoErrors(empty, obj, manager) does, from memory when an equal create was
// recorded before.
func (c *createFields) track(fm interface {
	UpdateNoErrors(live, next runtime.Object, manager string) runtime.Object
}, empty, obj runtime.Object, manager string) runtime.Object {
	key, ok := createFieldsKey(obj, manager)
	if !ok {
		return fm.UpdateNoErrors(empty, obj, manager)
	}
	c.mu.Lock()
	entries, hit := c.entries[key]
	c.mu.Unlock()
	if hit {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetManagedFields(stampedCopy(entries, metav1.Time{Time: time.Now().UTC()}))
			return obj
		}
	}
	out := fm.UpdateNoErrors(empty, obj, manager)
	m, err := meta.Accessor(out)
	if err != nil {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string][]metav1.ManagedFieldsEntry{}
	}
	if _, ok := c.entries[key]; !ok {
		if len(c.order) == createFieldsSize {
			delete(c.entries, c.order[0])
			c.order = append(c.order[:0], c.order[1:]...)
		}
		c.order = append(c.order, key)
	}
	c.entries[key] = stampedCopy(m.GetManagedFields(), metav1.Time{})
	return out
}

// stampedCopy copies entries (their fields too: objects never share them) with time at.
func stampedCopy(entries []metav1.ManagedFieldsEntry, at metav1.Time) []metav1.ManagedFieldsEntry {
	if entries == nil {
		return nil
	}
	out := make([]metav1.ManagedFieldsEntry, len(entries))
	for i, e := range entries {
		out[i] = e
		if e.FieldsV1 != nil {
			out[i].FieldsV1 = &metav1.FieldsV1{Raw: bytes.Clone(e.FieldsV1.Raw)}
		}
		out[i].Time = nil
		if !at.IsZero() {
			t := at
			out[i].Time = &t
		}
	}
	return out
}

// createFieldsKey is manager and obj's JSON without what the field manager strips (type,
// name, namespace, uid, resourceVersion, generation, creationTimestamp, selfLink); false
// when obj carries managed fields of its own (the field manager starts from them), cannot
// be encoded or is too big to keep as a key.
func createFieldsKey(obj runtime.Object, manager string) (string, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return "", false
	}
	cp := reflect.New(v.Elem().Type()) // a shallow copy: only its own metadata fields change
	cp.Elem().Set(v.Elem())
	o, ok := cp.Interface().(runtime.Object)
	if !ok {
		return "", false
	}
	m, err := meta.Accessor(o)
	if err != nil || len(m.GetManagedFields()) > 0 {
		return "", false
	}
	o.GetObjectKind().SetGroupVersionKind(schema.GroupVersionKind{})
	m.SetName("")
	m.SetNamespace("")
	m.SetUID("")
	m.SetResourceVersion("")
	m.SetGeneration(0)
	m.SetCreationTimestamp(metav1.Time{})
	m.SetSelfLink("")
	b, err := json.Marshal(o)
	if err != nil || len(b) > createFieldsMaxKey {
		return "", false
	}
	return manager + "\x00" + string(b), true
}
