package volumes

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// objectKey names a configMap or secret a volume projects.
type objectKey struct {
	secret          bool
	namespace, name string
}

// objectWatch is a watch of one object (fieldSelector metadata.name) shared by the pods
// that use it.
type objectWatch struct {
	informer cache.SharedIndexInformer
	users    map[types.UID]bool
	stop     context.CancelFunc
}

// referencedObjects are the configMaps and secrets a pod's volumes project.
func referencedObjects(pod *corev1.Pod) map[objectKey]bool {
	refs := map[objectKey]bool{}
	add := func(secret bool, name string) { refs[objectKey{secret, pod.Namespace, name}] = true }
	for _, vol := range pod.Spec.Volumes {
		switch {
		case vol.ConfigMap != nil:
			add(false, vol.ConfigMap.Name)
		case vol.Secret != nil:
			add(true, vol.Secret.SecretName)
		case vol.Projected != nil:
			for _, s := range vol.Projected.Sources {
				if s.ConfigMap != nil {
					add(false, s.ConfigMap.Name)
				}
				if s.Secret != nil {
					add(true, s.Secret.Name)
				}
			}
		}
	}
	return refs
}

// track makes the pod a user of exactly refs: watches start for new objects and stop
// when their last user goes. pv.mu is held.
func (m *Manager) track(uid types.UID, pv *podVolumes, refs map[objectKey]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range refs {
		if pv.refs[key] {
			continue
		}
		w, ok := m.watches[key]
		if !ok {
			w = m.startWatch(key)
			m.watches[key] = w
		}
		w.users[uid] = true
	}
	for key := range pv.refs {
		if refs[key] {
			continue
		}
		if w, ok := m.watches[key]; ok {
			delete(w.users, uid)
			if len(w.users) == 0 {
				w.stop()
				delete(m.watches, key)
			}
		}
	}
	pv.refs = refs
	if pv.refs == nil {
		pv.refs = map[objectKey]bool{}
	}
}

// startWatch runs an informer on one object; its changes refresh the volumes of the
// object's users. m.mu is held.
func (m *Manager) startWatch(key objectKey) *objectWatch {
	ctx, stop := context.WithCancel(m.ctx)
	selector := fields.OneTermEqualSelector("metadata.name", key.name).String()
	core := m.cfg.Client.CoreV1()
	var lw *cache.ListWatch
	var example runtime.Object
	if key.secret {
		example = &corev1.Secret{}
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = selector
				return core.Secrets(key.namespace).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = selector
				return core.Secrets(key.namespace).Watch(ctx, o)
			},
		}
	} else {
		example = &corev1.ConfigMap{}
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = selector
				return core.ConfigMaps(key.namespace).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = selector
				return core.ConfigMaps(key.namespace).Watch(ctx, o)
			},
		}
	}
	w := &objectWatch{
		// The wrapper lets the reflector fall back to list+watch for clients without
		// watch-list (the fake clientset of unit tests).
		informer: cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, m.cfg.Client), example, 0, cache.Indexers{}),
		users:    map[types.UID]bool{}, stop: stop,
	}
	changed := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if o, ok := obj.(metav1.Object); !ok || o.GetName() != key.name {
			return
		}
		m.mu.Lock()
		users := make([]types.UID, 0, len(w.users))
		for uid := range w.users {
			users = append(users, uid)
		}
		m.mu.Unlock()
		for _, uid := range users {
			m.refresh(uid)
		}
	}
	_, _ = w.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    changed,
		UpdateFunc: func(_, obj any) { changed(obj) },
		DeleteFunc: changed,
	})
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		w.informer.RunWithContext(ctx)
	}()
	return w
}

// cached is the object from its watch once the watch has synced (ok false before).
func (m *Manager) cached(key objectKey) (obj any, exists, ok bool) {
	m.mu.Lock()
	w := m.watches[key]
	m.mu.Unlock()
	if w == nil || !w.informer.HasSynced() {
		return nil, false, false
	}
	obj, exists, err := w.informer.GetStore().GetByKey(key.namespace + "/" + key.name)
	if err != nil {
		return nil, false, false
	}
	return obj, exists, true
}

func (m *Manager) configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	if obj, exists, ok := m.cached(objectKey{false, namespace, name}); ok {
		if !exists {
			return nil, apierrors.NewNotFound(corev1.Resource("configmaps"), name)
		}
		return obj.(*corev1.ConfigMap), nil
	}
	return m.cfg.Client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

func (m *Manager) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if obj, exists, ok := m.cached(objectKey{true, namespace, name}); ok {
		if !exists {
			return nil, apierrors.NewNotFound(corev1.Resource("secrets"), name)
		}
		return obj.(*corev1.Secret), nil
	}
	return m.cfg.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}
