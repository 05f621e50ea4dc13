package garbagecollector

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

// apiObjects is what the fake API server holds, by name (all ConfigMaps in "ns").
type apiObjects map[string]*metav1.PartialObjectMetadata

func live(uid types.UID, finalizers ...string) *metav1.PartialObjectMetadata {
	p := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: string(uid), Namespace: "ns", UID: uid, Finalizers: finalizers, ResourceVersion: "7"}}
	if len(finalizers) > 0 {
		ts := metav1.Now()
		p.DeletionTimestamp = &ts
	}
	return p
}

// newTestCollector returns a collector over a fake API holding objects, with graph
// filled from nodes, and the fake to read the requests from.
func newTestCollector(t *testing.T, objects apiObjects, nodes ...obj) (*GarbageCollector, *metadatafake.FakeMetadataClient) {
	t.Helper()
	md := metadatafake.NewSimpleMetadataClient(runtime.NewScheme())
	md.PrependReactor("get", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		name := a.(clienttesting.GetAction).GetName()
		if o, ok := objects[name]; ok {
			return true, o, nil
		}
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
	})
	md.PrependReactor("patch", "*", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "8"}}, nil
	})
	md.PrependReactor("delete", "*", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil
	})
	gc := newCollector(md, nil, slog.New(slog.DiscardHandler))
	t.Cleanup(func() {
		gc.attemptToDelete.ShutDown()
		gc.attemptToOrphan.ShutDown()
	})
	gc.resources = &resources{byKind: map[schema.GroupVersionKind]kindInfo{
		{Version: "v1", Kind: "ConfigMap"}: {resource: configmaps, namespaced: true},
	}}
	for _, n := range nodes {
		gc.graph.upsert(n.node())
	}
	gc.graph.markSynced()
	return gc, md
}

// requests renders the fake's write requests (and GETs) as "verb name [detail]".
func requests(md *metadatafake.FakeMetadataClient) []string {
	var out []string
	for _, a := range md.Actions() {
		switch a := a.(type) {
		case clienttesting.PatchAction:
			out = append(out, "patch "+a.GetName()+" "+string(a.GetPatch()))
		case clienttesting.DeleteAction:
			o := a.GetDeleteOptions()
			detail := string(*o.PropagationPolicy)
			if p := o.Preconditions; p != nil {
				detail += " uid=" + string(*p.UID) + " rv=" + *p.ResourceVersion
			}
			out = append(out, "delete "+a.GetName()+" "+detail)
		case clienttesting.GetAction: // last: patches and deletes have names too
			out = append(out, "get "+a.GetName())
		}
	}
	return out
}

