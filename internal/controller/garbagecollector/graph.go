package garbagecollector

import (
	"slices"
	"sync"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Finalizers the API server sets for non-background propagation.
const (
	finalizerOrphan     = metav1.FinalizerOrphanDependents
	finalizerForeground = metav1.FinalizerDeleteDependents
)

// objectRef names one object the collector can read, patch and delete.
type objectRef struct {
	Resource  schema.GroupVersionResource
	Namespace string
	Name      string
	UID       types.UID
}

func (r objectRef) String() string {
	if r.Namespace == "" {
		return r.Resource.Resource + "/" + r.Name
	}
	return r.Resource.Resource + "/" + r.Namespace + "/" + r.Name
}

// node is what the graph keeps of one observed object: only what deletion decisions need.
type node struct {
	ref        objectRef
	owners     []metav1.OwnerReference
	deleting   bool // deletionTimestamp is set
	orphan     bool // the orphan finalizer is set
	foreground bool // the foregroundDeletion finalizer is set
	// resourceVersion is the last one observed: a delete decided on this state is
	// conditional on it.
	resourceVersion string
}

func newNode(res schema.GroupVersionResource, obj metav1.Object) *node {
	finalizers := obj.GetFinalizers()
	return &node{
		ref:        objectRef{Resource: res, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()},
		owners:     obj.GetOwnerReferences(),
		deleting:   obj.GetDeletionTimestamp() != nil,
		orphan:     slices.Contains(finalizers, finalizerOrphan),
		foreground: slices.Contains(finalizers, finalizerForeground),

		resourceVersion: obj.GetResourceVersion(),
	}
}

// equal compares what the collector decides on (not the resourceVersion).
func (n *node) equal(o *node) bool {
	return n.ref == o.ref && n.deleting == o.deleting && n.orphan == o.orphan && n.foreground == o.foreground &&
		apiequality.Semantic.DeepEqual(n.owners, o.owners)
}

// deletingDependents: deleted in the foreground, waiting for its blocking dependents.
func (n *node) deletingDependents() bool { return n.deleting && n.foreground }

// orphaning: deleted with the orphan policy, waiting for its dependents to be released.
func (n *node) orphaning() bool { return n.deleting && n.orphan }

// blocks says whether n's reference to owner blocks the owner's foreground deletion.
func (n *node) blocks(owner types.UID) bool {
	for _, ref := range n.owners {
		if ref.UID == owner && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
			return true
		}
	}
	return false
}

// work is what a change to the graph asks the workers to look at. Items are uids; the
// workers read the graph (and the API) again, so extra items cost a little, never harm.
type work struct {
	attemptToDelete []types.UID
	attemptToOrphan []types.UID
}

// graph holds the ownership relation of every observed object. Owners need not be
// observed: dependents are indexed by owner uid, so a reference to an owner that is gone
// (or never existed) is still found.
type graph struct {
	mu         sync.Mutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]struct{} // owner uid → dependent uids
	// synced is false while the informers fill the graph; the first full pass
	// (markSynced) decides then, with every object known.
	synced bool
}

func newGraph() *graph {
	return &graph{nodes: map[types.UID]*node{}, dependents: map[types.UID]map[types.UID]struct{}{}}
}

// upsert records an added or updated object and says what needs a look.
func (g *graph) upsert(n *node) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := g.nodes[n.ref.UID]
	if old != nil && old.equal(n) {
		old.resourceVersion = n.resourceVersion
		return work{} // e.g. a status update: nothing the collector cares about
	}
	if old != nil {
		g.unlink(old)
	}
	g.nodes[n.ref.UID] = n
	g.link(n)
	if !g.synced {
		return work{}
	}
	w := g.workFor(n, old)
	if old != nil {
		// A reference removed or unblocked may be the last one an owner waits for.
		for _, ref := range old.owners {
			if owner, ok := g.nodes[ref.UID]; ok && owner.deletingDependents() {
				w.attemptToDelete = append(w.attemptToDelete, ref.UID)
			}
		}
	}
	return w
}

