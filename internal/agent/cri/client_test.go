package cri

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime answers just enough of the CRI to test the client's plumbing.
type fakeRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer
	mu          sync.Mutex
	stopTimeout int64
	execTimeout int64
}

func (f *fakeRuntime) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "fake", RuntimeVersion: "1.0", RuntimeApiVersion: "v1"}, nil
}

func (f *fakeRuntime) RemovePodSandbox(_ context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return nil, status.Errorf(codes.NotFound, "sandbox %s not found", req.PodSandboxId)
}

func (f *fakeRuntime) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopTimeout = req.Timeout
	return &runtimeapi.StopContainerResponse{}, nil
}

func (f *fakeRuntime) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	f.mu.Lock()
	f.execTimeout = req.Timeout
	f.mu.Unlock()
	if req.Cmd[0] == "hang" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return &runtimeapi.ExecSyncResponse{Stdout: []byte("out"), ExitCode: 3}, nil
}

func (f *fakeRuntime) ImageStatus(_ context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	if req.Image.Image == "present" {
		return &runtimeapi.ImageStatusResponse{Image: &runtimeapi.Image{Id: "sha256:1"}}, nil
	}
	return &runtimeapi.ImageStatusResponse{}, nil
}

func startFake(t *testing.T) (*fakeRuntime, string) {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "cri.sock")
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeRuntime{}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, fake)
	runtimeapi.RegisterImageServiceServer(srv, fake)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return fake, socket
}

func newClient(t *testing.T, socket string, opts Options) *Client {
	t.Helper()
	c, err := New(socket, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestClientCallsAndErrors(t *testing.T) {
	fake, socket := startFake(t)
	c := newClient(t, socket, Options{})
	ctx := context.Background()

	v, err := c.Version(ctx)
	if err != nil || v.RuntimeName != "fake" {
		t.Fatalf("Version = %v, %v", v, err)
	}

	err = c.RemovePodSandbox(ctx, "sb1")
	if !IsNotFound(err) {
		t.Errorf("IsNotFound(%v) = false", err)
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("status.Code(%v) = %v: the wrapping must keep the gRPC status", err, status.Code(err))
	}
	if want := "cri RemovePodSandbox sb1: NotFound: sandbox sb1 not found"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}

	if err := c.StopContainer(ctx, "c1", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	stopTimeout := fake.stopTimeout
	fake.mu.Unlock()
	if stopTimeout != 30 {
		t.Errorf("StopContainer sent timeout %d, want 30", stopTimeout)
	}

	res, err := c.ExecSync(ctx, "c1", []string{"true"}, 1500*time.Millisecond)
	if err != nil || string(res.Stdout) != "out" || res.ExitCode != 3 {
		t.Errorf("ExecSync = %+v, %v; a non-zero exit is a result, not an error", res, err)
	}
	fake.mu.Lock()
	execTimeout := fake.execTimeout
	fake.mu.Unlock()
	if execTimeout != 2 {
		t.Errorf("ExecSync sent timeout %d s, want 2 (rounded up)", execTimeout)
	}

	if img, err := c.ImageStatus(ctx, "missing"); img != nil || err != nil {
		t.Errorf("ImageStatus(missing) = %v, %v; want nil, nil", img, err)
	}
	if img, err := c.ImageStatus(ctx, "present"); img == nil || err != nil {
		t.Errorf("ImageStatus(present) = %v, %v", img, err)
	}

	if _, err := c.ListContainers(ctx, nil); Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "ListContainers") {
		t.Errorf("unimplemented call error %v", err)
	}
}

func TestClientTimeouts(t *testing.T) {
	_, socket := startFake(t)
	c := newClient(t, socket, Options{Timeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := c.ExecSync(context.Background(), "c1", []string{"hang"}, 0)
	if Code(err) != codes.DeadlineExceeded {
		t.Errorf("hanging exec: %v, want DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("timeout took %v", took)
	}
	// The caller's tighter deadline wins.
	c = newClient(t, socket, Options{Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.ExecSync(ctx, "c1", []string{"hang"}, 0); Code(err) != codes.DeadlineExceeded {
		t.Errorf("hanging exec with ctx deadline: %v", err)
	}
}

func TestClientUnavailable(t *testing.T) {
	c := newClient(t, filepath.Join(t.TempDir(), "nothing.sock"), Options{Timeout: time.Second})
	_, err := c.Version(context.Background())
	if !IsUnavailable(err) {
		t.Errorf("Version on a missing socket: %v, want Unavailable", err)
	}
	if IsNotFound(nil) || Code(nil) != codes.OK {
		t.Error("nil error has a code")
	}
}
