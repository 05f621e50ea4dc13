package framework

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/berth/berth/internal/agent/agenttest"
)

// cleanup undoes everything StartNode made, in dependency order, reporting (not stopping
// at) each failure.
func (n *Node) cleanup(t testing.TB, hostForward string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n.CRI != nil {
		n.removeSandboxes(ctx, t)
		n.CRI.Close()
	}
	if n.Containerd != nil {
		if err := n.Containerd.Stop(ctx); err != nil {
			t.Errorf("cleanup: stop containerd: %v", err)
		}
		// LeaveRunning nodes (and adopting tests) leave a containerd: stop it by its pid file.
		killPIDFile(t, n.Containerd.Paths().PIDFile)
	}
	// Shims and container processes outlive containerd; find them by our data dir and cgroups.
	killLeftovers(t, n.DataDir, n.CgroupParent)
	unmountUnder(t, n.DataDir)
	removeCgroups(t, n.CgroupParent)
	if n.NetNS != "" {
		if _, err := os.Stat(n.NetNS); err == nil {
			if out, err := exec.Command("ip", "netns", "delete", n.Name).CombinedOutput(); err != nil {
				t.Errorf("cleanup: ip netns delete %s: %v: %s", n.Name, err, out)
			}
		}
	}
	agenttest.RemoveCNIResults(n.Name)
	if err := os.RemoveAll(n.DataDir); err != nil {
		t.Errorf("cleanup: remove %s: %v", n.DataDir, err)
	}
	if now := readIPForward(t); now != hostForward {
		t.Errorf("cleanup: host ip_forward changed from %s to %s; restoring", hostForward, now)
		_ = agenttest.SetIPForward(hostForward)
	}
}

func (n *Node) removeSandboxes(ctx context.Context, t testing.TB) {
	// A containerd the test already stopped (adoption tests) has no sandboxes to list.
	if _, err := n.CRI.ListPodSandbox(ctx, nil); err != nil {
		t.Logf("cleanup: list sandboxes: %v", err)
		return
	}
	if err := agenttest.RemoveSandboxes(ctx, n.CRI); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

func readIPForward(t testing.TB) string {
	v, err := agenttest.IPForward()
	if err != nil {
		t.Fatalf("read ip_forward: %v", err)
	}
	return v
}

func killPIDFile(t testing.TB, pidFile string) {
	if err := agenttest.KillPIDFile(pidFile); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// killLeftovers kills every process whose command line names dataDir (containerd, its
// shims: they get -address <dataDir>/...) or that lives in a cgroup under cgroupParent.
func killLeftovers(t testing.TB, dataDir, cgroupParent string) {
	pids, err := agenttest.KillLeftovers(dataDir, cgroupParent)
	if len(pids) > 0 {
		t.Logf("cleanup: killed leftover processes %v", pids)
	}
	if err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	if err := agenttest.UnmountUnder(dir); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

// removeCgroups removes parent and everything below it in every cgroup hierarchy.
func removeCgroups(t testing.TB, parent string) {
	if err := agenttest.RemoveCgroups(parent); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}
