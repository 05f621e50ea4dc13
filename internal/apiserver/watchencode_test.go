package apiserver

import (
	"bytes"
	"io"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/client-go/kubernetes/scheme"
)

// countingEncoder writes the object's name and counts its calls.
type countingEncoder struct {
	id    runtime.Identifier
	calls int
}

func (e *countingEncoder) Encode(obj runtime.Object, w io.Writer) error {
	e.calls++
	_, err := io.WriteString(w, string(e.id)+":"+obj.(*corev1.Pod).Name)
	return err
}

func (e *countingEncoder) Identifier() runtime.Identifier { return e.id }

func TestEncodingCache(t *testing.T) {
	c := newEncodingCache(2)
	json, proto := &countingEncoder{id: "json"}, &countingEncoder{id: "proto"}
	a := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a"}}
	b := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b"}}
	same := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a"}} // equal to a, another object

	steps := []struct {
		enc       *countingEncoder
		obj       *corev1.Pod
		want      string
		wantCalls int
	}{
		{json, a, "json:a", 1},
		{json, a, "json:a", 1},    // cached
		{proto, a, "proto:a", 1},  // another format: its own entry
		{json, same, "json:a", 2}, // another object: encoded (and a's json entry leaves)
		{json, a, "json:a", 3},    // evicted: encoded again
		{proto, b, "proto:b", 2},
	}
	for i, s := range steps {
		data, err := c.encode(s.enc, s.obj)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != s.want || s.enc.calls != s.wantCalls {
			t.Errorf("step %d: %q after %d calls, want %q after %d", i, data, s.enc.calls, s.want, s.wantCalls)
		}
	}
	if len(c.entries) != 2 {
		t.Errorf("%d entries, want at most 2", len(c.entries))
	}
}

// The protobuf watch stream written by protobufEventWriter is byte for byte what
// Kubernetes' streaming encoder writes, and client-go's decoder reads it back.
func TestProtobufEventWriterMatchesStreamingEncoder(t *testing.T) {
	var info runtime.SerializerInfo
	for _, i := range serializer.NewCodecFactory(scheme.Scheme).SupportedMediaTypes() {
		if i.MediaType == mediaProtobuf {
			info = i
		}
	}
	if info.StreamSerializer == nil {
		t.Fatal("no protobuf stream serializer")
	}
	var want, got bytes.Buffer
	enc := streaming.NewEncoder(info.StreamSerializer.Framer.NewFrameWriter(&want), info.StreamSerializer.Serializer)
	pw := &protobufEventWriter{w: &got}
	vec := &buffersRecorder{}
	pwVec := &protobufEventWriter{w: vec}
	events := []struct {
		typ string
		obj []byte
	}{
		{"ADDED", []byte("small")},
		{"MODIFIED", bytes.Repeat([]byte{0x80}, 200)}, // lengths past one varint byte
		{"DELETED", bytes.Repeat([]byte{1}, 70_000)},  // and past two
		{"BOOKMARK", []byte{}},
		{"ERROR", []byte("k8s\x00status")},
	}
	for _, ev := range events {
		if err := enc.Encode(&metav1.WatchEvent{Type: ev.typ, Object: runtime.RawExtension{Raw: ev.obj}}); err != nil {
			t.Fatal(err)
		}
		if err := pw.write(ev.typ, ev.obj); err != nil {
			t.Fatal(err)
		}
		if err := pwVec.write(ev.typ, ev.obj); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("protobufEventWriter wrote %d bytes, the streaming encoder %d; they differ", got.Len(), want.Len())
	}
	if !bytes.Equal(vec.Bytes(), want.Bytes()) || vec.calls != len(events) {
		t.Fatalf("through writeBuffers: %d bytes in %d calls, want the same bytes in one call per event", vec.Len(), vec.calls)
	}
	dec := streaming.NewDecoder(info.StreamSerializer.Framer.NewFrameReader(io.NopCloser(&got)), info.StreamSerializer.Serializer)
	for _, ev := range events {
		var out metav1.WatchEvent
		if _, _, err := dec.Decode(nil, &out); err != nil {
			t.Fatal(err)
		}
		if out.Type != ev.typ || !bytes.Equal(out.Object.Raw, ev.obj) {
			t.Errorf("decoded %s with %d bytes, want %s with %d", out.Type, len(out.Object.Raw), ev.typ, len(ev.obj))
		}
	}
}

// buffersRecorder is a writer that takes several buffers at once, as the in-process
// transport's body does; Write is not used.
type buffersRecorder struct {
	bytes.Buffer
	calls int
}

func (b *buffersRecorder) writeBuffers(bufs ...[]byte) error {
	b.calls++
	for _, p := range bufs {
		b.Buffer.Write(p)
	}
	return nil
}

func (b *buffersRecorder) Write(p []byte) (int, error) {
	panic("Write called on a writer with writeBuffers")
}
