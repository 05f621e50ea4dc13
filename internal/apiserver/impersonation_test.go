package apiserver

import "testing"

func TestSplitServiceAccount(t *testing.T) {
	for _, tc := range []struct {
		user     string
		ns, name string
		ok       bool
	}{
		{"system:serviceaccount:default:builder", "default", "builder", true},
		{"system:serviceaccount:kube-system:default", "kube-system", "default", true},
		{"system:serviceaccount:default", "", "", false},
		{"system:serviceaccount::x", "", "", false},
		{"system:serviceaccount:ns:", "", "", false},
		{"system:serviceaccount:ns:a:b", "", "", false},
		{"system:serviceaccounts:ns", "", "", false},
		{"bob", "", "", false},
	} {
		ns, name, ok := splitServiceAccount(tc.user)
		if ns != tc.ns || name != tc.name || ok != tc.ok {
			t.Errorf("%q: %q %q %v, want %q %q %v", tc.user, ns, name, ok, tc.ns, tc.name, tc.ok)
		}
	}
}
