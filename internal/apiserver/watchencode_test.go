package apiserver

import (
	"io"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
