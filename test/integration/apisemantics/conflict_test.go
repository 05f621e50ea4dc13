package apisemantics

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/berth/berth/test/integration/framework"
)

// contentionBackoff retries conflicts long enough for 50 contending writers; the default
// 5 attempts could run out, which would be a test artefact, not a lost update.
// Waits of 10–40 ms spread the retries so that fewer of them collide again. (No Cap:
// reaching it ends a wait.Backoff.)
var contentionBackoff = wait.Backoff{Steps: 2000, Duration: 10 * time.Millisecond, Factor: 1, Jitter: 3}

const (
	incrementers   = 50
	incrementsEach = 2
	counterKey     = "berth.test/count"
)

// incrementFunc adds one to the counter annotation of a ConfigMap, returning a Conflict
// error when another writer got there first.
type incrementFunc func(ctx context.Context, cms typedConfigMaps, name string) error

type typedConfigMaps = interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.ConfigMap, error)
	Update(ctx context.Context, cm *corev1.ConfigMap, opts metav1.UpdateOptions) (*corev1.ConfigMap, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*corev1.ConfigMap, error)
}

// testNoLostUpdateUpdate: 50 goroutines increment through Update with the resourceVersion
// they read; every 409 is retried, and the final count is exact.
func testNoLostUpdateUpdate(t *testing.T, c *framework.Cluster) {
	runIncrementers(t, c.Client, func(ctx context.Context, cms typedConfigMaps, name string) error {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(cm.Annotations[counterKey])
		if err != nil {
			return err
		}
		cm.Annotations[counterKey] = strconv.Itoa(n + 1)
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
}

// testNoLostUpdatePatch: the same through strategic merge patches that carry the
// resourceVersion they were computed from as a precondition.
func testNoLostUpdatePatch(t *testing.T, c *framework.Cluster) {
	runIncrementers(t, c.Client, func(ctx context.Context, cms typedConfigMaps, name string) error {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(cm.Annotations[counterKey])
		if err != nil {
			return err
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": cm.ResourceVersion,
			"annotations":     map[string]string{counterKey: strconv.Itoa(n + 1)},
		}})
		_, err = cms.Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	})
}

func runIncrementers(t *testing.T, client kubernetes.Interface, increment incrementFunc) {
	ctx := context.Background()
	ns := newNamespace(t, client)
	cms := client.CoreV1().ConfigMaps(ns)
	name := "counter"
	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name: name, Annotations: map[string]string{counterKey: "0"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	var conflicts atomic.Int64
	errs := make(chan error, incrementers)
	var wg sync.WaitGroup
	for g := range incrementers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range incrementsEach {
				err := retry.RetryOnConflict(contentionBackoff, func() error {
					err := increment(ctx, cms, name)
					if apierrors.IsConflict(err) {
						conflicts.Add(1)
					}
					return err
				})
				if err != nil {
					errs <- fmt.Errorf("goroutine %d increment %d: %w", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cm, err := cms.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got, want := cm.Annotations[counterKey], strconv.Itoa(incrementers*incrementsEach); got != want {
		t.Fatalf("final count %s, want %s (lost updates)", got, want)
	}
	if conflicts.Load() == 0 {
		t.Errorf("no conflicts among %d concurrent writers: optimistic concurrency was not exercised", incrementers)
	}
	t.Logf("%d increments, %d conflicts retried", incrementers*incrementsEach, conflicts.Load())
}