// remove records a deleted object: its dependents may have lost their last owner, and
// an owner deleting in the foreground may have lost its last blocking dependent.
func (g *graph) remove(uid types.UID) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return work{}
	}
	delete(g.nodes, uid)
	g.unlink(n)
	if !g.synced {
		return work{}
	}
	var w work
	for dep := range g.dependents[uid] {
		w.attemptToDelete = append(w.attemptToDelete, dep)
	}
	for _, ref := range n.owners {
		if owner, ok := g.nodes[ref.UID]; ok && owner.deletingDependents() {
			w.attemptToDelete = append(w.attemptToDelete, ref.UID)
		}
	}
	return w
}

// markSynced ends the initial fill and returns the work for everything observed so far:
// dangling references, and deletions left half-done while no collector ran.
func (g *graph) markSynced() work {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.synced = true
	var w work
	for _, n := range g.nodes {
		nw := g.workFor(n, nil)
		w.attemptToDelete = append(w.attemptToDelete, nw.attemptToDelete...)
		w.attemptToOrphan = append(w.attemptToOrphan, nw.attemptToOrphan...)
	}
	return w
}

// workFor says what the state of n (previously old, nil when new) asks for.
func (g *graph) workFor(n, old *node) work {
	var w work
	uid := n.ref.UID
	if n.orphaning() {
		w.attemptToOrphan = append(w.attemptToOrphan, uid)
	}
	if n.deletingDependents() {
		w.attemptToDelete = append(w.attemptToDelete, uid)
		if old == nil || !old.deletingDependents() {
			for dep := range g.dependents[uid] {
				w.attemptToDelete = append(w.attemptToDelete, dep)
			}
		}
	}
	if n.deleting {
		return w // already going: its owners cannot change that
	}
	for _, ref := range n.owners {
		owner, ok := g.nodes[ref.UID]
		switch {
		case !ok:
			// Not observed: perhaps gone. The worker checks with a live GET.
			w.attemptToDelete = append(w.attemptToDelete, uid)
		case owner.deletingDependents():
			w.attemptToDelete = append(w.attemptToDelete, uid, ref.UID)
		}
	}
	return w
}

func (g *graph) link(n *node) {
	for _, ref := range n.owners {
		deps := g.dependents[ref.UID]
		if deps == nil {
			deps = map[types.UID]struct{}{}
			g.dependents[ref.UID] = deps
		}
		deps[n.ref.UID] = struct{}{}
	}
}

func (g *graph) unlink(n *node) {
	for _, ref := range n.owners {
		deps := g.dependents[ref.UID]
		delete(deps, n.ref.UID)
		if len(deps) == 0 {
			delete(g.dependents, ref.UID)
		}
	}
}

// get returns a copy of the node for uid.
func (g *graph) get(uid types.UID) (node, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return node{}, false
	}
	return *n, true
}

// dependentsOf returns the observed dependents of owner.
func (g *graph) dependentsOf(owner types.UID) []node {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []node
	for dep := range g.dependents[owner] {
		if n, ok := g.nodes[dep]; ok {
			out = append(out, *n)
		}
	}
	return out
}

// blockingDependents returns the observed dependents whose reference to owner has
// blockOwnerDeletion=true.
func (g *graph) blockingDependents(owner types.UID) []node {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []node
	for dep := range g.dependents[owner] {
		if n, ok := g.nodes[dep]; ok && n.blocks(owner) {
			out = append(out, *n)
		}
	}
	return out
}

// dependentsState says whether owner has observed dependents, and whether one of them is
// itself deleting its dependents in the foreground (a possible cycle).
func (g *graph) dependentsState(owner types.UID) (has, oneDeletingDependents bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for dep := range g.dependents[owner] {
		n, ok := g.nodes[dep]
		if !ok {
			continue
		}
		has = true
		if n.deletingDependents() {
			return true, true
		}
	}
	return has, false
}

// size returns the number of observed objects.
func (g *graph) size() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.nodes)
}
