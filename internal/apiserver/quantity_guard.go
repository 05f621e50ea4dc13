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
// carry one for a type with quantities are refused before decoding. The number must stand
// alone (not inside a word such as a uid "…-3e123456-…" or "…8e1234567890"), or ordinary
// objects are refused at random.
var hugeExponent = regexp.MustCompile(`(^|[^0-9A-Za-z.\-])[+-]?[0-9.]+[eE][+-]?[0-9]{6,}($|[^0-9A-Za-z\-])`)

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
