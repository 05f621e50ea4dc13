package apiserver_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berth/berth/internal/apiserver"
)

// TestInProcessTransport: a client-go client whose transport is the server's own handler
// gets answers, streams watches (in JSON and protobuf) and errors like a remote one; its
// requests carry the transport's user past an authenticator that admits nobody else,
// and closing a watch ends the handler.
func TestInProcessTransport(t *testing.T) {
	api, err := newTestAPI(func(*http.Request) (apiserver.User, bool) { return apiserver.User{}, false })
	if err != nil {
		t.Fatal(err)
	}
	h := api.Handler()

	// Not in process: the authenticator refuses.
	req, _ := http.NewRequest(http.MethodGet, "https://berth/api/v1/namespaces", nil)
	rec := serve(t, h, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("request from outside: %d, want 401", rec.Code)
	}

	for _, contentType := range []string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf} {
		t.Run(contentType, func(t *testing.T) {
			client, err := kubernetes.NewForConfig(&rest.Config{
				Host:          "https://berth.invalid",
				Transport:     apiserver.InProcessTransport(h, apiserver.User{Name: "test", Groups: []string{"system:masters"}}),
				ContentConfig: rest.ContentConfig{ContentType: contentType},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cms := client.CoreV1().ConfigMaps("default")
			name := "cm-" + strings.ReplaceAll(contentType, "/", "-")
			created, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"a": "1"}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if _, err := cms.Create(ctx, created, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
				t.Fatalf("second create: %v, want AlreadyExists", err)
			}
			w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: created.ResourceVersion})
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			defer w.Stop()
			created.Data["a"] = "2"
			if _, err := cms.Update(ctx, created, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("update: %v", err)
			}
			select {
			case ev := <-w.ResultChan():
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if ev.Type != watch.Modified || !ok || cm.Data["a"] != "2" {
					t.Fatalf("watch event %s %#v, want MODIFIED with a=2", ev.Type, ev.Object)
				}
			case <-ctx.Done():
				t.Fatal("no watch event")
			}
		})
	}
}

// TestInProcessStreaming: the body streams as the handler writes and flushes, the header
// is committed before the body ends, and closing the body cancels the handler's context
// and fails its writes.
func TestInProcessStreaming(t *testing.T) {
	handlerDone := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "yes")
		w.WriteHeader(http.StatusAccepted)
		w.(http.Flusher).Flush()
		body, _ := io.ReadAll(r.Body)
		if _, err := io.WriteString(w, "echo "+string(body)+"\n"); err != nil {
			handlerDone <- err
			return
		}
		<-r.Context().Done()
		// Enough to fill the buffer: writes must fail rather than block forever.
		chunk := make([]byte, 64<<10)
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				handlerDone <- nil
				return
			}
		}
		handlerDone <- io.ErrShortWrite
	})
	rt := apiserver.InProcessTransport(h, apiserver.User{Name: "test"})
	req, _ := http.NewRequest(http.MethodPost, "https://berth.invalid/stream", strings.NewReader("hello"))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Test") != "yes" {
		t.Fatalf("got %d %v, want 202 with X-Test", resp.StatusCode, resp.Header)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "echo hello\n" {
		t.Fatalf("first line %q (%v), want %q", line, err, "echo hello\n")
	}
	_ = resp.Body.Close()
	select {
	case err := <-handlerDone:
		if err != nil {
			t.Fatalf("handler after close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("handler still running after the client closed the body")
	}
}
