package apiserver

import (
	"reflect"
	"regexp"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

// hugeExponent matches a number with a six-digit (or longer) exponent. Parsing such a
// quantity (e.g. "1e-1000000000") takes apimachinery minutes to hours, so requests that
// carry one for a type with quantities are refused before decoding.
var hugeExponent = regexp.MustCompile(`[0-9.][eE][+-]?[0-9]{6,}`)

var quantityType = reflect.TypeOf(resource.Quantity{})

// quantityTypes caches whether a Go type holds resource.Quantity values anywhere.
var quantityTypes sync.Map // reflect.Type → bool

func holdsQuantities(obj runtime.Object) bool {
	t := reflect.TypeOf(obj)
	if v, ok := quantityTypes.Load(t); ok {
		return v.(bool)
	}
	has := typeHolds(t, quantityType, map[reflect.Type]bool{})
	quantityTypes.Store(t, has)
	return has
}

func typeHolds(t, want reflect.Type, seen map[reflect.Type]bool) bool {
	if t == want {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return typeHolds(t.Elem(), want, seen)
	case reflect.Map:
		return typeHolds(t.Key(), want, seen) || typeHolds(t.Elem(), want, seen)
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			if typeHolds(t.Field(i).Type, want, seen) {
				return true
			}
		}
	}
	return false
}