func TestAttemptToDelete(t *testing.T) {
	blocking := []metav1.OwnerReference{ref("owner", true)}
	tests := []struct {
		name    string
		objects apiObjects
		graph   []obj
		item    types.UID
		want    []string
	}{
		{
			name:  "owner gone: delete in the background, only if unchanged",
			graph: []obj{{uid: "dep", owners: blocking}},
			item:  "dep",
			want:  []string{"get owner", "delete dep Background uid=dep rv=1"},
		},
		{
			name:    "owner replaced by a namesake: delete",
			objects: apiObjects{"owner": {ObjectMeta: metav1.ObjectMeta{Name: "owner", UID: "another"}}},
			graph:   []obj{{uid: "dep", owners: blocking}},
			item:    "dep",
			want:    []string{"get owner", "delete dep Background uid=dep rv=1"},
		},
		{
			name:    "owner present: nothing",
			objects: apiObjects{"owner": live("owner")},
			graph:   []obj{{uid: "owner"}, {uid: "dep", owners: blocking}},
			item:    "dep",
			want:    []string{"get owner"},
		},
		{
			name:    "one owner gone, one present: the dangling reference is patched out",
			objects: apiObjects{"owner": live("owner")},
			graph:   []obj{{uid: "dep", owners: []metav1.OwnerReference{ref("owner", false), ref("gone", false)}}},
			item:    "dep",
			want:    []string{"get owner", "get gone", `patch dep {"metadata":{"ownerReferences":[{"$patch":"delete","uid":"gone"}],"uid":"dep"}}`},
		},
		{
			name:    "blocking a foreground owner, with dependents of its own: foreground delete",
			objects: apiObjects{"owner": live("owner", finalizerForeground)},
			graph: []obj{
				{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true},
				{uid: "dep", owners: blocking},
				{uid: "grandchild", owners: []metav1.OwnerReference{ref("dep", true)}},
			},
			item: "dep",
			want: []string{"get owner", "delete dep Foreground uid=dep rv=1"},
		},
		{
			name:    "a foreground cycle: unblock, then delete at the new version",
			objects: apiObjects{"owner": live("owner", finalizerForeground)},
			graph: []obj{
				{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true, owners: []metav1.OwnerReference{ref("dep", true)}},
				{uid: "dep", owners: blocking},
			},
			item: "dep",
			want: []string{
				"get owner",
				`patch dep {"metadata":{"ownerReferences":[{"apiVersion":"v1","blockOwnerDeletion":false,"kind":"ConfigMap","name":"owner","uid":"owner"}],"uid":"dep"}}`,
				"delete dep Foreground uid=dep rv=8",
			},
		},
		{
			name:  "foreground owner without blocking dependents: its finalizer goes",
			graph: []obj{{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true}, {uid: "loose", owners: []metav1.OwnerReference{ref("owner", false)}}},
			item:  "owner",
			want:  []string{`patch owner {"metadata":{"$deleteFromPrimitiveList/finalizers":["foregroundDeletion"],"uid":"owner"}}`},
		},
		{
			name:  "foreground owner with a blocking dependent: wait, queue the dependent",
			graph: []obj{{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true}, {uid: "dep", owners: blocking}},
			item:  "owner",
		},
		{
			name:  "being deleted without foreground: nothing",
			graph: []obj{{uid: "dep", owners: blocking, deleting: true, finalizers: []string{"example.com/x"}}},
			item:  "dep",
		},
		{
			name: "not in the graph (deleted meanwhile): nothing",
			item: "dep",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gc, md := newTestCollector(t, tt.objects, tt.graph...)
			setRV(gc, "1")
			if err := gc.attemptToDeleteItem(context.Background(), tt.item); err != nil {
				t.Fatal(err)
			}
			if got := requests(md); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestAttemptToDeleteCachesAbsentOwners(t *testing.T) {
	gc, md := newTestCollector(t, nil,
		obj{uid: "a", owners: []metav1.OwnerReference{ref("owner", false)}},
		obj{uid: "b", owners: []metav1.OwnerReference{ref("owner", false)}},
	)
	for _, uid := range []types.UID{"a", "b"} {
		if err := gc.attemptToDeleteItem(context.Background(), uid); err != nil {
			t.Fatal(err)
		}
	}
	gets := 0
	for _, r := range requests(md) {
		if strings.HasPrefix(r, "get ") {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("%d GETs of the gone owner, want 1: %v", gets, requests(md))
	}
}

func TestAttemptToOrphan(t *testing.T) {
	graph := []obj{
		{uid: "owner", finalizers: []string{finalizerOrphan}, deleting: true},
		{uid: "dep", owners: []metav1.OwnerReference{ref("owner", true)}},
	}
	t.Run("dependents released, then the finalizer removed", func(t *testing.T) {
		gc, md := newTestCollector(t, apiObjects{"owner": live("owner", finalizerOrphan)}, graph...)
		if err := gc.attemptToOrphanItem(context.Background(), "owner"); err != nil {
			t.Fatal(err)
		}
		want := []string{
			"get owner",
			`patch dep {"metadata":{"ownerReferences":[{"$patch":"delete","uid":"owner"}],"uid":"dep"}}`,
			`patch owner {"metadata":{"$deleteFromPrimitiveList/finalizers":["orphan"],"uid":"owner"}}`,
		}
		if got := requests(md); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("the live owner no longer orphans (deleted again with another policy): nothing", func(t *testing.T) {
		gc, md := newTestCollector(t, apiObjects{"owner": live("owner", "example.com/x")}, graph...)
		if err := gc.attemptToOrphanItem(context.Background(), "owner"); err != nil {
			t.Fatal(err)
		}
		if got := requests(md); len(got) != 1 {
			t.Errorf("requests = %v, want only the GET", got)
		}
	})
}

// setRV gives every node in the graph the resourceVersion rv.
func setRV(gc *GarbageCollector, rv string) {
	gc.graph.mu.Lock()
	defer gc.graph.mu.Unlock()
	for _, n := range gc.graph.nodes {
		n.resourceVersion = rv
	}
}

func TestDeleteRetriesConflictsThatKeepTheOwners(t *testing.T) {
	owners := []metav1.OwnerReference{ref("owner", true)}
	tests := []struct {
		name       string
		liveOwners []metav1.OwnerReference
		wantErr    bool
		want       []string
	}{
		{
			name: "owners unchanged (e.g. a status update): retried at the live version", liveOwners: owners,
			want: []string{"get owner", "delete dep Background uid=dep rv=1", "get dep", "delete dep Background uid=dep rv=9"},
		},
		{
			name: "owners changed (adopted meanwhile): back to the queue", liveOwners: []metav1.OwnerReference{ref("new-owner", true)}, wantErr: true,
			want: []string{"get owner", "delete dep Background uid=dep rv=1", "get dep"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			liveDep := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "dep", UID: "dep", ResourceVersion: "9", OwnerReferences: tt.liveOwners}}
			gc, md := newTestCollector(t, apiObjects{"dep": liveDep}, obj{uid: "dep", owners: owners})
			setRV(gc, "1")
			conflicts := 1
			md.PrependReactor("delete", "*", func(clienttesting.Action) (bool, runtime.Object, error) {
				if conflicts > 0 {
					conflicts--
					return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "dep", errors.New("the ResourceVersion in the precondition does not match"))
				}
				return true, nil, nil
			})
			err := gc.attemptToDeleteItem(context.Background(), "dep")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tt.wantErr)
			}
			if got := requests(md); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
