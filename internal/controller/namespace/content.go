package namespace

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
)

// discoveryTTL bounds how long a discovered resource list is reused: namespaces being
// retried would otherwise rediscover on every pass.
const discoveryTTL = 30 * time.Second

// deletable is one namespaced resource the controller empties.
type deletable struct {
	resource schema.GroupVersionResource
	// collection: the resource supports deletecollection (else objects go one by one).
	collection bool
}

// contentDeleter deletes the namespaced objects of a namespace.
type contentDeleter struct {
	discovery discovery.ServerResourcesInterface
	metadata  metadata.Interface
	now       func() time.Time

	mu           sync.Mutex
	resources    []deletable
	discoveredAt time.Time
}

func newContentDeleter(disc discovery.ServerResourcesInterface, md metadata.Interface, now func() time.Time) *contentDeleter {
	return &contentDeleter{discovery: disc, metadata: md, now: now}
}

// deleteAll deletes every namespaced object in ns (Background propagation) and reports
// what is left.
func (d *contentDeleter) deleteAll(ctx context.Context, ns string) contentResult {
	result := contentResult{remaining: map[schema.GroupVersionResource]int{}, finalizers: map[string]int{}}
	resources, err := d.deletableResources()
	result.discoveryErr = err
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	for _, res := range resources {
		client := d.metadata.Resource(res.resource).Namespace(ns)
		collection := res.collection
		if collection {
			err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
			switch {
			case apierrors.IsMethodNotSupported(err) || apierrors.IsNotFound(err):
				collection = false
			case err != nil:
				result.deleteErrs = append(result.deleteErrs, fmt.Errorf("%s: %w", res.resource.GroupResource(), err))
				continue
			}
		}
		list, err := client.List(ctx, metav1.ListOptions{})
		if err != nil {
			result.deleteErrs = append(result.deleteErrs, fmt.Errorf("%s: %w", res.resource.GroupResource(), err))
			continue
		}
		for i := range list.Items {
			item := &list.Items[i]
			if !collection && item.DeletionTimestamp == nil {
				err := client.Delete(ctx, item.Name, opts)
				if apierrors.IsNotFound(err) {
					continue
				}
				if err != nil {
					result.deleteErrs = append(result.deleteErrs, fmt.Errorf("%s %s: %w", res.resource.GroupResource(), item.Name, err))
				}
			}
			result.remaining[res.resource]++
			for _, f := range item.Finalizers {
				result.finalizers[f]++
			}
		}
	}
	return result
}

// deletableResources returns the namespaced resources that can be listed and deleted,
// from a cache no older than discoveryTTL. A partial discovery failure returns what was
// found with the error.
func (d *contentDeleter) deletableResources() ([]deletable, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.resources != nil && d.now().Sub(d.discoveredAt) < discoveryTTL {
		return d.resources, nil
	}
	lists, err := d.discovery.ServerPreferredNamespacedResources()
	var out []deletable
	for _, list := range lists {
		gv, perr := schema.ParseGroupVersion(list.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			collection := slices.Contains(r.Verbs, "deletecollection")
			if !collection && !slices.Contains(r.Verbs, "delete") {
				continue
			}
			out = append(out, deletable{resource: gv.WithResource(r.Name), collection: collection})
		}
	}
	if err == nil {
		d.resources, d.discoveredAt = out, d.now()
	}
	return out, err
}
