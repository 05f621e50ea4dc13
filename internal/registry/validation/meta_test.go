package validation

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateObjectMeta(t *testing.T) {
	meta := field.NewPath("metadata")
	cases := []struct {
		name       string
		meta       metav1.ObjectMeta
		namespaced bool
		nameFn     ValidateNameFunc
		want       []want
	}{
		{"valid", metav1.ObjectMeta{Name: "web", Namespace: "default"}, true, NameIsDNSSubdomain, none()},
		{"generateName only", metav1.ObjectMeta{GenerateName: "web-", Namespace: "default"}, true, NameIsDNSSubdomain, none()},
		{"bad generateName", metav1.ObjectMeta{GenerateName: "Web_", Namespace: "default"}, true, NameIsDNSSubdomain,
			errs(inv("metadata.generateName", ""))},
		{"no name", metav1.ObjectMeta{Namespace: "default"}, true, NameIsDNSSubdomain,
			errs(reqd("metadata.name", "name or generateName is required"))},
		{"name with slash under lax rule", metav1.ObjectMeta{Name: "a/b", Namespace: "default"}, true, NameIsPathSegment,
			errs(inv("metadata.name", "may not contain '/'"))},
		{"name with percent under no rule", metav1.ObjectMeta{Name: "a%b", Namespace: "default"}, true, nil,
			errs(inv("metadata.name", "may not contain '%'"))},
		{"dot name", metav1.ObjectMeta{Name: ".", Namespace: "default"}, true, NameIsPathSegment,
			errs(inv("metadata.name", "may not be '.'"))},
		{"dot name with subdomain rule", metav1.ObjectMeta{Name: ".", Namespace: "default"}, true, NameIsDNSSubdomain,
			errs(inv("metadata.name", ""))},
		{"namespace required", metav1.ObjectMeta{Name: "web"}, true, NameIsDNSSubdomain, errs(req("metadata.namespace"))},
		{"namespace forbidden", metav1.ObjectMeta{Name: "web", Namespace: "x"}, false, NameIsDNSSubdomain, errs(forb("metadata.namespace", ""))},
		{"bad namespace", metav1.ObjectMeta{Name: "web", Namespace: "a.b"}, true, NameIsDNSSubdomain, errs(inv("metadata.namespace", ""))},
		{"bad label", metav1.ObjectMeta{Name: "web", Namespace: "d", Labels: map[string]string{"a": "b c"}}, true, NameIsDNSSubdomain,
			errs(inv("metadata.labels", ""))},
		{"bad annotation key", metav1.ObjectMeta{Name: "web", Namespace: "d", Annotations: map[string]string{"a b": "x"}}, true, NameIsDNSSubdomain,
			errs(inv("metadata.annotations", ""))},
		{"annotations too large", metav1.ObjectMeta{Name: "web", Namespace: "d", Annotations: map[string]string{"a": strings.Repeat("x", 256*1024)}}, true, NameIsDNSSubdomain,
			errs(tooLong("metadata.annotations"))},
		{"owner reference incomplete", metav1.ObjectMeta{Name: "web", Namespace: "d", OwnerReferences: []metav1.OwnerReference{{}}}, true, NameIsDNSSubdomain,
			errs(req("metadata.ownerReferences[0].apiVersion"), req("metadata.ownerReferences[0].kind"),
				req("metadata.ownerReferences[0].name"), req("metadata.ownerReferences[0].uid"))},
		{"finalizer unqualified", metav1.ObjectMeta{Name: "web", Namespace: "d", Finalizers: []string{"cleanup"}}, true, NameIsDNSSubdomain,
			errs(inv("metadata.finalizers[0]", "name is neither a standard finalizer name nor is it fully qualified"))},
		{"finalizer qualified and standard", metav1.ObjectMeta{Name: "web", Namespace: "d", Finalizers: []string{"example.com/cleanup", "foregroundDeletion"}}, true, NameIsDNSSubdomain,
			none()},
		{"finalizer invalid", metav1.ObjectMeta{Name: "web", Namespace: "d", Finalizers: []string{"example.com/a b"}}, true, NameIsDNSSubdomain,
			errs(inv("metadata.finalizers", ""))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, ValidateObjectMeta(&tc.meta, tc.namespaced, tc.nameFn, meta), tc.want)
		})
	}
}

func TestValidateObjectMetaUpdate(t *testing.T) {
	now := metav1.NewTime(time.Unix(1000, 0))
	old := metav1.ObjectMeta{Name: "web", Namespace: "d", UID: "u1", ResourceVersion: "5", Generation: 2,
		CreationTimestamp: now, Finalizers: []string{"example.com/a"}}
	cases := []struct {
		name   string
		mutate func(*metav1.ObjectMeta, *metav1.ObjectMeta)
		want   []want
	}{
		{"unchanged", func(n, o *metav1.ObjectMeta) {}, none()},
		{"labels change", func(n, o *metav1.ObjectMeta) { n.Labels = map[string]string{"a": "b"} }, none()},
		{"name", func(n, o *metav1.ObjectMeta) { n.Name = "x" }, errs(inv("metadata.name", "field is immutable"))},
		{"namespace", func(n, o *metav1.ObjectMeta) { n.Namespace = "x" }, errs(inv("metadata.namespace", "field is immutable"))},
		{"uid", func(n, o *metav1.ObjectMeta) { n.UID = "u2" }, errs(inv("metadata.uid", "field is immutable"))},
		{"creationTimestamp", func(n, o *metav1.ObjectMeta) { n.CreationTimestamp = metav1.NewTime(time.Unix(2000, 0)) },
			errs(inv("metadata.creationTimestamp", "field is immutable"))},
		{"generation decremented", func(n, o *metav1.ObjectMeta) { n.Generation = 1 }, errs(inv("metadata.generation", "must not be decremented"))},
		{"no resourceVersion", func(n, o *metav1.ObjectMeta) { n.ResourceVersion = "" }, errs(inv("metadata.resourceVersion", ""))},
		{"finalizer added while deleting", func(n, o *metav1.ObjectMeta) {
			o.DeletionTimestamp = &now
			n.DeletionTimestamp = &now
			n.Finalizers = append(n.Finalizers, "example.com/b")
		}, errs(forb("metadata.finalizers", "no new finalizers can be added if the object is being deleted"))},
		{"unqualified finalizer", func(n, o *metav1.ObjectMeta) { n.Finalizers = []string{"x"} }, errs(inv("metadata.finalizers[0]", ""))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := *old.DeepCopy()
			n := *old.DeepCopy()
			tc.mutate(&n, &o)
			expectErrors(t, ValidateObjectMetaUpdate(&n, &o, field.NewPath("metadata")), tc.want)
		})
	}
}

func TestValidateLabelSelector(t *testing.T) {
	cases := []struct {
		name string
		sel  *metav1.LabelSelector
		want []want
	}{
		{"nil", nil, none()},
		{"valid", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}}}}, none()},
		{"bad value", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a b"}}, errs(inv("selector.matchLabels", ""))},
		{"In without values", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn}}},
			errs(req("selector.matchExpressions[0].values"))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectErrors(t, ValidateLabelSelector(tc.sel, field.NewPath("selector")), tc.want)
		})
	}
}
