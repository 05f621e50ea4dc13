package garbagecollector

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
)

func TestDecide(t *testing.T) {
	type owner struct {
		uid   types.UID
		block bool
		state ownerState
	}
	tests := []struct {
		name   string
		owners []owner
		facts  dependentFacts
		want   decision
	}{
		{
			name:   "a present owner keeps it",
			owners: []owner{{"a", true, ownerPresent}},
			want:   decision{action: actionNone},
		},
		{
			name:   "its only owner gone: background delete",
			owners: []owner{{"a", false, ownerGone}},
			want:   decision{action: actionDelete, policy: metav1.DeletePropagationBackground},
		},
		{
			name:   "all owners gone: delete",
			owners: []owner{{"a", false, ownerGone}, {"b", true, ownerGone}},
			want:   decision{action: actionDelete, policy: metav1.DeletePropagationBackground},
		},
		{
			name:   "one owner present, one gone: the gone reference is removed",
			owners: []owner{{"a", false, ownerPresent}, {"b", false, ownerGone}},
			want:   decision{action: actionRemoveOwnerRefs, removeUIDs: []types.UID{"b"}},
		},
		{
			name:   "one owner present, one waiting: the waiting reference is removed",
			owners: []owner{{"a", false, ownerPresent}, {"b", true, ownerDeletingDependents}},
			want:   decision{action: actionRemoveOwnerRefs, removeUIDs: []types.UID{"b"}},
		},
		{
			name:   "a non-blocking reference to a foreground owner is solid: it goes after the owner",
			owners: []owner{{"a", false, ownerDeletingDependents}},
			want:   decision{action: actionNone},
		},
		{
			name:   "blocking a foreground owner, no dependents of its own: delete at once",
			owners: []owner{{"a", true, ownerDeletingDependents}},
			want:   decision{action: actionDelete, policy: metav1.DeletePropagationBackground},
		},
		{
			name:   "blocking a foreground owner with dependents: delete in the foreground",
			owners: []owner{{"a", true, ownerDeletingDependents}},
			facts:  dependentFacts{hasDependents: true},
			want:   decision{action: actionDelete, policy: metav1.DeletePropagationForeground},
		},
		{
			name:   "a dependent of it deletes in the foreground too: unblock first (cycle)",
			owners: []owner{{"a", true, ownerDeletingDependents}},
			facts:  dependentFacts{hasDependents: true, dependentDeletingDependents: true},
			want:   decision{action: actionDelete, policy: metav1.DeletePropagationForeground, unblockFirst: true},
		},
		{
			name:   "owner gone, its own orphan finalizer is honoured",
			owners: []owner{{"a", false, ownerGone}},
			facts:  dependentFacts{finalizers: []string{finalizerOrphan}},
			want:   decision{action: actionDelete, policy: metav1.DeletePropagationOrphan},
		},
		{
			name:   "owner gone, its own foreground finalizer is honoured",
			owners: []owner{{"a", false, ownerGone}},
			facts:  dependentFacts{finalizers: []string{"example.com/x", finalizerForeground}},
			want:   decision{action: actionDelete, policy: metav1.DeletePropagationForeground},
		},
		{
			name: "no references: nothing to do",
			want: decision{action: actionNone},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c classified
			for _, o := range tt.owners {
				c.add(ref(o.uid, o.block), o.state)
			}
			if got := decide(c, tt.facts); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decide = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDiscoverResources(t *testing.T) {
	all := metav1.Verbs{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	disc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: all},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
			{Name: "namespaces", Kind: "Namespace", Verbs: all},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: metav1.Verbs{"get", "patch", "update"}},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: metav1.Verbs{"create"}},
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: all},
		}},
	}}}
	res, err := discoverResources(disc)
	if err != nil {
		t.Fatal(err)
	}
	var watched []string
	for _, gvr := range res.watched {
		watched = append(watched, gvr.String())
	}
	want := []string{"/v1, Resource=configmaps", "/v1, Resource=namespaces", "apps/v1, Resource=deployments"}
	if !reflect.DeepEqual(watched, want) {
		t.Errorf("watched = %q, want %q", watched, want)
	}
	for _, tt := range []struct {
		apiVersion, kind string
		want             string
		namespaced, ok   bool
	}{
		{"v1", "ConfigMap", "configmaps", true, true},
		{"v1", "Namespace", "namespaces", false, true},
		{"apps/v1", "Deployment", "deployments", true, true},
		{"apps/v1beta2", "Deployment", "deployments", true, true}, // another version of the group
		{"example.com/v1", "Widget", "", false, false},
		{"not/a/version", "ConfigMap", "", false, false},
	} {
		info, ok := res.resolve(tt.apiVersion, tt.kind)
		if ok != tt.ok || info.resource.Resource != tt.want || info.namespaced != tt.namespaced {
			t.Errorf("resolve(%s, %s) = %+v, %v", tt.apiVersion, tt.kind, info, ok)
		}
	}
}
