package cni

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/berth/berth/internal/netns"
)

const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// Host is the node's network namespace as the agent sees it: the agent's own (NetNS
// empty) or a named one that containerd and every pod run in (e2e nodes).
type Host struct {
	NetNS string // e.g. /run/netns/<name>; empty: the agent's namespace
	// StateDir keeps the marker that says the agent turned forwarding on.
	StateDir string
}

// forwardMarker exists while forwarding is on because a berth agent turned it on; it
// survives agent restarts so that whichever agent stops cleanly restores the old value.
func (h Host) forwardMarker() string { return filepath.Join(h.StateDir, "ip_forward.enabled-by-berth") }

// EnableForwarding turns IPv4 forwarding on (pods on the bridge reach beyond the node
// only with it). It returns whether this call changed it.
func (h Host) EnableForwarding() (bool, error) {
	var changed bool
	err := h.Do(func() error {
		raw, err := os.ReadFile(ipForwardPath)
		if err != nil {
			return err
		}
		if strings.TrimSpace(string(raw)) == "1" {
			return nil
		}
		if err := os.MkdirAll(h.StateDir, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(h.forwardMarker(), []byte("0\n"), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(ipForwardPath, []byte("1"), 0o644); err != nil {
			return err
		}
		changed = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("cni: enable ip_forward: %w", err)
	}
	return changed, nil
}

// RestoreForwarding turns forwarding off again if a berth agent turned it on; otherwise
// it leaves it alone. It reports whether it changed anything.
func (h Host) RestoreForwarding() (bool, error) {
	if _, err := os.Stat(h.forwardMarker()); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	err := h.Do(func() error { return os.WriteFile(ipForwardPath, []byte("0"), 0o644) })
	if err != nil {
		return false, fmt.Errorf("cni: restore ip_forward: %w", err)
	}
	return true, os.Remove(h.forwardMarker())
}

// RemoveBridge deletes the pods' bridge (after the last pod's sandbox is gone); a missing
// bridge is fine.
func (h Host) RemoveBridge(name string) error {
	if name == "" {
		name = DefaultBridge
	}
	args := []string{"link", "delete", name, "type", "bridge"}
	if h.NetNS != "" {
		args = append([]string{"-n", filepath.Base(h.NetNS)}, args...)
	}
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "Cannot find device") {
		return fmt.Errorf("cni: ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Do runs fn on an OS thread inside the node's network namespace (directly when NetNS is
// empty). The thread is never unlocked, so the runtime discards it afterwards and no
// other goroutine ever runs in that namespace.
func (h Host) Do(fn func() error) error { return netns.Do(h.NetNS, fn) }
