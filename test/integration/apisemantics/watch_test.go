package apisemantics

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/test/integration/framework"
)

// eventTimeout bounds the wait for one expected watch event.
const eventTimeout = 30 * time.Second

// nextEvent returns the next watch event, failing after eventTimeout.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed early")
		}
		return ev
	case <-time.After(eventTimeout):
		t.Fatalf("no watch event within %s", eventTimeout)
	}
	return watch.Event{}
}

// expectEvent reads the next event other than a bookmark (which may come at any time on
// a watch that allows them) and checks its type and object name.
func expectEvent(t *testing.T, w watch.Interface, typ watch.EventType, name string) *corev1.ConfigMap {
	t.Helper()
	ev := nextEvent(t, w)
	for ev.Type == watch.Bookmark {
		ev = nextEvent(t, w)
	}
	cm, ok := ev.Object.(*corev1.ConfigMap)
	if ev.Type != typ || !ok || cm.Name != name {
		t.Fatalf("got %s %s, want %s %s", ev.Type, describe(ev.Object), typ, name)
	}
	return cm
}

func describe(obj any) string {
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		return fmt.Sprintf("%s (rv %s)", cm.Name, cm.ResourceVersion)
	}
	if st, ok := obj.(*metav1.Status); ok {
		return fmt.Sprintf("Status %d %s", st.Code, st.Message)
	}
	return fmt.Sprintf("%T", obj)
}

func configMap(name string, labels map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Data: map[string]string{"v": "1"}}
}

func mustCreate(t *testing.T, cms typedcorev1.ConfigMapInterface, cm *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	out, err := cms.Create(context.Background(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s: %v", cm.Name, err)
	}
	return out
}

func mustUpdate(t *testing.T, cms typedcorev1.ConfigMapInterface, cm *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	out, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update %s: %v", cm.Name, err)
	}
	return out
}

func mustWatch(t *testing.T, cms typedcorev1.ConfigMapInterface, opts metav1.ListOptions) watch.Interface {
	t.Helper()
	w, err := cms.Watch(context.Background(), opts)
	if err != nil {
		t.Fatalf("watch %+v: %v", opts, err)
	}
	t.Cleanup(w.Stop)
	return w
}

func rvOf(t *testing.T, rv string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", rv, err)
	}
	return n
}

// testWatchFromResourceVersion: a watch from a resourceVersion replays exactly the changes
// after it, in order; one without a resourceVersion starts with the current state.
func testWatchFromResourceVersion(t *testing.T, c *framework.Cluster) {
	ctx := context.Background()
	cms := c.Client.CoreV1().ConfigMaps(newNamespace(t, c.Client))
	a := mustCreate(t, cms, configMap("a", nil))
	createdAt := a.ResourceVersion
	mustCreate(t, cms, configMap("b", nil))
	a.Data["v"] = "2"
	a = mustUpdate(t, cms, a)
	if err := cms.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	w := mustWatch(t, cms, metav1.ListOptions{ResourceVersion: createdAt})
	var last int64
	for _, want := range []struct {
		typ  watch.EventType
		name string
	}{{watch.Added, "b"}, {watch.Modified, "a"}, {watch.Deleted, "b"}} {
		cm := expectEvent(t, w, want.typ, want.name)
		rv := rvOf(t, cm.ResourceVersion)
		if rv <= last {
			t.Errorf("%s %s at rv %d, not after %d", want.typ, want.name, rv, last)
		}
		last = rv
	}

	// No resourceVersion: the current state as ADDED events, then changes.
	w2 := mustWatch(t, cms, metav1.ListOptions{})
	expectEvent(t, w2, watch.Added, "a")
	mustCreate(t, cms, configMap("c", nil))
	expectEvent(t, w2, watch.Added, "c")
}

// testWatchGoneAfterCompaction: after storage is compacted past a resourceVersion, a watch
// from it, an exact list at it and a continue token from before get 410 Gone.
func testWatchGoneAfterCompaction(t *testing.T, c *framework.Cluster) {
	ctx := context.Background()
	cms := c.Client.CoreV1().ConfigMaps(newNamespace(t, c.Client))
	x := mustCreate(t, cms, configMap("x", nil))
	mustCreate(t, cms, configMap("y", nil))
	old := x.ResourceVersion
	page, err := cms.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil || page.Continue == "" {
		t.Fatalf("first page: continue %q, err %v", page.Continue, err)
	}
	for i := range 3 {
		x.Data["v"] = strconv.Itoa(i + 10)
		x = mustUpdate(t, cms, x)
	}
	storage := c.Server.Storage()
	cur, err := storage.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Compact(ctx, cur); err != nil {
		t.Fatalf("compact at %d: %v", cur, err)
	}

	_, err = cms.Watch(ctx, metav1.ListOptions{ResourceVersion: old})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("watch from compacted rv %s: err %v, want 410 Gone", old, err)
	}
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: old, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("exact list at compacted rv %s: err %v, want 410 Gone", old, err)
	}
	_, err = cms.List(ctx, metav1.ListOptions{Limit: 1, Continue: page.Continue})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("continue from before compaction: err %v, want 410 Gone", err)
	}
	// The current revision still works.
	w := mustWatch(t, cms, metav1.ListOptions{ResourceVersion: x.ResourceVersion})
	x.Data["v"] = "after"
	mustUpdate(t, cms, x)
	expectEvent(t, w, watch.Modified, "x")
}

