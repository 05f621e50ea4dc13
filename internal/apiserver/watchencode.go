package apiserver

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
)

// watchEncodings is how many recent watch objects keep their encodings.
const watchEncodings = 1024

// encodingCache remembers how recent watch objects encoded. Every watcher of a resource
// receives the same decoded object from the watch cache (nobody mutates it), so with N
// watchers of pods — the scheduler, the controllers, every node agent — each change is
// encoded once per format instead of N times, as kube-apiserver's caching objects do.
// An entry holds its object, so the object's address cannot be reused while the entry
// lives.
type encodingCache struct {
	mu      sync.Mutex
	entries map[encodingKey][]byte
	ring    []encodingKey // insertion order; the oldest entry leaves first
	next    int
}

type encodingKey struct {
	obj runtime.Object
	enc runtime.Identifier
}

func newEncodingCache(size int) *encodingCache {
	return &encodingCache{entries: make(map[encodingKey][]byte, size), ring: make([]encodingKey, size)}
}

// encode returns obj encoded by enc, from the cache when another watcher encoded it.
func (c *encodingCache) encode(enc runtime.Encoder, obj runtime.Object) ([]byte, error) {
	key := encodingKey{obj: obj, enc: enc.Identifier()}
	c.mu.Lock()
	data, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := runtime.Encode(enc, obj)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		return data, nil
	}
	if old := c.ring[c.next]; old.obj != nil {
		delete(c.entries, old)
	}
	c.ring[c.next] = key
	c.next = (c.next + 1) % len(c.ring)
	c.entries[key] = data
	return data, nil
}
