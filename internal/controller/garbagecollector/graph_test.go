package garbagecollector

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var configmaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// obj builds the metadata of a ConfigMap named after its uid.
type obj struct {
	uid        types.UID
	owners     []metav1.OwnerReference
	finalizers []string
	deleting   bool
}

func (o obj) node() *node {
	m := &metav1.ObjectMeta{Name: string(o.uid), Namespace: "ns", UID: o.uid, OwnerReferences: o.owners, Finalizers: o.finalizers}
	if o.deleting {
		ts := metav1.NewTime(time.Unix(1, 0))
		m.DeletionTimestamp = &ts
	}
	return newNode(configmaps, m)
}

func ref(owner types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: string(owner), UID: owner, BlockOwnerDeletion: &block}
}

func sorted(uids []types.UID) []types.UID {
	out := slices.Clone(uids)
	slices.Sort(out)
	return slices.Compact(out)
}

func syncedGraph(objs ...obj) *graph {
	g := newGraph()
	for _, o := range objs {
		g.upsert(o.node())
	}
	g.markSynced()
	return g
}

func TestGraphWork(t *testing.T) {
	owner := obj{uid: "owner"}
	child := obj{uid: "child", owners: []metav1.OwnerReference{ref("owner", true)}}
	loose := obj{uid: "loose", owners: []metav1.OwnerReference{ref("owner", false)}}
	tests := []struct {
		name       string
		graph      []obj
		upsert     *obj
		remove     types.UID
		wantDelete []types.UID
		wantOrphan []types.UID
	}{
		{
			name: "a status-like update changes nothing", graph: []obj{owner, child},
			upsert: &child,
		},
		{
			name: "an owner deleted: its dependents may be dangling", graph: []obj{owner, child, loose},
			remove: "owner", wantDelete: []types.UID{"child", "loose"},
		},
		{
			name: "a dependent naming an unobserved owner is checked", graph: []obj{owner},
			upsert: &obj{uid: "stray", owners: []metav1.OwnerReference{ref("ghost", false)}}, wantDelete: []types.UID{"stray"},
		},
		{
			name: "an owner turning to foreground deletion: itself and all dependents", graph: []obj{owner, child, loose},
			upsert:     &obj{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true},
			wantDelete: []types.UID{"owner", "child", "loose"},
		},
		{
			name: "a finalizer without deletionTimestamp is no deletion", graph: []obj{owner, child},
			upsert: &obj{uid: "owner", finalizers: []string{finalizerForeground, finalizerOrphan}},
		},
		{
			name: "an owner turning to orphan deletion goes to the orphan queue", graph: []obj{owner, child},
			upsert:     &obj{uid: "owner", finalizers: []string{finalizerOrphan}, deleting: true},
			wantOrphan: []types.UID{"owner"},
		},
		{
			name:   "a blocking dependent deleted: the foreground owner is looked at",
			graph:  []obj{{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true}, child},
			remove: "child", wantDelete: []types.UID{"owner"},
		},
		{
			name:       "a reference dropped: the foreground owner is looked at",
			graph:      []obj{{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true}, child},
			upsert:     &obj{uid: "child"},
			wantDelete: []types.UID{"owner"},
		},
		{
			name:       "a new dependent of a foreground owner: both are looked at",
			graph:      []obj{{uid: "owner", finalizers: []string{finalizerForeground}, deleting: true}},
			upsert:     &child,
			wantDelete: []types.UID{"child", "owner"},
		},
		{
			name:   "a dependent already being deleted is not queued for its missing owner again",
			graph:  []obj{{uid: "stray", owners: []metav1.OwnerReference{ref("ghost", false)}}},
			upsert: &obj{uid: "stray", owners: []metav1.OwnerReference{ref("ghost", false)}, deleting: true, finalizers: []string{"example.com/x"}},
		},
		{
			name: "removing an unknown uid is a no-op", graph: []obj{owner},
			remove: "nobody",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := syncedGraph(tt.graph...)
			var w work
			if tt.upsert != nil {
				w = g.upsert(tt.upsert.node())
			} else {
				w = g.remove(tt.remove)
			}
			if got, want := sorted(w.attemptToDelete), sorted(tt.wantDelete); !slices.Equal(got, want) {
				t.Errorf("attemptToDelete = %v, want %v", got, want)
			}
			if got, want := sorted(w.attemptToOrphan), sorted(tt.wantOrphan); !slices.Equal(got, want) {
				t.Errorf("attemptToOrphan = %v, want %v", got, want)
			}
		})
	}
}

