package registry

import (
	"bytes"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Encode is runtime.Encode without its copy. runtime.Encode hands the encoder a
// bytes.Buffer, and Kubernetes' protobuf serializer marshals into a buffer of the exact
// size and then writes it there: every encoded object is allocated and copied twice.
// Here an encoder that takes an allocator (the protobuf serializer, and a versioning
// codec around it) marshals into a buffer that is then returned as it is. Whatever the
// encoder writes from elsewhere (the JSON serializer writes from a pooled buffer) is
// copied, so the result never aliases memory the encoder reuses.
func Encode(enc runtime.Encoder, obj runtime.Object) ([]byte, error) {
	ea, ok := enc.(runtime.EncoderWithAllocator)
	if !ok {
		return runtime.Encode(enc, obj)
	}
	var k keepBuffer
	if err := ea.EncodeWithAllocator(obj, &k, &k); err != nil {
		return nil, err
	}
	return k.out, nil
}

// keepBuffer is both the allocator and the writer of one Encode: a write of the buffer
// it allocated is kept without a copy; any other write is copied.
type keepBuffer struct {
	buf []byte // the last allocation
	out []byte
}

func (k *keepBuffer) Allocate(n uint64) []byte {
	k.buf = make([]byte, n)
	return k.buf
}

func (k *keepBuffer) Write(p []byte) (int, error) {
	if k.out == nil && len(p) > 0 && len(k.buf) > 0 && &p[0] == &k.buf[0] {
		k.out = p
		return len(p), nil
	}
	// Capped, so that appending never writes into the rest of an allocated buffer the
	// encoder may still be filling.
	k.out = append(k.out[:len(k.out):len(k.out)], p...)
	return len(p), nil
}

// protobufMagic starts every value Kubernetes' protobuf serializer writes.
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// UnmarshalProtobuf decodes data, written by Kubernetes' protobuf serializer, into into
// when the envelope names gvk and into unmarshals itself, and reports whether it did;
// false leaves the decoding to the serializer. The serializer's Decode first copies the
// object's bytes out of the envelope (runtime.Unknown's Raw) and only then unmarshals
// them; here they are unmarshalled where they are. The generated Unmarshal methods copy
// every string and byte slice they keep, so into shares no memory with data. Whatever
// into held before is dropped, as proto.Unmarshal does.
func UnmarshalProtobuf(data []byte, gvk schema.GroupVersionKind, into runtime.Object) (bool, error) {
	u, ok := into.(interface{ Unmarshal([]byte) error })
	if !ok || !bytes.HasPrefix(data, protobufMagic) {
		return false, nil
	}
	var apiVersion, kind string
	var raw []byte
	b := data[len(protobufMagic):]
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return false, nil
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return false, nil
		}
		b = b[n:]
		switch num {
		case 1: // typeMeta
			var ok bool
			if apiVersion, kind, ok = typeMetaOf(v); !ok {
				return false, nil
			}
		case 2: // raw
			raw = v
		default: // contentEncoding, contentType: not what this serializer writes
			if len(v) > 0 {
				return false, nil
			}
		}
	}
	if apiVersion != gvk.GroupVersion().String() || kind != gvk.Kind {
		return false, nil
	}
	// As proto.Unmarshal: the generated Unmarshal merges into what into holds.
	if r, ok := into.(interface{ Reset() }); ok {
		r.Reset()
	}
	if err := u.Unmarshal(raw); err != nil {
		return true, fmt.Errorf("unmarshal %s: %w", gvk.Kind, err)
	}
	return true, nil
}

// typeMetaOf reads runtime.TypeMeta's apiVersion (1) and kind (2).
func typeMetaOf(b []byte) (apiVersion, kind string, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return "", "", false
		}
		b = b[n:]
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", "", false
		}
		b = b[n:]
		switch num {
		case 1:
			apiVersion = string(v)
		case 2:
			kind = string(v)
		}
	}
	return apiVersion, kind, true
}
