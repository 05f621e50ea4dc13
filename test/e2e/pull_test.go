package e2e

import (
	"context"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth/berth/internal/images"
	"github.com/berth/berth/test/e2e/framework"
)

// Real pulls through the CRI from an in-process registry behind basic auth.
func TestPullImageWithAuthFromLocalRegistry(t *testing.T) {
	n := framework.StartNode(t, framework.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg := framework.StartRegistry(t, n, "berth", "s3cret")
	app := framework.Image(t, "app:0.3.3")
	ref := reg.Push(t, "team/app", "0.3.3", app.Image)

	if _, err := n.CRI.PullImage(ctx, ref, nil, nil); err == nil {
		t.Fatal("anonymous pull from a registry that needs auth succeeded")
	} else {
		t.Logf("anonymous pull: %v", err)
	}
	if _, err := n.CRI.PullImage(ctx, ref, &runtimeapi.AuthConfig{Username: "berth", Password: "wrong"}, nil); err == nil {
		t.Fatal("pull with a wrong password succeeded")
	}

	start := time.Now()
	imageRef, err := n.CRI.PullImage(ctx, ref, &runtimeapi.AuthConfig{Username: "berth", Password: "s3cret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	framework.Figure(t, "cri_pull_app_ms", time.Since(start).Milliseconds())
	wantID, _ := images.ID(app.Image)
	if imageRef != wantID {
		t.Errorf("PullImage returned %s, want the image ID %s", imageRef, wantID)
	}
	st, err := n.CRI.ImageStatus(ctx, ref)
	if err != nil || st == nil || st.Id != wantID {
		t.Fatalf("ImageStatus after pull = %v, %v", st, err)
	}

	// The pulled image runs.
	sandbox := n.SandboxConfig("pulled")
	id, err := n.CRI.RunPodSandbox(ctx, sandbox, "")
	if err != nil {
		t.Fatal(err)
	}
	cid, err := n.CRI.CreateContainer(ctx, id, framework.ContainerConfig(t, sandbox, "app", ref), sandbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.CRI.StartContainer(ctx, cid); err != nil {
		t.Fatal(err)
	}
	framework.Eventually(t, 20*time.Second, "pulled app answers", func() (bool, error) {
		res, err := n.CRI.ExecSync(ctx, cid, []string{"wget", "-qO-", "http://localhost:8080/version"}, 5*time.Second)
		return err == nil && string(res.Stdout) == "0.3.3\n", err
	})
	if err := n.CRI.StopPodSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := n.CRI.RemovePodSandbox(ctx, id); err != nil {
		t.Fatal(err)
	}

	if err := n.CRI.RemoveImage(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if st, err := n.CRI.ImageStatus(ctx, ref); err != nil || st != nil {
		t.Errorf("ImageStatus after RemoveImage = %v, %v; want gone", st, err)
	}
	if err := n.CRI.RemoveImage(ctx, ref); err != nil {
		t.Errorf("removing a missing image: %v, want success", err)
	}
	fs, err := n.CRI.ImageFsInfo(ctx)
	if err != nil || len(fs.GetImageFilesystems()) == 0 {
		t.Errorf("ImageFsInfo = %v, %v", fs, err)
	}
}