// TestGraphInitialSync: nothing is queued while the graph fills; markSynced queues what a
// collector that was down left half-done, whatever order the objects came in.
func TestGraphInitialSync(t *testing.T) {
	g := newGraph()
	objs := []obj{
		{uid: "child", owners: []metav1.OwnerReference{ref("owner", true)}}, // before its owner
		{uid: "owner"},
		{uid: "dangling", owners: []metav1.OwnerReference{ref("gone", false)}},
		{uid: "orphaning", finalizers: []string{finalizerOrphan}, deleting: true},
		{uid: "fg", finalizers: []string{finalizerForeground}, deleting: true},
		{uid: "fg-child", owners: []metav1.OwnerReference{ref("fg", true)}},
	}
	for _, o := range objs {
		if w := g.upsert(o.node()); len(w.attemptToDelete)+len(w.attemptToOrphan) > 0 {
			t.Fatalf("work queued before sync: %+v", w)
		}
	}
	if w := g.remove("nothing"); len(w.attemptToDelete) > 0 {
		t.Fatalf("work queued before sync: %+v", w)
	}
	w := g.markSynced()
	if got, want := sorted(w.attemptToDelete), sorted([]types.UID{"dangling", "fg", "fg-child"}); !slices.Equal(got, want) {
		t.Errorf("attemptToDelete = %v, want %v", got, want)
	}
	if got, want := sorted(w.attemptToOrphan), []types.UID{"orphaning"}; !slices.Equal(got, want) {
		t.Errorf("attemptToOrphan = %v, want %v", got, want)
	}
}

func TestGraphDependents(t *testing.T) {
	g := syncedGraph(
		obj{uid: "owner"},
		obj{uid: "blocking", owners: []metav1.OwnerReference{ref("owner", true)}},
		obj{uid: "loose", owners: []metav1.OwnerReference{ref("owner", false)}},
		obj{uid: "other", owners: []metav1.OwnerReference{ref("someone", true)}},
		obj{uid: "fg-dependent", owners: []metav1.OwnerReference{ref("blocking", false)}, finalizers: []string{finalizerForeground}, deleting: true},
	)
	uidsOf := func(nodes []node) []types.UID {
		var out []types.UID
		for _, n := range nodes {
			out = append(out, n.ref.UID)
		}
		return sorted(out)
	}
	if got := uidsOf(g.dependentsOf("owner")); !slices.Equal(got, []types.UID{"blocking", "loose"}) {
		t.Errorf("dependentsOf(owner) = %v", got)
	}
	if got := uidsOf(g.blockingDependents("owner")); !slices.Equal(got, []types.UID{"blocking"}) {
		t.Errorf("blockingDependents(owner) = %v", got)
	}
	if has, fg := g.dependentsState("owner"); !has || fg {
		t.Errorf("dependentsState(owner) = %v, %v; want true, false", has, fg)
	}
	if has, fg := g.dependentsState("blocking"); !has || !fg {
		t.Errorf("dependentsState(blocking) = %v, %v; want true, true", has, fg)
	}
	if has, _ := g.dependentsState("loose"); has {
		t.Errorf("loose has no dependents")
	}

	// Dropping the blocking reference unlinks it; deleting a dependent drops it.
	g.upsert(obj{uid: "blocking"}.node())
	g.remove("loose")
	if got := uidsOf(g.dependentsOf("owner")); len(got) != 0 {
		t.Errorf("dependentsOf(owner) after unlink = %v", got)
	}
	if len(g.dependents["owner"]) != 0 {
		t.Errorf("index keeps empty entries: %v", g.dependents)
	}
}
