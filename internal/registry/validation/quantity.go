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
func validateQuantitiesInRange(obj any) field.ErrorList {
	var allErrs field.ErrorList
	walkQuantities(reflect.ValueOf(obj), nil, &allErrs)
	return allErrs
}

func walkQuantities(v reflect.Value, p *field.Path, allErrs *field.ErrorList) {
	if !v.IsValid() || !mayContainQuantity(v.Type()) {
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkQuantities(v.Elem(), p, allErrs)
		}
	case reflect.Struct:
		if v.Type() == quantityType {
			q := v.Interface().(resource.Quantity)
			if !quantityInRange(q) {
				*allErrs = append(*allErrs, field.Invalid(p, fmt.Sprintf("%g", q.AsApproximateFloat64()), "must be a valid resource quantity"))
			}
			return
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := strings.Split(f.Tag.Get("json"), ",")[0]
			child := p
			switch {
			case name == "-":
				continue
			case name != "":
				child = childPath(p, name)
			case !f.Anonymous:
				child = childPath(p, f.Name)
			}
			walkQuantities(v.Field(i), child, allErrs)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkQuantities(v.Index(i), p.Index(i), allErrs)
		}
	case reflect.Map:
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			walkQuantities(v.MapIndex(k), p.Key(fmt.Sprint(k)), allErrs)
		}
	}
}

func childPath(p *field.Path, name string) *field.Path {
	if p == nil {
		return field.NewPath(name)
	}
	return p.Child(name)
}
