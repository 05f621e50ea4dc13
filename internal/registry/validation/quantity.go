package validation

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var quantityType = reflect.TypeOf(resource.Quantity{})

// containsQuantity caches, per type, whether a value of it can hold a
// resource.Quantity, so the walk skips label maps, strings and the like.
var containsQuantity sync.Map // reflect.Type -> bool

func mayContainQuantity(t reflect.Type) bool {
	if v, ok := containsQuantity.Load(t); ok {
		return v.(bool)
	}
	// Assume no while computing, which ends recursion on cyclic types.
	containsQuantity.Store(t, false)
	result := false
	switch t.Kind() {
	case reflect.Struct:
		if t == quantityType {
			result = true
			break
		}
		for i := 0; i < t.NumField() && !result; i++ {
			if t.Field(i).IsExported() {
				result = mayContainQuantity(t.Field(i).Type)
			}
		}
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		result = mayContainQuantity(t.Elem())
	}
	containsQuantity.Store(t, result)
	return result
}

// validateQuantitiesInRange walks obj (any API object) and reports every
// quantity too large or too precise to compute with (see quantityInRange).
// It must run before anything formats or compares those quantities.
//
// It runs on every write of a pod, node or workload, so the walk visits only fields that
// may hold a quantity (per type, cached) and builds a field path only for an error.
func validateQuantitiesInRange(obj any) field.ErrorList {
	w := quantityWalk{}
	w.walk(reflect.ValueOf(obj))
	return w.errs
}

// quantityWalk is one walk: the path to the current value as steps, and the errors.
type quantityWalk struct {
	steps []pathStep
	errs  field.ErrorList
}

// pathStep is one step of a field path: a field name, a list index or a map key.
type pathStep struct {
	name  string
	key   string
	index int
	kind  uint8
}

const (
	stepField = iota
	stepIndex
	stepKey
)

func (w *quantityWalk) path() *field.Path {
	var p *field.Path
	for _, s := range w.steps {
		switch {
		case s.kind == stepField && p == nil:
			p = field.NewPath(s.name)
		case s.kind == stepField:
			p = p.Child(s.name)
		case s.kind == stepIndex:
			p = p.Index(s.index)
		default:
			p = p.Key(s.key)
		}
	}
	return p
}

func (w *quantityWalk) walk(v reflect.Value) {
	if !v.IsValid() || !mayContainQuantity(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			w.walk(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == quantityType {
			q := v.Interface().(resource.Quantity)
			if !quantityInRange(q) {
				w.errs = append(w.errs, field.Invalid(w.path(), fmt.Sprintf("%g", q.AsApproximateFloat64()), "must be a valid resource quantity"))
			}
			return
		}
		for _, f := range quantityFields(v.Type()) {
			if f.name == "" { // embedded without a name of its own: its fields are ours
				w.walk(v.Field(f.index))
				continue
			}
			w.steps = append(w.steps, pathStep{kind: stepField, name: f.name})
			w.walk(v.Field(f.index))
			w.steps = w.steps[:len(w.steps)-1]
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			w.steps = append(w.steps, pathStep{kind: stepIndex, index: i})
			w.walk(v.Index(i))
			w.steps = w.steps[:len(w.steps)-1]
		}
	case reflect.Map:
		type entry struct {
			key   string
			value reflect.Value
		}
		entries := make([]entry, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			k := it.Key()
			key := ""
			if k.Kind() == reflect.String {
				key = k.String()
			} else {
				key = fmt.Sprint(k)
			}
			entries = append(entries, entry{key, it.Value()})
		}
		// In key order, so the errors come in a stable order.
		sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
		for _, e := range entries {
			w.steps = append(w.steps, pathStep{kind: stepKey, key: e.key})
			w.walk(e.value)
			w.steps = w.steps[:len(w.steps)-1]
		}
	}
}

// quantityField is a struct field that may hold a quantity, with the name its path uses
// ("" for an embedded struct whose fields are inlined).
type quantityField struct {
	index int
	name  string
}

var quantityFieldsOf sync.Map // reflect.Type -> []quantityField

func quantityFields(t reflect.Type) []quantityField {
	if v, ok := quantityFieldsOf.Load(t); ok {
		return v.([]quantityField)
	}
	var out []quantityField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() || !mayContainQuantity(f.Type) {
			continue
		}
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		switch {
		case name == "-":
			continue
		case name == "" && !f.Anonymous:
			name = f.Name
		}
		out = append(out, quantityField{index: i, name: name})
	}
	quantityFieldsOf.Store(t, out)
	return out
}
