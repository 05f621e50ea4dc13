package apiserver

import (
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
)

// hasHugeExponent reports whether body holds a number with a six-digit (or longer)
// exponent. Parsing such a quantity (e.g. "1e-1000000000") takes apimachinery minutes to
// hours, so requests that carry one for a type with quantities are refused before
// decoding. The number must stand alone (not inside a word such as a uid "…-3e123456-…" or
// "…8e1234567890"), or ordinary objects are refused at random. Its specification is the
// expression hugeExponent in the tests; a regexp match on every write body cost about 3%
// of the server's CPU under load, so this scans once: at each e/E it looks right for a
// sign and six or more digits ending at a boundary, and left for the mantissa ([0-9.]+,
// taken whole, since a digit or dot cannot be the boundary before it), an optional sign,
// and the boundary.
func hasHugeExponent(body []byte) bool {
	for i, c := range body {
		if c != 'e' && c != 'E' {
			continue
		}
		j := i + 1
		if j < len(body) && (body[j] == '+' || body[j] == '-') {
			j++
		}
		digits := j
		for j < len(body) && isDigit(body[j]) {
			j++
		}
		if j-digits < 6 || (j < len(body) && isWordByte(body[j])) {
			continue
		}
		k := i
		for k > 0 && (isDigit(body[k-1]) || body[k-1] == '.') {
			k--
		}
		if k == i {
			continue // no mantissa
		}
		switch {
		case k == 0 || !isWordByte(body[k-1]) && body[k-1] != '.':
			return true // the boundary right before the mantissa ('+' is one)
		case body[k-1] == '+' || body[k-1] == '-':
			// A sign, then the boundary before it.
			if k == 1 || !isWordByte(body[k-2]) && body[k-2] != '.' {
				return true
			}
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isWordByte is [0-9A-Za-z-]: what may not border a standalone number.
func isWordByte(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-'
}

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
