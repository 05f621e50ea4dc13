package framework

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	// libcni caches results under /var/lib/cni/results as <network>-<container>-<ifname>.
	if matches, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", n.Name+"-*")); len(matches) > 0 {
		for _, m := range matches {
			_ = os.Remove(m)
		}
	}
	if err := os.RemoveAll(n.DataDir); err != nil {
		t.Errorf("cleanup: remove %s: %v", n.DataDir, err)
	}
	if now := readIPForward(t); now != hostForward {
		t.Errorf("cleanup: host ip_forward changed from %s to %s; restoring", hostForward, now)
		_ = os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(hostForward), 0o644)
	}
}

func (n *Node) removeSandboxes(ctx context.Context, t testing.TB) {
	sandboxes, err := n.CRI.ListPodSandbox(ctx, nil)
	if err != nil {
		t.Logf("cleanup: list sandboxes: %v", err)
		return
	}
	for _, sb := range sandboxes {
		if err := n.CRI.StopPodSandbox(ctx, sb.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if err := n.CRI.RemovePodSandbox(ctx, sb.Id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

func readIPForward(t testing.TB) string {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		t.Fatalf("read ip_forward: %v", err)
	}
	return strings.TrimSpace(string(raw))
}

func killPIDFile(t testing.TB, pidFile string) {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
		killAndWait(t, []int{pid})
	}
}

// killLeftovers kills every process whose command line names dataDir (containerd, its
// shims: they get -address <dataDir>/...) or that lives in a cgroup under cgroupParent.
func killLeftovers(t testing.TB, dataDir, cgroupParent string) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cgroups, _ := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if strings.Contains(string(cmdline), dataDir) || strings.Contains(string(cgroups), ":"+cgroupParent+"/") {
			pids = append(pids, pid)
		}
	}
	if len(pids) > 0 {
		t.Logf("cleanup: killing leftover processes %v", pids)
		killAndWait(t, pids)
	}
}

func killAndWait(t testing.TB, pids []int) {
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue // already gone
		}
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			n, err := unix.Poll(fds, int(max(time.Until(deadline), 0)/time.Millisecond))
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if n == 0 {
				t.Errorf("cleanup: process %d survived SIGKILL", pid)
			}
			break
		}
		unix.Close(pidfd)
		// Our own (released) children must be reaped.
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t testing.TB, dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer f.Close()
	var mounts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mounts = append(mounts, mp)
		}
	}
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
	for _, mp := range mounts {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			t.Errorf("cleanup: unmount %s: %v", mp, err)
		}
	}
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for space and so on).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeCgroups removes parent and everything below it in every cgroup hierarchy.
func removeCgroups(t testing.TB, parent string) {
	hierarchies, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return
	}
	for _, h := range hierarchies {
		root := filepath.Join("/sys/fs/cgroup", h.Name(), parent)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cleanup: remove cgroup %s: %v", dirs[i], err)
			}
		}
	}
}
