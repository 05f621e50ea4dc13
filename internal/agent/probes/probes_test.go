package probes

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/berth/berth/internal/agent/cri"
	"github.com/berth/berth/internal/agent/pods"
)

// fakeExec answers ExecSync with the exit code it holds.
type fakeExec struct {
	exit  atomic.Int32
	calls atomic.Int32
	// failures counts the calls that answered a non-zero exit.
	failures atomic.Int32
}

func (f *fakeExec) ExecSync(_ context.Context, _ string, cmd []string, _ time.Duration) (cri.ExecResult, error) {
	f.calls.Add(1)
	code := f.exit.Load()
	if code != 0 {
		f.failures.Add(1)
		return cri.ExecResult{Stdout: []byte(strings.Join(cmd, " ") + " said no"), ExitCode: code}, nil
	}
	return cri.ExecResult{}, nil
}

func podAt(ip string, c corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u1"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
		Status:     corev1.PodStatus{PodIP: ip},
	}
}

func TestActions(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case r.URL.Path == "/ok" && r.Header.Get("X-Probe") == "yes" && r.Host == "example.test":
			w.WriteHeader(http.StatusOK)
		case r.URL.Path == "/ok":
			w.WriteHeader(http.StatusBadRequest)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	_, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	httpPort, _ := strconv.Atoi(portStr)

	grpcLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(gs, hs)
	go func() { _ = gs.Serve(grpcLn) }()
	t.Cleanup(gs.Stop)
	grpcPort := grpcLn.Addr().(*net.TCPAddr).Port

	closedLn, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closedLn.Addr().(*net.TCPAddr).Port
	closedLn.Close()

	exec := &fakeExec{}
	exec.exit.Store(3)
	headers := []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "example.test"}}
	container := corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(httpPort)}}}
	target := Target{Pod: podAt("127.0.0.1", container), Container: &container, ContainerID: "c1"}
	a := Actions{Exec: exec}
	cases := []struct {
		name    string
		handler corev1.ProbeHandler
		wantErr string
	}{
		{"http ok via named port and headers", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("web"), HTTPHeaders: headers}}, ""},
		{"http redirect followed", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/redirect", Port: intstr.FromInt32(int32(httpPort)), HTTPHeaders: headers}}, ""},
		{"http 500", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/bad", Port: intstr.FromInt32(int32(httpPort))}}, "HTTP probe failed with statuscode: 500"},
		{"http unknown port name", corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("nope")}}, `couldn't find port "nope"`},
		{"tcp ok", corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(httpPort))}}, ""},
		{"tcp refused", corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closedPort))}}, "connection refused"},
		{"grpc serving", corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(grpcPort)}}, ""},
		{"grpc not serving", corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: int32(grpcPort), Service: ptr.To("down")}}, "NOT_SERVING"},
		{"exec non-zero", corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}}, "check said no"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := a.RunProbe(context.Background(), target, tc.handler, 2*time.Second)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("RunProbe = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// resyncs counts Resync calls per pod.
type resyncs struct {
	mu sync.Mutex
	n  int
}

func (r *resyncs) resync(types.UID) { r.mu.Lock(); r.n++; r.mu.Unlock() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestProberStartupGatesReadinessAndLivenessFails(t *testing.T) {
	startupExec, livenessExec := &fakeExec{}, &fakeExec{}
	startupExec.exit.Store(1)
	ctx, cancel := context.WithCancel(context.Background())
	recorder := record.NewFakeRecorder(100)
	var rs resyncs
	execs := map[string]*fakeExec{"startup": startupExec, "live": livenessExec, "ready": {}}
	p := New(ctx, Config{Actions: Actions{Exec: execByCommand(execs)}, Recorder: recorder, Resync: rs.resync})
	t.Cleanup(func() { cancel(); p.Wait() })

	probe := func(cmd string, failures int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}},
			PeriodSeconds: 1, FailureThreshold: failures}
	}
	c := corev1.Container{Name: "app", StartupProbe: probe("startup", 100), ReadinessProbe: probe("ready", 1), LivenessProbe: probe("live", 2)}
	pod := podAt("127.0.0.1", c)
	rc := pods.RunningContainer{ID: "c1", Name: "app", StartedAt: time.Now()}
	p.Update(pod, map[string]pods.RunningContainer{"app": rc})

	if r := p.Result(pod.UID, "app", rc); r.Started || r.Ready || r.LivenessFailed {
		t.Fatalf("before any probe: %+v, want not started, not ready, alive", r)
	}
	waitFor(t, "a failed startup try", func() bool { return startupExec.calls.Load() >= 2 })
	if n := execs["ready"].calls.Load() + livenessExec.calls.Load(); n != 0 {
		t.Fatalf("readiness/liveness ran %d times before startup passed", n)
	}
	startupExec.exit.Store(0)
	waitFor(t, "started and ready", func() bool { r := p.Result(pod.UID, "app", rc); return r.Started && r.Ready })

	livenessExec.exit.Store(1)
	waitFor(t, "liveness failure", func() bool { return p.Result(pod.UID, "app", rc).LivenessFailed })
	if r := p.Result(pod.UID, "app", rc); !strings.Contains(r.Message, "failed liveness probe, will be restarted") {
		t.Errorf("message %q", r.Message)
	}
	sawUnhealthy := false
	for len(recorder.Events) > 0 {
		if e := <-recorder.Events; strings.Contains(e, "Unhealthy Liveness probe failed: live said no") {
			sawUnhealthy = true
		}
	}
	if !sawUnhealthy {
		t.Error("no Unhealthy event for the liveness failure")
	}

	// A new instance starts over; the old one's workers stop.
	rc2 := pods.RunningContainer{ID: "c2", Name: "app", StartedAt: time.Now(), Attempt: 1}
	p.Update(pod, map[string]pods.RunningContainer{"app": rc2})
	if r := p.Result(pod.UID, "app", rc2); r.Started || r.LivenessFailed {
		t.Fatalf("new instance: %+v", r)
	}
	p.Forget(pod.UID)
	p.mu.Lock()
	left := len(p.workers)
	p.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d workers left after Forget", left)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.n == 0 {
		t.Error("no Resync when results changed")
	}
}

