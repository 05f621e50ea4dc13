package registry

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// cachedRevision waits until the watch cache holds name at least at rev.
func cachedRevision(t *testing.T, s *Store, name string, rev int64) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		if ev, ok := s.cache.get(s.Res.Key("default", name)); ok && ev.rev >= rev {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("watch cache never saw %s at revision %d", name, rev)
		case <-tick.C:
		}
	}
}

// stale makes the watch cache answer with an older event for key, as it does when it
// lags storage.
func stale(s *Store, key string, old *objEvent) {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	s.cache.latest[key] = old
}

func rvOf(t *testing.T, obj runtime.Object) int64 {
	t.Helper()
	rv, err := ParseRV(obj.(*corev1.ConfigMap).ResourceVersion)
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

func setLabel(v string) UpdateFunc {
	return func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap)
		cm.Labels = map[string]string{"v": v}
		return cm, nil
	}
}

// TestUpdateFromWatchCache: updates start from the watch cache's copy, and a stale copy
// never loses a write, hides a change, or turns a valid resourceVersion into a conflict.
func TestUpdateFromWatchCache(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// fn is the update under test, given the revision of the newest state.
		fn        func(newest *corev1.ConfigMap) UpdateFunc
		wantLabel string
		wantErr   func(error) bool
	}{
		{
			name:      "a change lands on the newest state",
			fn:        func(*corev1.ConfigMap) UpdateFunc { return setLabel("3") },
			wantLabel: "3",
		},
		{
			name: "no change against the stale copy is a change against storage",
			// The stale copy says v=1, as asked; storage says v=2.
			fn:        func(*corev1.ConfigMap) UpdateFunc { return setLabel("1") },
			wantLabel: "1",
		},
		{
			name: "the caller's resourceVersion is newer than the copy",
			fn: func(newest *corev1.ConfigMap) UpdateFunc {
				return func(cur runtime.Object) (runtime.Object, error) {
					cm := newest.DeepCopy()
					cm.Labels = map[string]string{"v": "4"}
					return cm, nil
				}
			},
			wantLabel: "4",
		},
		{
			name: "the caller's resourceVersion is really stale",
			fn: func(newest *corev1.ConfigMap) UpdateFunc {
				return func(cur runtime.Object) (runtime.Object, error) {
					cm := newest.DeepCopy()
					cm.ResourceVersion = "1"
					cm.Labels = map[string]string{"v": "5"}
					return cm, nil
				}
			},
			wantLabel: "2",
			wantErr:   apierrors.IsConflict,
		},
		{
			name: "an error from the stale copy is checked against storage",
			fn: func(*corev1.ConfigMap) UpdateFunc {
				return func(cur runtime.Object) (runtime.Object, error) {
					cm := cur.(*corev1.ConfigMap)
					if cm.Labels["v"] != "2" {
						return nil, apierrors.NewConflict(corev1.Resource("configmaps"), cm.Name, errors.New("not the newest"))
					}
					cm.Labels["w"] = "x"
					return cm, nil
				}
			},
			wantLabel: "2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := configMapStore(t, true)
			obj, err := s.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Labels: map[string]string{"v": "1"}}}, CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cachedRevision(t, s, "cm", rvOf(t, obj))
			old, _ := s.cache.get(s.Res.Key("default", "cm"))
			res, err := s.Update(ctx, "default", "cm", setLabel("2"), UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			newest := res.Object.(*corev1.ConfigMap)
			cachedRevision(t, s, "cm", rvOf(t, newest))
			stale(s, s.Res.Key("default", "cm"), old)

			_, err = s.Update(ctx, "default", "cm", tc.fn(newest), UpdateOptions{})
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("update: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Fatalf("update: err = %v, want a matching error", err)
			}
			got, err := s.Get(ctx, "default", "cm")
			if err != nil {
				t.Fatal(err)
			}
			if v := got.(*corev1.ConfigMap).Labels["v"]; v != tc.wantLabel {
				t.Errorf("stored v = %q, want %q", v, tc.wantLabel)
			}
		})
	}
}

// TestUpdateDoesNotTouchCachedObjects: watchers share the cache's objects; an update must
// work on its own copy.
func TestUpdateDoesNotTouchCachedObjects(t *testing.T) {
	ctx := context.Background()
	s := configMapStore(t, true)
	obj, err := s.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Labels: map[string]string{"v": "1"}}}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cachedRevision(t, s, "cm", rvOf(t, obj))
	ev, _ := s.cache.get(s.Res.Key("default", "cm"))
	if _, err := s.Update(ctx, "default", "cm", func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap)
		cm.Labels["v"] = "2" // in place, as update functions may
		return cm, nil
	}, UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if v := ev.obj.(*corev1.ConfigMap).Labels["v"]; v != "1" {
		t.Errorf("the cached event's object changed to v=%q", v)
	}
}
