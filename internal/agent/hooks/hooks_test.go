package hooks

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/probes"
)

type fakeExec struct{ exit int32 }

func (f fakeExec) ExecSync(_ context.Context, _ string, cmd []string, _ time.Duration) (cri.ExecResult, error) {
	return cri.ExecResult{Stderr: []byte(strings.Join(cmd, " ") + ": boom"), ExitCode: f.exit}, nil
}

type fakeSandboxes struct{ ip string }

func (f fakeSandboxes) ListPodSandbox(context.Context, *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	return []*runtimeapi.PodSandbox{{Id: "sb"}}, nil
}

func (f fakeSandboxes) PodSandboxStatus(context.Context, string, bool) (*runtimeapi.PodSandboxStatusResponse, error) {
	return &runtimeapi.PodSandboxStatusResponse{Status: &runtimeapi.PodSandboxStatus{Network: &runtimeapi.PodSandboxNetworkStatus{Ip: f.ip}}}, nil
}

func TestHooks(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/start" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	pod := &corev1.Pod{} // no IP in the status yet: the sandbox's is used
	cases := []struct {
		name     string
		handler  corev1.LifecycleHandler
		exit     int32
		preStop  bool
		grace    time.Duration
		wantErr  string
		wantHits int32
	}{
		{name: "exec ok", handler: corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
		{name: "exec fails", handler: corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}, exit: 1, wantErr: "false: boom"},
		{name: "http to the sandbox IP", handler: corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/start", Port: intstr.FromInt32(int32(port))}}, wantHits: 1},
		{name: "http 503", handler: corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt32(int32(port))}}, wantErr: "statuscode: 503", wantHits: 1},
		{name: "preStop sleep cut by grace", handler: corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}}, preStop: true, grace: 50 * time.Millisecond},
		{name: "tcpSocket refused", handler: corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}, wantErr: "not supported"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hits.Store(0)
			h := Hooks{Actions: probes.Actions{Exec: fakeExec{tc.exit}}, Sandboxes: fakeSandboxes{"127.0.0.1"}}
			c := &corev1.Container{Name: "app", Lifecycle: &corev1.Lifecycle{}}
			var err error
			start := time.Now()
			if tc.preStop {
				c.Lifecycle.PreStop = &tc.handler
				err = h.PreStop(context.Background(), pod, c, "id", tc.grace)
				if time.Since(start) > 5*time.Second {
					t.Fatalf("preStop outlived its grace period")
				}
			} else {
				c.Lifecycle.PostStart = &tc.handler
				err = h.PostStart(context.Background(), pod, c, "id")
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("hook = %v, want %q", err, tc.wantErr)
			}
			if hits.Load() != tc.wantHits {
				t.Fatalf("%d HTTP requests, want %d", hits.Load(), tc.wantHits)
			}
		})
	}
}
