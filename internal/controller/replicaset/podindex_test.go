package replicaset

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

func TestPodIndex(t *testing.T) {
	yes := true
	pod := func(ns, name string, owner types.UID, controller bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		if owner != "" {
			ref := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: owner}
			if controller {
				ref.Controller = &yes
			}
			p.OwnerReferences = []metav1.OwnerReference{ref}
		}
		return p
	}
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{podsByController: controllerIndex})
	for _, p := range []*corev1.Pod{
		pod("a", "mine-1", "uid-1", true),
		pod("a", "mine-2", "uid-1", true),
		pod("a", "sibling", "uid-2", true),
		pod("a", "orphan", "", false),
		pod("a", "owned-not-controlled", "uid-1", false), // an owner, no controller: an orphan
		pod("b", "orphan-elsewhere", "", false),
		pod("b", "foreign-ref", "uid-1", true), // same UID from another namespace: not ours
	} {
		if err := indexer.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	idx := podIndex{indexer}
	names := func(pods []*corev1.Pod, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range pods {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"candidates of uid-1 in a", names(idx.candidates("a", "uid-1")), []string{"mine-1", "mine-2", "orphan", "owned-not-controlled"}},
		{"controlled by uid-2 in a", names(idx.controlledBy("a", "uid-2")), []string{"sibling"}},
		{"candidates of uid-1 in b", names(idx.candidates("b", "uid-1")), []string{"foreign-ref", "orphan-elsewhere"}},
		{"controlled by unknown", names(idx.controlledBy("a", "uid-9")), nil},
	} {
		if !slices.Equal(tc.got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
