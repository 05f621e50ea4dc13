package apiserver

import (
	"encoding/binary"
	"io"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/berth/berth/internal/registry"
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
	data, err := registry.Encode(enc, obj)
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

// protobufEventWriter writes watch events in the protobuf stream's framing (a 4-byte
// big-endian length, then a metav1.WatchEvent), straight from the object's encoding. The
// streaming encoder would marshal each event into a new buffer — a copy of the object per
// event and watcher; here only the few bytes before the object are built, and the
// object's bytes (shared by every watcher, encodingCache) are written as they are.
type protobufEventWriter struct {
	w      io.Writer
	header []byte
}

// write sends one event of type typ whose object encoded as obj.
func (p *protobufEventWriter) write(typ string, obj []byte) error {
	// WatchEvent{type: 1, object: 2 RawExtension{raw: 1}}
	rawExt := protowire.SizeTag(1) + protowire.SizeBytes(len(obj))
	event := protowire.SizeTag(1) + protowire.SizeBytes(len(typ)) + protowire.SizeTag(2) + protowire.SizeBytes(rawExt)
	h := binary.BigEndian.AppendUint32(p.header[:0], uint32(event))
	h = protowire.AppendTag(h, 1, protowire.BytesType)
	h = protowire.AppendString(h, typ)
	h = protowire.AppendTag(h, 2, protowire.BytesType)
	h = protowire.AppendVarint(h, uint64(rawExt))
	h = protowire.AppendTag(h, 1, protowire.BytesType)
	h = protowire.AppendVarint(h, uint64(len(obj)))
	p.header = h
	if bw, ok := p.w.(buffersWriter); ok {
		return bw.writeBuffers(h, obj)
	}
	if _, err := p.w.Write(h); err != nil {
		return err
	}
	_, err := p.w.Write(obj)
	return err
}

// buffersWriter takes several buffers in one write (the in-process transport's body,
// whose reader would otherwise wake for the few header bytes alone).
type buffersWriter interface {
	writeBuffers(bufs ...[]byte) error
}
