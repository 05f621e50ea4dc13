package registry

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/berth/berth/internal/storage/memory"
)

func configMapStore(t *testing.T, cached bool) *Store {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	for _, r := range Builtin() {
		if r.Name == "configmaps" {
			s := NewStore(r, st, NewScheme(), slog.New(slog.DiscardHandler))
			s.NamespaceCheck = nil
			if cached {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				s.StartWatchCache(ctx, 64)
				deadline := time.After(5 * time.Second)
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for !s.cache.isReady() {
					select {
					case <-deadline:
						t.Fatal("watch cache not ready")
					case <-tick.C:
					}
				}
			}
			return s
		}
	}
	t.Fatal("no configmaps resource")
	return nil
}

func (c *watchCache) isReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// nextEvents reads n events or fails after a deadline.
func nextEvents(t *testing.T, w watch.Interface, n int) []watch.Event {
	t.Helper()
	var out []watch.Event
	timeout := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d events, want %d", len(out), n)
			}
			out = append(out, ev)
		case <-timeout:
			t.Fatalf("got %d events, want %d", len(out), n)
		}
	}
	return out
}

func describe(evs []watch.Event) []string {
	var out []string
	for _, ev := range evs {
		cm := ev.Object.(*corev1.ConfigMap)
		out = append(out, fmt.Sprintf("%s %s %s", ev.Type, cm.Name, cm.Labels["v"]))
	}
	return out
}

func TestWatchCacheMatchesStorageWatch(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			s := configMapStore(t, cached)
			ctx := context.Background()
			first, err := s.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Labels: map[string]string{"v": "1"}}}, CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			from := first.(*corev1.ConfigMap).ResourceVersion
			set := func(name, v string) {
				_, err := s.Update(ctx, "default", name, func(cur runtime.Object) (runtime.Object, error) {
					cm := cur.(*corev1.ConfigMap)
					cm.Labels = map[string]string{"v": v}
					return cm, nil
				}, UpdateOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
			set("a", "2")
			if _, err := s.Create(ctx, "other", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Labels: map[string]string{"v": "1"}}}, CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// Resume from the first write: replayed from history, then live.
			all, err := s.Watch(ctx, "", WatchOptions{ListOptions: ListOptions{ResourceVersion: from}})
			if err != nil {
				t.Fatal(err)
			}
			defer all.Stop()
			sel, _ := labels.Parse("v=2")
			selected, err := s.Watch(ctx, "default", WatchOptions{ListOptions: ListOptions{ResourceVersion: from, Label: sel}})
			if err != nil {
				t.Fatal(err)
			}
			defer selected.Stop()
			set("a", "3")
			if _, err := s.Delete(ctx, "other", "b", nil, false); err != nil {
				t.Fatal(err)
			}
			got := describe(nextEvents(t, all, 4))
			want := []string{"MODIFIED a 2", "ADDED b 1", "MODIFIED a 3", "DELETED b 1"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("all namespaces: got %v, want %v", got, want)
			}
			got = describe(nextEvents(t, selected, 2))
			want = []string{"ADDED a 2", "DELETED a 3"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("selector v=2 in default: got %v, want %v", got, want)
			}
		})
	}
}

func TestWatchCacheFallsBackForOldRevisions(t *testing.T) {
	s := configMapStore(t, true)
	ctx := context.Background()
	var firstRV string
	for i := 0; i < 100; i++ { // more than the cache's 64 events
		obj, err := s.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm%d", i)}}, CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			firstRV = obj.(*corev1.ConfigMap).ResourceVersion
		}
	}
	w, err := s.Watch(ctx, "", WatchOptions{ListOptions: ListOptions{ResourceVersion: firstRV}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	evs := nextEvents(t, w, 99)
	if name := evs[0].Object.(*corev1.ConfigMap).Name; name != "cm1" {
		t.Fatalf("first replayed event is %s, want cm1", name)
	}
}