// testWatchSelectorTransitions: a label-selected watch sees an object leave the selection
// as DELETED and re-enter it as ADDED.
func testWatchSelectorTransitions(t *testing.T, c *framework.Cluster) {
	ctx := context.Background()
	cms := c.Client.CoreV1().ConfigMaps(newNamespace(t, c.Client))
	w := mustWatch(t, cms, metav1.ListOptions{LabelSelector: "app=x", AllowWatchBookmarks: true})
	s := mustCreate(t, cms, configMap("s", map[string]string{"app": "x"}))
	expectEvent(t, w, watch.Added, "s")
	s.Labels["app"] = "y"
	s = mustUpdate(t, cms, s)
	if got := expectEvent(t, w, watch.Deleted, "s"); got.Labels["app"] != "y" {
		t.Errorf("DELETED on leaving the selector carries labels %v, want the new object", got.Labels)
	}
	s.Data["v"] = "outside"
	s = mustUpdate(t, cms, s) // not selected before or after: no event
	mustCreate(t, cms, configMap("other", map[string]string{"app": "z"}))
	s.Labels["app"] = "x"
	s = mustUpdate(t, cms, s)
	expectEvent(t, w, watch.Added, "s")
	s.Data["v"] = "inside"
	mustUpdate(t, cms, s)
	expectEvent(t, w, watch.Modified, "s")
	if err := cms.Delete(ctx, "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, watch.Deleted, "s")
	// A sentinel proves nothing else was sent in between.
	mustCreate(t, cms, configMap("sentinel", map[string]string{"app": "x"}))
	for {
		ev := nextEvent(t, w)
		if ev.Type == watch.Bookmark {
			continue
		}
		if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != "sentinel" {
			t.Fatalf("unexpected event %s %s before the sentinel", ev.Type, describe(ev.Object))
		}
		break
	}
}

// testListPaging: pages of a list come from the snapshot of the first page, whatever
// changes in between.
func testListPaging(t *testing.T, c *framework.Cluster) {
	ctx := context.Background()
	cms := c.Client.CoreV1().ConfigMaps(newNamespace(t, c.Client))
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("p-%02d", i)
		mustCreate(t, cms, configMap(name, nil))
		want = append(want, name)
	}
	var got []string
	var snapshot string
	opts := metav1.ListOptions{Limit: 10}
	for page := 0; ; page++ {
		list, err := cms.List(ctx, opts)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if page == 0 {
			snapshot = list.ResourceVersion
			if list.RemainingItemCount == nil || *list.RemainingItemCount != 15 {
				t.Errorf("first page remainingItemCount = %v, want 15", list.RemainingItemCount)
			}
			// Change the collection between pages: the next pages must not see it.
			mustCreate(t, cms, configMap("p-99", nil))
			mustCreate(t, cms, configMap("p-10a", nil))
			if err := cms.Delete(ctx, "p-20", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		} else if list.ResourceVersion != snapshot {
			t.Errorf("page %d resourceVersion %s, want the first page's %s", page, list.ResourceVersion, snapshot)
		}
		if len(list.Items) > 10 {
			t.Errorf("page %d has %d items, limit 10", page, len(list.Items))
		}
		for _, cm := range list.Items {
			got = append(got, cm.Name)
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged list\n got %v\nwant %v", got, want)
	}
	// A selector with a limit still fills pages and ends.
	list, err := cms.List(ctx, metav1.ListOptions{Limit: 3, FieldSelector: "metadata.name=p-05"})
	if err != nil || len(list.Items) != 1 || list.Continue != "" {
		t.Errorf("field-selected page: %d items, continue %q, err %v", len(list.Items), list.Continue, err)
	}
}

// testResourceVersionMatch: Exact reads the past, NotOlderThan the present, and a
// resourceVersion from the future is refused as too large.
func testResourceVersionMatch(t *testing.T, c *framework.Cluster) {
	ctx := context.Background()
	cms := c.Client.CoreV1().ConfigMaps(newNamespace(t, c.Client))
	a := mustCreate(t, cms, configMap("a", nil))
	b := mustCreate(t, cms, configMap("b", nil))
	names := func(list *corev1.ConfigMapList) []string {
		var out []string
		for _, cm := range list.Items {
			out = append(out, cm.Name)
		}
		sort.Strings(out)
		return out
	}
	exact, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err != nil {
		t.Fatalf("exact list: %v", err)
	}
	if fmt.Sprint(names(exact)) != "[a]" || exact.ResourceVersion != a.ResourceVersion {
		t.Errorf("exact list at %s: %v at rv %s, want [a] at %s", a.ResourceVersion, names(exact), exact.ResourceVersion, a.ResourceVersion)
	}
	notOlder, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: a.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatalf("notOlderThan list: %v", err)
	}
	if fmt.Sprint(names(notOlder)) != "[a b]" || rvOf(t, notOlder.ResourceVersion) < rvOf(t, b.ResourceVersion) {
		t.Errorf("notOlderThan %s: %v at rv %s, want [a b] at >= %s", a.ResourceVersion, names(notOlder), notOlder.ResourceVersion, b.ResourceVersion)
	}
	anyRV, err := cms.List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil || len(anyRV.Items) != 2 {
		t.Errorf("list at rv 0: %v items, err %v", len(anyRV.Items), err)
	}
	future := strconv.FormatInt(rvOf(t, b.ResourceVersion)+1_000_000, 10)
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersion: future, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		t.Errorf("list at future rv: err %v, want too large resource version (504)", err)
	}
	_, err = cms.List(ctx, metav1.ListOptions{ResourceVersionMatch: metav1.ResourceVersionMatchExact})
	if err == nil || !(apierrors.IsBadRequest(err) || apierrors.IsInvalid(err)) {
		t.Errorf("exact match without resourceVersion: err %v, want 400/422", err)
	}
}

