package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
)

// Defaults of a berth node's pod network.
const (
	DefaultNetwork  = "berth"
	DefaultBridge   = "cni0"
	ConflistName    = "10-berth.conflist"
	conflistVersion = "1.0.0"
)

// Network describes the node's pod network.
type Network struct {
	Name    string // CNI network name (default "berth")
	Bridge  string // Linux bridge the pods attach to (default "cni0")
	PodCIDR string // the node's spec.podCIDR
	// ConfDir is where containerd reads the conflist; IPAMDir is host-local's state
	// (leases survive agent restarts there).
	ConfDir, IPAMDir string
	// MTU of the bridge and veths (0: the plugin's default).
	MTU int
}

func (n Network) withDefaults() Network {
	if n.Name == "" {
		n.Name = DefaultNetwork
	}
	if n.Bridge == "" {
		n.Bridge = DefaultBridge
	}
	return n
}

// Conflist renders the CNI configuration list: bridge (pod gateway on the bridge,
// hairpin so a pod reaches itself through a service) with host-local IPAM over the pod
// CIDR, then portmap for hostPorts. The bridge plugin does not masquerade: its rule
// would hide pods from pods on other nodes; package podnet masquerades only traffic
// that leaves the cluster network.
func (n Network) Conflist() ([]byte, error) {
	n = n.withDefaults()
	prefix, err := netip.ParsePrefix(n.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("cni: pod CIDR %q: %w", n.PodCIDR, err)
	}
	if n.IPAMDir == "" {
		return nil, fmt.Errorf("cni: no IPAM dir")
	}
	defaultRoute := "0.0.0.0/0"
	if prefix.Addr().Is6() {
		defaultRoute = "::/0"
	}
	bridge := map[string]any{
		"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": prefix.Masked().String()}}},
			"routes":  []map[string]string{{"dst": defaultRoute}},
			"dataDir": n.IPAMDir,
		},
	}
	if n.MTU > 0 {
		bridge["mtu"] = n.MTU
	}
	conf := map[string]any{
		"cniVersion": conflistVersion,
		"name":       n.Name,
		"plugins": []any{
			bridge,
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// WriteResult says what Write did.
type WriteResult struct {
	Path    string
	Changed bool // false: the file already had this content
}

// Write puts the conflist into ConfDir atomically (containerd watches the directory and
// must never read half a file), leaving an identical file untouched.
func (n Network) Write() (WriteResult, error) {
	raw, err := n.Conflist()
	if err != nil {
		return WriteResult{}, err
	}
	if n.ConfDir == "" {
		return WriteResult{}, fmt.Errorf("cni: no conf dir")
	}
	path := filepath.Join(n.ConfDir, ConflistName)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, raw) {
		return WriteResult{Path: path}, nil
	}
	for _, dir := range []string{n.ConfDir, n.IPAMDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return WriteResult{}, fmt.Errorf("cni: %w", err)
		}
	}
	tmp, err := os.CreateTemp(n.ConfDir, ".conflist-*")
	if err != nil {
		return WriteResult{}, fmt.Errorf("cni: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return WriteResult{}, fmt.Errorf("cni: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return WriteResult{}, fmt.Errorf("cni: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return WriteResult{}, fmt.Errorf("cni: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return WriteResult{}, fmt.Errorf("cni: %w", err)
	}
	return WriteResult{Path: path, Changed: true}, nil
}
