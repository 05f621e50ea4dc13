package cri

import (
	"context"
	"net"
	"path/filepath"
	"reflect"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// listRuntime answers the two list calls with full messages.
type listRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
}

func (l *listRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: l.sandboxes}, nil
}

func (l *listRuntime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	return &runtimeapi.ListContainersResponse{Containers: l.containers}, nil
}

func richLabels(uid string) map[string]string {
	m := map[string]string{"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "default", "other": "x"}
	if uid != "" {
		m["io.kubernetes.pod.uid"] = uid
	}
	return m
}

func TestListSummariesMatchFullLists(t *testing.T) {
	fake := &listRuntime{
		sandboxes: []*runtimeapi.PodSandbox{
			{Id: "s1", State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: 7, Labels: richLabels("u1"),
				Annotations: map[string]string{"a": "b"}, Metadata: &runtimeapi.PodSandboxMetadata{Name: "web-0", Uid: "u1", Attempt: 2}, RuntimeHandler: "runc"},
			{Id: "s2", State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY, Labels: richLabels("")},
			{Id: "s3"}, // state 0 (READY) is not on the wire at all
		},
		containers: []*runtimeapi.Container{
			{Id: "c1", PodSandboxId: "s1", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: richLabels("u1"),
				Annotations: map[string]string{"io.kubernetes.container.hash": "abc"}, Image: &runtimeapi.ImageSpec{Image: "app"}, ImageRef: "sha256:1", CreatedAt: 9},
			{Id: "c2", State: runtimeapi.ContainerState_CONTAINER_EXITED, Labels: richLabels("u2")},
			{Id: "c3", State: runtimeapi.ContainerState_CONTAINER_UNKNOWN},
		},
	}
	socket := filepath.Join(t.TempDir(), "cri.sock")
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, fake)
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	c, err := New(socket, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	const label = "io.kubernetes.pod.uid"

	var want []Summary
	sbs, err := c.ListPodSandbox(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sbs {
		want = append(want, Summary{ID: s.Id, State: int32(s.State), Label: s.Labels[label]})
	}
	got, err := c.ListPodSandboxSummaries(ctx, label)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sandbox summaries = %+v, want %+v", got, want)
	}

	want = nil
	cs, err := c.ListContainers(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range cs {
		want = append(want, Summary{ID: s.Id, State: int32(s.State), Label: s.Labels[label]})
	}
	got, err = c.ListContainerSummaries(ctx, label)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("container summaries = %+v, want %+v", got, want)
	}
}

// A damaged answer is an error, never a panic or a half list taken as whole.
func TestParseSummariesRejectsTruncatedMessages(t *testing.T) {
	msg, err := proto.Marshal(&runtimeapi.ListContainersResponse{Containers: []*runtimeapi.Container{
		{Id: "c1", State: runtimeapi.ContainerState_CONTAINER_RUNNING, Labels: richLabels("u1")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseSummaries(msg, 6, 8, "io.kubernetes.pod.uid"); err != nil {
		t.Fatalf("whole message: %v", err)
	}
	for cut := 1; cut < len(msg); cut++ {
		if _, err := parseSummaries(msg[:cut], 6, 8, "io.kubernetes.pod.uid"); err == nil {
			t.Errorf("message cut at %d of %d bytes parsed without error", cut, len(msg))
		}
	}
}

func FuzzParseSummaries(f *testing.F) {
	msg, _ := proto.Marshal(&runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{{Id: "s", Labels: richLabels("u")}}})
	f.Add(msg)
	f.Add(protowire.AppendTag(nil, 1, protowire.BytesType))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseSummaries(b, 3, 5, "io.kubernetes.pod.uid")
	})
}
