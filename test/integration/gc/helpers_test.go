package gc

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berth/berth/internal/server"
	"github.com/berth/berth/test/integration/framework"
)

const (
	// waitFor bounds every wait for the controllers: they normally act in milliseconds,
	// the margin is for a loaded machine.
	waitFor = 60 * time.Second
	// holdFinalizer keeps an object after its delete until the test releases it.
	holdFinalizer = "test.berth.dev/hold"
)

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// ownedBy returns a reference to owner; block sets blockOwnerDeletion.
func ownedBy(apiVersion, kind string, owner metav1.Object, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: owner.GetName(), UID: owner.GetUID(), BlockOwnerDeletion: &block}
}

func cmRef(owner *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return ownedBy("v1", "ConfigMap", owner, block)
}

// createConfigMap creates a ConfigMap in ns with the given owners and finalizers.
func createConfigMap(t *testing.T, c kubernetes.Interface, ns, name string, finalizers []string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := c.CoreV1().ConfigMaps(ns).Create(ctxFor(t), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: name, OwnerReferences: owners, Finalizers: finalizers,
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s/%s: %v", ns, name, err)
	}
	return cm
}

// createNamespace creates a namespace for one test.
func createNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(ctxFor(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// unboundPod is a pod no node runs: the API server deletes it at once.
func unboundPod(name string, labels map[string]string, owners ...metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, OwnerReferences: owners},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "app:0.3.2"}},
			// A selector no node matches keeps the pod unbound if a scheduler runs.
			NodeSelector: map[string]string{"test.berth.dev/no-such-node": "true"},
		},
	}
}

func configMapGone(t *testing.T, c kubernetes.Interface, ns, name string) func() bool {
	return func() bool {
		_, err := c.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("get configmap %s/%s: %v", ns, name, err)
		}
		return apierrors.IsNotFound(err)
	}
}

// waitGone waits until every named ConfigMap in ns is gone.
func waitGone(t *testing.T, c kubernetes.Interface, ns string, names ...string) {
	t.Helper()
	for _, name := range names {
		framework.Eventually(t, waitFor, fmt.Sprintf("configmap %s/%s deleted", ns, name), configMapGone(t, c, ns, name))
	}
}

func mustGetConfigMap(t *testing.T, c kubernetes.Interface, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctxFor(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get configmap %s/%s: %v", ns, name, err)
	}
	return cm
}

// release removes the hold finalizer from a ConfigMap.
func release(t *testing.T, c kubernetes.Interface, ns, name string) {
	t.Helper()
	cm := mustGetConfigMap(t, c, ns, name)
	cm.Finalizers = slices.DeleteFunc(cm.Finalizers, func(f string) bool { return f == holdFinalizer })
	if _, err := c.CoreV1().ConfigMaps(ns).Update(ctxFor(t), cm, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("release %s/%s: %v", ns, name, err)
	}
}

func refUIDs(refs []metav1.OwnerReference) []types.UID {
	var out []types.UID
	for _, r := range refs {
		out = append(out, r.UID)
	}
	return out
}

func deleteWith(t *testing.T, c kubernetes.Interface, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := c.CoreV1().ConfigMaps(ns).Delete(ctxFor(t), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatalf("delete configmap %s/%s (%s): %v", ns, name, policy, err)
	}
}

// apiOnly is a server without controllers on a data dir: deletions it accepts stay
// half-done until a server with controllers starts on the same dir.
type apiOnly struct {
	srv    *server.Server
	client kubernetes.Interface
}

func startAPIOnly(t *testing.T, dir string) *apiOnly {
	t.Helper()
	srv, err := server.Start(context.Background(), server.Config{
		DataDir: dir, Listen: "127.0.0.1:0", DisableAgent: true, DisableControllers: true,
		DisableServiceAccountAdmission: true, // no controller creates "default" ServiceAccounts
		Log:                            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatalf("start API-only server: %v", err)
	}
	a := &apiOnly{srv: srv}
	t.Cleanup(func() { a.stop(t) })
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "admin.kubeconfig"))
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	a.client = kubernetes.NewForConfigOrDie(cfg)
	return a
}

func (a *apiOnly) stop(t *testing.T) {
	if a.srv == nil {
		return
	}
	if err := a.srv.Stop(); err != nil {
		t.Logf("stop API-only server: %v", err)
	}
	a.srv = nil
}
