package agenttest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth/berth/internal/agent/containerd"
	"github.com/berth/berth/internal/agent/cri"
)

// RemoveSandboxes stops and removes every sandbox the runtime has.
func RemoveSandboxes(ctx context.Context, runtime *cri.Client) error {
	sandboxes, err := runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	var errs []error
	for _, sb := range sandboxes {
		if err := runtime.StopPodSandbox(ctx, sb.Id); err != nil {
			errs = append(errs, err)
		}
		if err := runtime.RemovePodSandbox(ctx, sb.Id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// RemoveAgentSandboxes starts (or adopts) the containerd of the node agent whose data dir
// is dataDir, with the agent's CNI config (so CNI DEL frees the IPs and libcni's cache
// entries on the host), removes every sandbox and stops it again.
func RemoveAgentSandboxes(ctx context.Context, dataDir, netns string) (err error) {
	cd, err := containerd.New(containerd.Options{
		DataDir: dataDir, NetNS: netns, CNIConfDir: filepath.Join(dataDir, "agent", "cni", "net.d"),
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		return err
	}
	if _, err := cd.Start(ctx); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	defer func() {
		if serr := cd.Stop(ctx); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop containerd: %w", serr))
		}
	}()
	runtime, err := cri.New(cd.Paths().Socket, cri.Options{})
	if err != nil {
		return err
	}
	defer runtime.Close()
	return RemoveSandboxes(ctx, runtime)
}

// KillPIDFile kills the process whose PID the file holds, if the file exists.
func KillPIDFile(pidFile string) error {
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		return nil
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
		return KillAndWait([]int{pid})
	}
	return nil
}

// KillLeftovers kills every process (but this one) whose command line names dataDir
// (containerd and its shims get -address <dataDir>/...) or that lives in a cgroup under
// cgroupParent, and returns their PIDs.
func KillLeftovers(dataDir, cgroupParent string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
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
	if len(pids) == 0 {
		return nil, nil
	}
	return pids, KillAndWait(pids)
}

// KillAndWait sends SIGKILL to each process (through a pidfd, so a reused PID is never
// hit) and waits up to 10 s in all for them to die; children of this process are reaped.
func KillAndWait(pids []int) error {
	deadline := time.Now().Add(10 * time.Second)
	var errs []error
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
				errs = append(errs, fmt.Errorf("process %d survived SIGKILL", pid))
			}
			break
		}
		unix.Close(pidfd)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
	return errors.Join(errs...)
}

// UnmountUnder detaches every mount at or below dir, deepest first.
func UnmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
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
	var errs []error
	for _, mp := range mounts {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
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

// RemoveCgroups removes parent and everything below it in every cgroup hierarchy.
func RemoveCgroups(parent string) error {
	hierarchies, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return nil
	}
	var errs []error
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
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// RemoveCNIResults removes libcni's cached results of the CNI network named network
// (/var/lib/cni/results/<network>-<container>-<ifname>).
func RemoveCNIResults(network string) {
	matches, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", network+"-*"))
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

// IPForward reads the host's net.ipv4.ip_forward ("0" or "1").
func IPForward() (string, error) {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

// SetIPForward writes the host's net.ipv4.ip_forward.
func SetIPForward(v string) error {
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte(v), 0o644)
}
