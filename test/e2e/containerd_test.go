package e2e

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/images"
	"github.com/berth/berth/internal/images/testimages"
	"github.com/berth/berth/test/e2e/framework"
)

func TestContainerdStartsAndAnswersCRI(t *testing.T) {
	n := framework.StartNode(t, framework.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	framework.Figure(t, "containerd_start_to_ready_ms", n.Started.Ready.Milliseconds())
	framework.Figure(t, "pause_import_ms", n.Started.ImportTime.Milliseconds())

	v, err := n.CRI.Version(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v.RuntimeName != "containerd" || !strings.HasPrefix(v.RuntimeVersion, "1.6") || v.RuntimeApiVersion != "v1" {
		t.Errorf("Version = %s %s (CRI %s), want containerd 1.6 over CRI v1", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)
	}
	status, err := n.CRI.Status(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, cond := range status.GetStatus().GetConditions() {
		if !cond.Status {
			t.Errorf("runtime condition %s false: %s %s", cond.Type, cond.Reason, cond.Message)
		}
	}
	pause, err := n.CRI.ImageStatus(ctx, n.Containerd.SandboxImage())
	if err != nil || pause == nil {
		t.Fatalf("pause image %s not present: %v", n.Containerd.SandboxImage(), err)
	}
	if len(n.Started.Imported) != 1 || n.Started.Imported[0] != n.Containerd.SandboxImage() {
		t.Errorf("imported at start = %v, want only the pause image", n.Started.Imported)
	}
}

func TestContainerdRestartsAfterCrash(t *testing.T) {
	n := framework.StartNode(t, framework.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	oldPID := n.Containerd.PID()
	killed := time.Now()
	if err := n.Containerd.Kill(); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 30*time.Second, "containerd restarted", func() (bool, error) {
		return n.Containerd.Restarts() == 1 && n.Containerd.PID() != 0, nil
	})
	if _, err := n.CRI.Version(ctx); err != nil {
		t.Fatalf("CRI after restart: %v", err)
	}
	framework.Figure(t, "containerd_crash_to_ready_ms", time.Since(killed).Milliseconds())
	if n.Containerd.PID() == oldPID {
		t.Errorf("pid unchanged after restart")
	}
}

// An agent restart with LeaveRunning: the next agent adopts the running containerd instead
// of starting a second one, and imports nothing it already has.
func TestContainerdAdoptedByNextAgent(t *testing.T) {
	n := framework.StartNode(t, framework.NodeOptions{LeaveRunning: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pid := n.Containerd.PID()
	if err := n.Containerd.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.CRI.Version(ctx); err != nil {
		t.Fatalf("containerd not left running: %v", err)
	}
	next, err := containerd.New(containerd.Options{DataDir: n.DataDir, NetNS: n.NetNS})
	if err != nil {
		t.Fatal(err)
	}
	res, err := next.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = next.Stop(context.Background()) })
	if !res.Adopted || res.PID != pid {
		t.Errorf("Start = %+v, want adoption of pid %d", res, pid)
	}
	if len(res.Imported) != 0 {
		t.Errorf("re-imported %v", res.Imported)
	}
	framework.Figure(t, "containerd_adopt_ms", res.Ready.Milliseconds())
}

func TestImportThenListImages(t *testing.T) {
	n := framework.StartNode(t, framework.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	app := framework.Image(t, "app:0.3.2")
	busybox := framework.Image(t, "busybox:1.35")
	cases := []struct {
		format string
		built  testimages.Built
		write  func(io.Writer) error
		want   string
	}{
		{"oci", app, func(w io.Writer) error { return images.WriteOCIArchive(w, app.Image, app.Ref) }, "docker.io/library/app:0.3.2"},
		{"docker", busybox, func(w io.Writer) error {
			ref, err := name.ParseReference(busybox.Ref)
			if err != nil {
				return err
			}
			return tarball.Write(ref, busybox.Image, w)
		}, "docker.io/library/busybox:1.35"},
	}
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			start := time.Now()
			names := n.ImportArchive(t, tc.built, tc.write)
			framework.Figure(t, "import_"+tc.format+"_ms", time.Since(start).Milliseconds())
			if len(names) != 1 || names[0] != tc.want {
				t.Errorf("imported %v, want %s", names, tc.want)
			}
			list, err := n.CRI.ListImages(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantID, _ := images.ID(tc.built.Image)
			found := false
			for _, img := range list {
				if slices.Contains(img.RepoTags, tc.want) {
					found = true
					if img.Id != wantID || img.Size == 0 {
						t.Errorf("%s: id %s size %d, want id %s and a size", tc.want, img.Id, img.Size, wantID)
					}
					framework.Figure(t, "image_size_bytes_"+tc.built.Ref, img.Size)
				}
			}
			if !found {
				t.Errorf("ListImages has no %s: %v", tc.want, list)
			}
		})
	}
}