// TestWatchBookmarks: a watch that allows bookmarks gets them at the bookmark
// interval (here every storage progress event), with the resourceVersion it has reached;
// one that does not gets none.
func TestWatchBookmarks(t *testing.T) {
	_, client, _ := startServer(t, server.Config{WatchProgressInterval: 50 * time.Millisecond, WatchBookmarkInterval: -1})
	cms := client.CoreV1().ConfigMaps(newNamespace(t, client))
	a := mustCreate(t, cms, configMap("a", nil))
	withBookmarks := mustWatch(t, cms, metav1.ListOptions{ResourceVersion: a.ResourceVersion, AllowWatchBookmarks: true})
	without := mustWatch(t, cms, metav1.ListOptions{ResourceVersion: a.ResourceVersion})
	for i := range 2 {
		ev := nextEvent(t, withBookmarks)
		if ev.Type != watch.Bookmark {
			t.Fatalf("event %d: %s %s, want BOOKMARK", i, ev.Type, describe(ev.Object))
		}
		cm := ev.Object.(*corev1.ConfigMap)
		if rvOf(t, cm.ResourceVersion) < rvOf(t, a.ResourceVersion) {
			t.Errorf("bookmark rv %s older than the watch start %s", cm.ResourceVersion, a.ResourceVersion)
		}
		if cm.Name != "" || len(cm.Data) != 0 {
			t.Errorf("bookmark carries more than a resourceVersion: %+v", cm)
		}
	}
	// Two bookmarks went by: the other watch, had it got bookmarks, has them queued
	// before the sentinel.
	mustCreate(t, cms, configMap("sentinel", nil))
	expectEvent(t, without, watch.Added, "sentinel")
	for {
		ev := nextEvent(t, withBookmarks)
		if ev.Type != watch.Bookmark {
			if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || cm.Name != "sentinel" {
				t.Fatalf("got %s %s, want ADDED sentinel", ev.Type, describe(ev.Object))
			}
			break
		}
	}
}

// TestPeriodicCompaction: the server compacts history by itself; a watch from a
// resourceVersion older than two compaction intervals gets 410 Gone.
func TestPeriodicCompaction(t *testing.T) {
	_, client, _ := startServer(t, server.Config{CompactInterval: 100 * time.Millisecond})
	cms := client.CoreV1().ConfigMaps(newNamespace(t, client))
	x := mustCreate(t, cms, configMap("x", nil))
	old := x.ResourceVersion
	// Two later revisions: compaction keeps the revision it compacts at, so a watch from
	// old (which needs old+1) fails only once the compaction point is past old+1.
	for _, v := range []string{"2", "3"} {
		x.Data["v"] = v
		x = mustUpdate(t, cms, x)
	}
	framework.Eventually(t, 30*time.Second, "a watch from an old resourceVersion to get 410 Gone", func() bool {
		w, err := cms.Watch(context.Background(), metav1.ListOptions{ResourceVersion: old})
		if err == nil {
			w.Stop()
			return false
		}
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			t.Fatalf("watch from %s: %v", old, err)
		}
		return true
	})
}