// execByCommand routes ExecSync to a fake by the command's first word.
type execByCommand map[string]*fakeExec

func (e execByCommand) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (cri.ExecResult, error) {
	return e[cmd[0]].ExecSync(ctx, id, cmd, timeout)
}

func TestReadinessThresholds(t *testing.T) {
	exec := &fakeExec{}
	ctx, cancel := context.WithCancel(context.Background())
	p := New(ctx, Config{Actions: Actions{Exec: exec}})
	t.Cleanup(func() { cancel(); p.Wait() })
	c := corev1.Container{Name: "app", ReadinessProbe: &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"x"}}},
		PeriodSeconds: 1, SuccessThreshold: 2, FailureThreshold: 2}}
	pod := podAt("", c)
	rc := pods.RunningContainer{ID: "c1", Name: "app", StartedAt: time.Now()}
	p.Update(pod, map[string]pods.RunningContainer{"app": rc})
	waitFor(t, "ready", func() bool { return p.Result(pod.UID, "app", rc).Ready })
	if n := exec.calls.Load(); n < 2 {
		t.Fatalf("ready after %d tries, successThreshold is 2", n)
	}
	// A try counted in calls just before the Store may still read the new exit code:
	// count the failed tries themselves.
	exec.exit.Store(1)
	waitFor(t, "unready", func() bool { return !p.Result(pod.UID, "app", rc).Ready })
	if n := exec.failures.Load(); n < 2 {
		t.Fatalf("unready after %d failed tries, failureThreshold is 2", n)
	}
	if p.Result(pod.UID, "app", rc).LivenessFailed {
		t.Fatal("readiness failure asked for a restart")
	}
}
