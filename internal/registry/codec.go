package registry

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"github.com/berth/berth/internal/storage"
)

// storageCodec turns objects into the bytes kept in storage: Kubernetes' protobuf envelope
// ("k8s\x00" + runtime.Unknown), so the data is as compact as kube-apiserver's.
type storageCodec struct {
	proto *protobuf.Serializer
}

func newStorageCodec(s *runtime.Scheme) storageCodec {
	return storageCodec{proto: protobuf.NewSerializer(s, s)}
}

// encode writes obj with its kind; resourceVersion is never stored (it is the revision).
func (c storageCodec) encode(res *Resource, obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(res.GVK())
	stored := obj
	if sf := res.StorageForm; sf != nil {
		stored = sf.ToStorage(obj)
		stored.GetObjectKind().SetGroupVersionKind(sf.GVK)
	}
	accessor, err := meta.Accessor(stored)
	if err != nil {
		return nil, err
	}
	rv := accessor.GetResourceVersion()
	accessor.SetResourceVersion("")
	data, err := Encode(c.proto, stored)
	accessor.SetResourceVersion(rv)
	return data, err
}

// decode reads one stored value into a fresh object of the resource's type and sets its
// resourceVersion from the revision.
func (c storageCodec) decode(res *Resource, kv storage.KeyValue) (runtime.Object, error) {
	var out runtime.Object
	if sf := res.StorageForm; sf != nil {
		stored, err := c.decodeAs(kv, sf.GVK, sf.New())
		if err != nil {
			return nil, err
		}
		out = sf.FromStorage(stored)
	} else {
		var err error
		if out, err = c.decodeAs(kv, res.GVK(), res.New()); err != nil {
			return nil, err
		}
	}
	accessor, err := meta.Accessor(out)
	if err != nil {
		return nil, err
	}
	accessor.SetResourceVersion(formatRV(kv.ModRevision))
	out.GetObjectKind().SetGroupVersionKind(res.GVK())
	return out, nil
}

// decodeAs decodes a stored value of kind gvk into into: in place when it is in the
// envelope this codec writes (UnmarshalProtobuf), through the serializer otherwise.
func (c storageCodec) decodeAs(kv storage.KeyValue, gvk schema.GroupVersionKind, into runtime.Object) (runtime.Object, error) {
	done, err := UnmarshalProtobuf(kv.Value, gvk, into)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	if done {
		return into, nil
	}
	out, _, err := c.proto.Decode(kv.Value, nil, into)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return out, nil
}
