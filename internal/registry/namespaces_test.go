package registry

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth/berth/internal/storage/memory"
)

func TestCachedNamespaceLifecycle(t *testing.T) {
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	stores := map[string]*Store{}
	for _, r := range Builtin() {
		if r.GroupVersion.Group == "" && (r.Name == "namespaces" || r.Name == "configmaps") {
			stores[r.Name] = NewStore(r, st, NewScheme(), slog.New(slog.DiscardHandler))
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cms := stores["configmaps"]
	cms.NamespaceCheck = CachedNamespaceLifecycle(ctx, stores["namespaces"])
	create := func(ns string) error {
		_, err := cms.Create(ctx, ns, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "cm-"}}, CreateOptions{})
		return err
	}
	if err := create("nope"); !apierrors.IsNotFound(err) {
		t.Fatalf("create in a missing namespace: want 404, got %v", err)
	}
	// A namespace created just now is found even before the cache has seen it.
	if _, err := stores["namespaces"].Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := create("team"); err != nil {
		t.Fatalf("create in a new namespace: %v", err)
	}
	if _, err := stores["namespaces"].Delete(ctx, "", "team", nil, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := create("team")
		if apierrors.IsForbidden(err) {
			break
		}
		if err != nil {
			t.Fatalf("create in a terminating namespace: want 403, got %v", err)
		}
		select {
		case <-deadline:
			t.Fatal("creates in a terminating namespace were still allowed after 5s")
		case <-tick.C:
		}
	}
}
