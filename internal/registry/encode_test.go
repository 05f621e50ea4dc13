package registry

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

func encodeTestPod(name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "app:0.3.2",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
		}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.42.0.7"},
	}
}

// Encode gives what runtime.Encode gives, for an encoder that takes an allocator and for
// one that does not; a result is never changed by later encodes (the JSON serializer
// writes from a pooled buffer).
func TestEncodeMatchesRuntimeEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  runtime.Encoder
	}{
		{"protobuf", protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)},
		{"json", json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{})},
	} {
		want, err := runtime.Encode(tc.enc, encodeTestPod("p"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Encode(tc.enc, encodeTestPod("p"))
		if err != nil {
			t.Fatal(err)
		}
		kept := bytes.Clone(got)
		for i := range 3 {
			if _, err := Encode(tc.enc, encodeTestPod("another-pod-with-a-longer-name-"+string(rune('a'+i)))); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(got, want) || !bytes.Equal(got, kept) {
			t.Errorf("%s: Encode = %q (after more encodes %q), runtime.Encode = %q", tc.name, kept, got, want)
		}
	}
}

func TestKeepBufferCopiesWhatItDidNotAllocate(t *testing.T) {
	var k keepBuffer
	buf := k.Allocate(8)
	copy(buf, "abcdefgh")
	k.Write(buf[:4])
	if &k.out[0] != &buf[0] {
		t.Fatal("a write of the allocated buffer was copied")
	}
	k.Write([]byte("XY")) // must not land in buf[4:]
	if string(buf) != "abcdefgh" || string(k.out) != "abcdXY" {
		t.Errorf("buffer %q, out %q", buf, k.out)
	}
	var other keepBuffer
	p := []byte("pooled")
	other.Write(p)
	p[0] = 'X'
	if string(other.out) != "pooled" {
		t.Errorf("a foreign write was kept, not copied: %q", other.out)
	}
}

func TestUnmarshalProtobuf(t *testing.T) {
	proto := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	podGVK := corev1.SchemeGroupVersion.WithKind("Pod")
	data, err := Encode(proto, encodeTestPod("p"))
	if err != nil {
		t.Fatal(err)
	}
	// What the object held before is dropped, not merged into.
	got := corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "old"}}}}
	if ok, err := UnmarshalProtobuf(data, podGVK, &got); !ok || err != nil {
		t.Fatalf("UnmarshalProtobuf = %v, %v", ok, err)
	}
	want := encodeTestPod("p")
	want.TypeMeta = metav1.TypeMeta{}
	if !apiequality.Semantic.DeepEqual(&got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	// Nothing of the decoded pod lives in data.
	clear(data)
	if got.Name != "p" || got.Spec.Containers[0].Image != "app:0.3.2" {
		t.Errorf("the decoded pod changed with the bytes it came from: %+v", got)
	}

	data, _ = Encode(proto, encodeTestPod("p"))
	jsonData, _ := runtime.Encode(json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{}), encodeTestPod("p"))
	withType := func(contentType string) []byte {
		unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: "v1", Kind: "Pod"}, Raw: []byte{}, ContentType: contentType}
		raw, _ := unk.Marshal()
		return append(append([]byte(nil), protobufMagic...), raw...)
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		gvk     schema.GroupVersionKind
		into    runtime.Object
		wantOK  bool
		wantErr bool
	}{
		{"another kind than the resource's", data, corev1.SchemeGroupVersion.WithKind("Node"), &corev1.Node{}, false, false},
		{"another version", data, schema.GroupVersionKind{Version: "v2", Kind: "Pod"}, &corev1.Pod{}, false, false},
		{"JSON", jsonData, podGVK, &corev1.Pod{}, false, false},
		{"a content type inside", withType("application/json"), podGVK, &corev1.Pod{}, false, false},
		{"truncated envelope", data[:len(data)-3], podGVK, &corev1.Pod{}, false, false},
		{"object cut short", truncateRaw(t, data), podGVK, &corev1.Pod{}, true, true},
		{"not a protobuf type", data, podGVK, &unstructured.Unstructured{}, false, false},
	} {
		ok, err := UnmarshalProtobuf(tc.data, tc.gvk, tc.into)
		if ok != tc.wantOK || (err != nil) != tc.wantErr {
			t.Errorf("%s: UnmarshalProtobuf = %v, %v; want %v, error %v", tc.name, ok, err, tc.wantOK, tc.wantErr)
		}
	}
}

// truncateRaw re-wraps the object of a stored value with its last bytes cut off.
func truncateRaw(t *testing.T, data []byte) []byte {
	t.Helper()
	var unk runtime.Unknown
	if err := unk.Unmarshal(data[len(protobufMagic):]); err != nil {
		t.Fatal(err)
	}
	unk.Raw = unk.Raw[:len(unk.Raw)-3]
	raw, err := unk.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte(nil), protobufMagic...), raw...)
}
