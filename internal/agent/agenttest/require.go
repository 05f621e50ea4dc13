package agenttest

import (
	"os"
	"os/exec"

	"github.com/berth/berth/internal/agent/containerd"
)

// Missing lists what a node needs and this machine lacks: containerd, ctr, runc, the
// CNI plugins, busybox-static (test images) and ip. Empty means a node can run here (as
// root).
func Missing() []string {
	var missing []string
	for _, bin := range []string{containerd.DefaultContainerd, containerd.DefaultCtr, containerd.DefaultRunc,
		"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/portmap", "/usr/lib/cni/loopback", "/bin/busybox"} {
		if _, err := os.Stat(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip")
	}
	return missing
}

// InstallHint says which packages provide what Missing reports.
const InstallHint = "install the packages in hack/lib.sh (containerd runc containernetworking-plugins busybox-static iproute2 nftables)"
